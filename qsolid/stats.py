"""Error bars for correlated Monte Carlo time series by reblocking.

Successive MCMC samples are correlated, so the naive standard error
sqrt(var/n) is too small. Reblocking (Flyvbjerg & Petersen, J. Chem. Phys. 91,
461 (1989)) averages neighbouring pairs repeatedly; the block variance grows
until blocks are longer than the correlation time and then plateaus. The
plateau is chosen automatically with Jonsson's test (Phys. Rev. E 98, 043304
(2018)): the first blocking level whose remaining lag-1 autocorrelations are
consistent with zero at 99% confidence.
"""

import dataclasses

import jax.numpy as jnp
import numpy as np
from scipy import stats as scipy_stats


@dataclasses.dataclass(frozen=True)
class Estimate:
    mean: float
    error: float
    autocorrelation_time: float
    """Integrated autocorrelation time in steps (1 for uncorrelated data)."""
    samples: int


def reblock(series) -> Estimate:
    """Mean and autocorrelation-corrected standard error of a 1-D time series, from all its points.

    Level k holds n_k block means; the next level pairs neighbours, x_{k+1,i} = (x_{k,2i} + x_{k,2i+1}) / 2,
    after dropping the oldest block when n_k is odd (so a series of 2^d points is blocked exactly as in
    Flyvbjerg & Petersen, and any other length loses at most one block per level, not the points beyond
    2^d). The error at level k is sqrt(sigma_k^2 / n_k); Jonsson's statistic
    M_k = sum_{j >= k} n_j (gamma_j / sigma_j^2)^2 (gamma_j the lag-1 autocovariance) picks the first
    level consistent with uncorrelated blocks at 99 %. The mean is that of the whole series.
    """
    x = np.asarray(series, dtype=np.float64).ravel()
    n = x.size
    if n == 0:
        raise ValueError("reblock: empty series")
    if n < 4:
        error = float(np.std(x, ddof=1) / np.sqrt(n)) if n > 1 else float("nan")
        return Estimate(float(np.mean(x)), error, 1.0, int(n))
    if np.all(x == x[0]):  # exactly: the mean of n equal numbers can round away from them
        return Estimate(float(x[0]), 0.0, 1.0, int(n))
    mean, total_variance = float(np.mean(x)), float(np.var(x))
    depth = int(np.floor(np.log2(n)))
    variances, lag_one, block_counts = np.zeros(depth), np.zeros(depth), np.zeros(depth)
    for level in range(depth):
        deviation = x - np.mean(x)
        block_counts[level] = x.size
        variances[level] = np.mean(deviation**2)
        lag_one[level] = np.sum(deviation[:-1] * deviation[1:]) / x.size
        x = x[x.size % 2 :]
        x = 0.5 * (x[0::2] + x[1::2])
    statistic = np.cumsum((block_counts * (lag_one / np.where(variances > 0, variances, 1.0)) ** 2)[::-1])[::-1]
    quantiles = scipy_stats.chi2.ppf(0.99, np.arange(1, depth + 1))
    level = next((k for k in range(depth) if statistic[k] < quantiles[k]), depth - 1)
    error_sq = variances[level] / block_counts[level]
    tau = error_sq * n / total_variance
    return Estimate(mean, float(np.sqrt(error_sq)), float(tau), int(n))


def clip_outliers(values, width: float):
    """Clip to median +- width * mean|x - median| (unchanged for width = 0); jit-compatible.

    Tames the heavy tails of local energies in gradient estimators.
    """
    if width == 0:
        return values
    median = jnp.median(values)
    spread = jnp.mean(jnp.abs(values - median))
    return jnp.clip(values, median - width * spread, median + width * spread)


def integrated_autocorrelation_time(chains, window: float = 5.0) -> float:
    """tau_int = 1 + 2 sum_t rho(t) of independent chains of equal length (rows), in samples.

    rho(t) is the autocorrelation averaged over the chains (each centred on the
    common mean); the sum stops at the first M >= window * tau_int(M)
    (Sokal's automatic window, Madras & Sokal, J. Stat. Phys. 50, 109 (1988)).
    """
    x = np.atleast_2d(np.asarray(chains, dtype=np.float64))
    x = x - np.mean(x)
    n = x.shape[1]
    spectrum = np.fft.rfft(x, 2 * n, axis=1)
    autocovariance = np.mean(np.fft.irfft(spectrum * np.conj(spectrum), axis=1)[:, :n], axis=0) / np.arange(n, 0, -1)
    if autocovariance[0] == 0.0:
        return 1.0
    tau = 1.0 + 2.0 * np.cumsum(autocovariance[1:] / autocovariance[0])
    lags = np.arange(1, n)
    cut = np.flatnonzero(lags >= window * tau)
    return float(tau[cut[0]] if cut.size else tau[-1])

