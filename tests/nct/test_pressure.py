"""Virial pressure: the quantum virial theorem on a crystal of vector springs (rest separations strained with
the cell) gives 2 K_ab + W_ab = 0 in every eigenstate, so the sampled stress must vanish."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from qsolid.nct import flow, free_energy, hamiltonian, occupations, phonons, pressure, sampling, surfaces

# The NCT functions compute in the caller's precision; these checks are made in float64 (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("float64")


def _spring_crystal():
    lattice = np.diag([4.0, 4.3, 4.6])
    fractional = np.array([[0.0, 0.0, 0.0], [0.43, 0.52, 0.47], [0.51, 0.08, 0.12], [0.04, 0.41, 0.55]])
    reference = phonons.Reference(positions=fractional @ lattice, lattice=lattice, masses=np.array([1.0, 2.0, 3.0, 4.0]))

    def energy(positions, lattice):
        sites = jnp.asarray(fractional) @ lattice
        u = positions - sites
        du = u[:, None, :] - u[None, :, :]
        return 0.25 * jnp.sum(du**2) * 0.3

    return surfaces.Surface(energy=energy, differentiable=True), reference


@pytest.mark.slow
def test_virial_theorem_gives_zero_stress():
    surface, reference = _spring_crystal()
    modes = phonons.normal_modes(phonons.hessian(surface, reference), reference)
    vibrations = hamiltonian.Vibrations(surface, reference, modes, 0.0)
    levels, walkers, temperature = 6, 512, 0.5
    params = {"flow": flow.init(jax.random.PRNGKey(0), modes.count, 1, 4),
              "occupations": occupations.init(modes.frequencies, temperature, levels)}
    key = jax.random.PRNGKey(1)
    occupation = occupations.sample(params["occupations"], key, walkers)
    zeta, _ = sampling.metropolis(key, sampling.initial_zeta(key, occupation), occupation, 1.0, 300, levels)
    terms = free_energy.walker_terms(params, vibrations, occupation, zeta, temperature, levels)
    tensors = np.asarray(pressure.pressure_tensor(vibrations, terms["z"], terms["grad_log_psi"]))
    volume = np.linalg.det(reference.lattice)
    kinetic = np.asarray(jax.vmap(lambda g: pressure.kinetic_tensor(vibrations, g))(terms["grad_log_psi"]))
    scale = np.mean(2 * np.trace(kinetic, axis1=1, axis2=2)) / volume
    mean, error = tensors.mean(axis=0), tensors.std(axis=0) / np.sqrt(walkers)
    assert np.all(np.abs(mean) < 4 * error + 1e-12 * scale)
    assert np.max(error) < 0.2 * scale
    # The kinetic-tensor trace is the kinetic energy estimator in expectation.
    assert abs(np.mean(np.trace(kinetic, axis1=1, axis2=2)) / np.mean(terms["kinetic"]) - 1) < 0.1


def test_isotropic_and_lengths_lattice_updates():
    lattice = np.eye(3) * 10.0
    isotropic = pressure.strained_lattice(lattice, [2.0, 1.0, 0.0], 0.0, 0.01, "isotropic")
    np.testing.assert_allclose(np.diag(isotropic), [10.1, 10.1, 10.1])
    lengths = pressure.strained_lattice(lattice, [2.0, 1.0, 0.0], 1.0, 0.01, "lengths")
    np.testing.assert_allclose(np.diag(lengths), [10.1, 10.0, 9.9])
