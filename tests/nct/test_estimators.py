"""Harmonic limit: identity flow + harmonic Boltzmann occupations give the exact F and S."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from qsolid.nct import flow, free_energy, hamiltonian, harmonic, occupations, phonons, sampling, surfaces, wavefunction

# The NCT functions compute in the caller's precision; these checks are made in float64 (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("float64")


def _vibrations(surface, dimension):
    reference = phonons.Reference(np.zeros((dimension, 1)), None, np.ones(dimension))
    modes = phonons.normal_modes(phonons.hessian(surface, reference), reference)
    return hamiltonian.Vibrations(surface, reference, modes, 0.0)


def test_local_energy_of_excited_harmonic_state_is_exact():
    vibrations = _vibrations(surfaces.harmonic([0.7, 1.3]), 2)
    params = flow.init(jax.random.PRNGKey(0), 2, depth=1, hidden=4)
    occupation = jnp.array([3, 1])
    z = jnp.array([0.37, -1.1])
    kinetic, _ = wavefunction.local_kinetic(params, occupation, z, vibrations.frequencies, 8)
    energy = kinetic + vibrations.potential(z)
    assert abs(energy - (0.7 * 3.5 + 1.3 * 1.5)) < 1e-12


@pytest.mark.slow
def test_ndco4_free_energy_and_entropy_exact_with_zero_variance():
    temperature, levels, walkers = 1.0, 30, 256
    vibrations = _vibrations(surfaces.ndco(4), 4)
    params = {"flow": flow.init(jax.random.PRNGKey(0), 4, 1, 4),
              "occupations": occupations.init(vibrations.frequencies, temperature, levels)}
    key_n, key_z = jax.random.split(jax.random.PRNGKey(3))
    occupation = occupations.sample(params["occupations"], key_n, walkers)
    zeta, acceptance = sampling.metropolis(key_z, sampling.initial_zeta(key_z, occupation), occupation, 1.0, 30, levels)
    assert 0.3 < acceptance < 0.8
    terms = free_energy.walker_terms(params, vibrations, occupation, zeta, temperature, levels)
    means = free_energy.batch_means(terms)
    assert abs(means["free_energy"] - 0.382917373177) < 1e-9
    assert means["free_energy_error"] < 1e-12
    exact_s = harmonic.entropy(vibrations.frequencies, temperature)
    assert abs(means["entropy"] - exact_s) < 3 * means["entropy_error"]
    assert abs(occupations.entropy(params["occupations"]) - exact_s) < 1e-7  # level cutoff K = 30
    grads = jax.grad(free_energy.surrogate_loss)(
        params, occupation, terms["z"], terms["free_energy"], terms["energy"], vibrations.frequencies, levels)
    assert max(float(jnp.max(jnp.abs(g))) for g in jax.tree_util.tree_leaves(grads)) < 1e-10


def test_metropolis_samples_hermite_densities():
    occupation = jnp.tile(jnp.array([[0, 2]]), (4096, 1))
    key = jax.random.PRNGKey(0)
    zeta, _ = sampling.metropolis(key, sampling.initial_zeta(key, occupation), occupation, 1.0, 200, 4)
    second_moment = np.mean(np.asarray(zeta) ** 2, axis=0)
    np.testing.assert_allclose(second_moment, [0.5, 2.5], rtol=0.08)
