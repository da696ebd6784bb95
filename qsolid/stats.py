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
    """Mean and autocorrelation-corrected standard error of a 1-D time series.

    Uses the most recent 2^d points (d = floor(log2 n)), as the blocking
    transform needs a power-of-two length.
    """
    x = np.asarray(series, dtype=np.float64).ravel()
    if x.size == 0:
        raise ValueError("reblock: empty series")
    if x.size < 4:
        error = float(np.std(x, ddof=1) / np.sqrt(x.size)) if x.size > 1 else float("nan")
        return Estimate(float(np.mean(x)), error, 1.0, int(x.size))
    depth = int(np.floor(np.log2(x.size)))
    x = x[x.size - 2**depth :]
    mean = float(np.mean(x))
    total_variance = float(np.var(x))
    variances, lag_one = np.zeros(depth), np.zeros(depth)
    for level in range(depth):
        deviation = x - np.mean(x)
        variances[level] = np.mean(deviation**2)
        lag_one[level] = np.sum(deviation[:-1] * deviation[1:]) / x.size
        x = 0.5 * (x[0::2] + x[1::2])
    if total_variance == 0.0:
        return Estimate(mean, 0.0, 1.0, 2**depth)
    block_counts = 2.0 ** np.arange(depth, 0, -1)
    statistic = np.cumsum((block_counts * (lag_one / np.where(variances > 0, variances, 1.0)) ** 2)[::-1])[::-1]
    quantiles = scipy_stats.chi2.ppf(0.99, np.arange(1, depth + 1))
    level = next((k for k in range(depth) if statistic[k] < quantiles[k]), depth - 1)
    error_sq = variances[level] / block_counts[level]
    tau = error_sq * 2**depth / total_variance
    return Estimate(mean, float(np.sqrt(error_sq)), float(tau), 2**depth)


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

