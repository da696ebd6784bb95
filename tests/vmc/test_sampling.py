"""The Metropolis sampler draws from |Psi|^2 of the parameters it is given."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from qsolid.vmc import sampling

CELL_BOHR = 20.0


def _gaussian_log_psi(width_bohr, electrons, nuclei, group=None):
    """log psi of a Gaussian centred in a cubic cell: |psi|^2 has variance width^2 per coordinate."""
    x = CELL_BOHR * (electrons - 0.5)
    return -jnp.sum(x**2, axis=(1, 2)) / (4.0 * width_bohr**2)


def test_walkers_cached_under_other_parameters_sample_the_new_distribution():
    """After a parameter update the cached log|Psi| of the walkers is stale; the sampler must
    measure the walkers under the new parameters, or walkers whose |Psi| dropped never move.

    Walkers drawn from a 2-bohr Gaussian, sampled with a 0.5-bohr Gaussian: the sampled
    variance per coordinate must be 0.25 bohr^2. With 3 x 512 samples its relative standard
    error is sqrt(2/1536) = 3.6 %; the tolerance is four of those.
    """
    batch = 512
    start = 0.5 + 2.0 * jax.random.normal(jax.random.PRNGKey(0), (batch, 1, 3)) / CELL_BOHR
    nuclei = jnp.full((batch, 1, 3), 0.5)
    walkers = sampling.Walkers(start, nuclei, _gaussian_log_psi(2.0, start, nuclei), jnp.zeros(batch, jnp.int32))
    walkers, acceptance, _ = sampling.metropolis_sweeps(
        _gaussian_log_psi,
        0.5,
        walkers,
        jax.random.PRNGKey(1),
        jnp.asarray(0.5),
        jnp.asarray(0.0),
        CELL_BOHR * jnp.eye(3),
        sweeps=200,
        moves_per_block=1,
        mode="electrons",
    )
    variance = float(np.var(CELL_BOHR * (np.asarray(walkers.electrons) - 0.5)))
    assert abs(variance / 0.25 - 1.0) < 4 * np.sqrt(2 / (3 * batch))
    assert float(acceptance) > 0.3
    np.testing.assert_allclose(walkers.log_abs, _gaussian_log_psi(0.5, walkers.electrons, nuclei), rtol=1e-5)


def test_resampling_after_an_update_turns_old_samples_into_the_new_distribution():
    """Samples of |psi_old|^2 = N(0, 1) resampled for |psi_new|^2 = N(mu, 1): ESS/n = exp(-mu^2), the
    resampled walkers have the new mean and variance, and positions and log|psi_new| move together."""
    n, mu = 40000, 0.3
    x = jax.random.normal(jax.random.PRNGKey(0), (n,))
    walkers = sampling.Walkers(x[:, None, None], x[:, None, None], -0.25 * x**2, jnp.zeros(n, jnp.int32))
    new, ess = sampling.resample_after_update(walkers, -0.25 * (x - mu) ** 2, jax.random.PRNGKey(1))
    np.testing.assert_allclose(float(ess) / n, np.exp(-mu**2), atol=4 * np.sqrt(np.expm1(4 * mu**2) / n))
    y = np.asarray(new.electrons[:, 0, 0])
    assert abs(y.mean() - mu) < 4 / np.sqrt(float(ess))
    assert abs(y.var() - 1.0) < 4 * np.sqrt(2 / float(ess))
    np.testing.assert_array_equal(new.nuclei, new.electrons)
    np.testing.assert_allclose(new.log_abs, -0.25 * (y - mu) ** 2, rtol=1e-6)
    same, ess = sampling.resample_after_update(walkers, walkers.log_abs, jax.random.PRNGKey(1))
    assert float(ess) == pytest.approx(n, rel=1e-4) and np.mean(np.asarray(same.electrons) == np.asarray(walkers.electrons)) > 0.999


def test_gibbs_nuclear_block_takes_its_own_number_of_moves():
    """With the electrons' block at one move, more nuclear moves per sweep move the nuclei further."""
    n = 256

    def log_psi(params, electrons, nuclei, group):  # unit Gaussians in Cartesian bohr around the centre of a 100-bohr box
        return -0.5 * 100.0**2 * (jnp.sum((electrons - 0.5) ** 2, axis=(1, 2)) + jnp.sum((nuclei - 0.5) ** 2, axis=(1, 2)))

    walkers = sampling.Walkers(jnp.full((n, 1, 3), 0.5), jnp.full((n, 1, 3), 0.5), jnp.zeros(n), jnp.zeros(n, jnp.int32))
    spread = {}
    for moves in (1, 8):
        new, _, nuclear_acceptance = sampling.metropolis_sweeps(
            log_psi, None, walkers, jax.random.PRNGKey(0), 0.02, 0.02, jnp.eye(3) * 100.0, sweeps=1,
            moves_per_block=1, mode="gibbs", nuclear_moves_per_block=moves,
        )
        assert float(nuclear_acceptance) > 0.9
        spread[moves] = float(jnp.mean((new.nuclei - 0.5) ** 2)), float(jnp.mean((new.electrons - 0.5) ** 2))
    # Random walk: mean squared displacement proportional to the number of (accepted) moves.
    assert 5.0 < spread[8][0] / spread[1][0] < 11.0
    assert spread[8][1] == spread[1][1]
