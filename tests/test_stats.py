import numpy as np
import pytest

from qsolid.stats import integrated_autocorrelation_time, reblock


def _ar1(n, rho, rng):
    noise = rng.standard_normal(n)
    x = np.empty(n)
    x[0] = noise[0] / np.sqrt(1 - rho**2)
    for t in range(1, n):
        x[t] = rho * x[t - 1] + noise[t]
    return x


def test_uncorrelated_error_is_naive_error():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(2**14)
    estimate = reblock(x)
    naive = x.std() / np.sqrt(x.size)
    assert abs(estimate.error / naive - 1) < 0.15
    assert estimate.autocorrelation_time < 1.5


def test_ar1_error_matches_exact_autocorrelation_time():
    # AR(1) with coefficient rho has integrated autocorrelation time (1 + rho) / (1 - rho).
    rho = 0.9
    tau_exact = (1 + rho) / (1 - rho)
    taus = [reblock(_ar1(2**16, rho, np.random.default_rng(seed))).autocorrelation_time for seed in range(8)]
    # Relative error of a blocked variance with ~2**16/(4 tau) blocks is about 10%; 8 repeats average it down.
    assert abs(np.mean(taus) / tau_exact - 1) < 0.2


def test_ar1_error_bar_covers_true_mean():
    rho = 0.8
    z = [reblock(_ar1(2**13, rho, np.random.default_rng(100 + s))) for s in range(40)]
    normalised = np.array([e.mean / e.error for e in z])
    # The true mean is 0: the normalised deviations must have unit spread (not ~sqrt(tau) = 3).
    assert 0.7 < normalised.std() < 1.4


def test_integrated_autocorrelation_time_of_ar1_chains():
    # x_t = rho x_{t-1} + noise has tau_int = (1 + rho) / (1 - rho) exactly.
    rng = np.random.default_rng(0)
    for rho in (0.0, 0.5, 0.8):
        chains = np.array([_ar1(2000, rho, rng) for _ in range(200)])
        # 200 x 2000 samples: the window estimator's error is ~1-2 % here.
        exact = (1 + rho) / (1 - rho)
        assert integrated_autocorrelation_time(chains) == pytest.approx(exact, rel=0.05), rho
