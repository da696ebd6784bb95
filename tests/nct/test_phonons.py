import jax.numpy as jnp
import numpy as np
import pytest

from qsolid.nct import harmonic, phonons, surfaces
from qsolid.nct.phonons import Reference

# The NCT functions compute in the caller's precision; these checks are made in float64 (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("float64")


def _vector_spring_surface(reference):
    """Anharmonic vector springs between all minimum-image pairs: stable, translation invariant, JAX."""
    rest = np.asarray(reference.positions)

    def separations(positions, lattice):
        fractional = (positions[:, None, :] - positions[None, :, :]) @ jnp.linalg.inv(lattice)
        return (fractional - jnp.round(fractional)) @ lattice

    rest_separation = separations(jnp.asarray(rest), jnp.asarray(reference.lattice))

    def energy(positions, lattice):
        stretch = jnp.sum((separations(positions, lattice) - rest_separation) ** 2, axis=-1)
        return 0.25 * jnp.sum(stretch + stretch**2)

    return surfaces.Surface(energy=energy, differentiable=True)


def _crystal():
    lattice = np.eye(3) * 4.0
    positions = np.array([[0.0, 0.0, 0.0], [1.71, 2.23, 1.94], [2.17, 0.41, 0.33], [0.13, 1.62, 2.39]])
    return Reference(positions=positions, lattice=lattice, masses=np.array([1.0, 2.0, 3.0, 4.0]))


def test_translations_removed_and_finite_differences_match_autodiff():
    reference = _crystal()
    surface = _vector_spring_surface(reference)
    exact = phonons.hessian(surface, reference)
    host = surfaces.Surface(energy=surface.energy, differentiable=False,
                            forces_virial=lambda x, c: surfaces.energy_forces_virial(surface, jnp.asarray(x), jnp.asarray(c)))
    approx = phonons.hessian(host, reference, step=0.01)
    assert np.max(np.abs(approx - exact)) < 1e-8 * np.max(np.abs(exact))
    modes = phonons.normal_modes(exact, reference)
    assert modes.count == 9
    translation = np.tile(np.eye(3), (4, 1)) * np.sqrt(np.repeat(reference.masses, 3))[:, None]
    assert np.max(np.abs(modes.vectors.T @ translation)) < 1e-12


def test_ndco_modes_give_exact_ground_state():
    surface = surfaces.ndco(64)
    reference = Reference(np.zeros((64, 1)), None, np.ones(64))
    modes = phonons.normal_modes(phonons.hessian(surface, reference), reference)
    assert abs(harmonic.zero_point_energy(modes.frequencies) / 121.6209476748 - 1) < 1e-11
    assert abs(harmonic.free_energy(modes.frequencies, 1.0) - 117.446877469756) < 1e-9


def test_harmonic_thermodynamics_consistency():
    omega, t = np.array([0.3, 1.0, 2.5]), 0.7
    f = harmonic.free_energy(omega, t)
    step = 1e-5
    entropy = -(harmonic.free_energy(omega, t + step) - harmonic.free_energy(omega, t - step)) / (2 * step)
    assert abs(entropy - harmonic.entropy(omega, t)) < 1e-8
    assert abs(harmonic.energy(omega, t) - (f + t * harmonic.entropy(omega, t))) < 1e-12
    assert abs(harmonic.free_energy_levels(omega, t, 400) - f) < 1e-12
