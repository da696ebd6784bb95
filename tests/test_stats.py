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


def test_a_series_of_any_length_uses_all_its_points():
    x = np.random.default_rng(1).standard_normal(3001)
    estimate = reblock(x)
    assert estimate.mean == np.mean(x) and estimate.samples == 3001
    assert abs(estimate.error / (x.std() / np.sqrt(x.size)) - 1) < 0.15


def test_a_constant_series_has_no_error_at_any_length():
    for length in (20, 256, 1000):
        estimate = reblock(np.full(length, 0.1))
        assert estimate.mean == 0.1 and estimate.error == 0.0 and estimate.samples == length


def test_all_points_shrink_the_error_bar_as_their_number():
    """12 288 = 1.5 x 2^13 points of AR(1): the error bar from all of them is sqrt(2/3) of the one from their
    last 2^13 alone (to within the 10 % scatter of blocked variances, averaged over 20 series)."""
    rho = 0.8
    ratios = []
    for seed in range(20):
        x = _ar1(3 * 2**12, rho, np.random.default_rng(200 + seed))
        ratios.append(reblock(x).error / reblock(x[-(2**13):]).error)
    assert np.mean(ratios) == pytest.approx(np.sqrt(2 / 3), rel=0.1)


@pytest.mark.parametrize("length", [2**13, 3 * 2**11 + 7])
def test_ar1_error_bar_covers_true_mean(length):
    rho = 0.8
    z = [reblock(_ar1(length, rho, np.random.default_rng(100 + s))) for s in range(40)]
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
