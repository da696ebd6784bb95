"""Quantum nuclei: Psi = chi(R) phi(r, R), nuclear kinetic energy (Eq. S7), masses, translation invariance."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from qsolid import units
from qsolid.vmc.config import load_config
from qsolid.vmc.hamiltonian import nuclear_kinetic_energy
from qsolid.schema import ConfigError
from qsolid.system import build_system
from qsolid.vmc.problem import nuclear_network
from qsolid.vmc.ansatz.wavefunction import make_wavefunction

SMALL = {"network.one_electron_width": 8, "network.two_electron_width": 4, "network.determinants": 2, "network.nuclear_width": 6}


def _quantum(overrides):
    config = load_config(overrides={**SMALL, "system.nuclei": "quantum", **overrides})
    system = build_system(config.system)
    wavefunction = make_wavefunction(system, config.network, nuclear_network(system, config.network))
    params = wavefunction.init(jax.random.PRNGKey(0))
    params = jax.tree.map(lambda x: x + 0.05 * jax.random.normal(jax.random.PRNGKey(1), x.shape), params)
    return system, wavefunction, params


@pytest.mark.parametrize(
    "overrides",
    [
        {"system.structure": "h2-molecule", "system.box_bohr": 6.0},
        {"system.structure": "bcc", "system.supercell": [2, 1, 1]},  # complex, partly filled k shell
    ],
)
def test_total_wavefunction_invariant_under_common_translation(float64, overrides):
    system, wavefunction, params = _quantum(overrides)
    rng = np.random.default_rng(2)
    electrons = jnp.asarray(rng.uniform(size=(system.n_electrons, 3)))
    nuclei = jnp.asarray(system.nuclear_fractional + 0.02 * rng.standard_normal((system.n_nuclei, 3)))
    phase, log_abs = wavefunction.apply(params, electrons, nuclei)
    for shift in rng.uniform(-1, 1, size=(3, 3)):
        moved_phase, moved_log_abs = wavefunction.apply(params, electrons + shift, nuclei + shift)
        np.testing.assert_allclose(moved_log_abs, log_abs, rtol=1e-10)
        np.testing.assert_allclose(np.exp(1j * (moved_phase - phase)), 1.0, atol=1e-10)
    # ... and periodic in every nuclear coordinate.
    moved_phase, moved_log_abs = wavefunction.apply(params, electrons, nuclei.at[0].add(jnp.array([1.0, 0.0, -1.0])))
    np.testing.assert_allclose(moved_log_abs, log_abs, rtol=1e-10)
    np.testing.assert_allclose(np.exp(1j * (moved_phase - phase)), 1.0, atol=1e-10)


def test_nuclear_kinetic_energy_of_gaussian_pair(float64):
    """ln chi = -s^2 (x_1 - x_2)^2 for two particles of masses M1, M2: exact K_BO = s^2 (1/M1 + 1/M2) (3 - 2 s^2 r^2)."""
    lattice = jnp.eye(3) * 30.0
    masses = jnp.array([1836.15267343, 3670.48296788])
    s = 1.7

    def parts(fractional):
        x = fractional @ lattice
        r2 = jnp.sum((x[0] - x[1]) ** 2)
        return jnp.zeros(()), jnp.zeros(()), -(s**2) * r2

    nuclei = jnp.array([[0.5, 0.5, 0.5], [0.51, 0.49, 0.505]])
    r2 = float(jnp.sum(((nuclei[0] - nuclei[1]) @ lattice) ** 2))
    expected = s**2 * (1 / masses[0] + 1 / masses[1]) * (3 - 2 * s**2 * r2)
    for method in ("forward", "hessian"):
        kinetic_bo, kinetic_nonbo, imag = nuclear_kinetic_energy(parts, nuclei, lattice, masses, method)
        np.testing.assert_allclose(kinetic_bo, expected, rtol=1e-10)
        assert kinetic_nonbo == 0 and imag == 0


def test_nonbo_term_includes_cross_gradient(float64):
    """phi = exp(c . R_1) and chi = exp(-|R_1|^2 s^2): K_nonBO = -(|c|^2 + 2 c . grad ln chi) / 2M exactly."""
    lattice = jnp.eye(3) * 10.0
    mass = jnp.array([2000.0])
    c = jnp.array([0.3, -0.2, 0.5])

    def parts(fractional):
        x = fractional[0] @ lattice
        return jnp.zeros(()), jnp.dot(c, x), -jnp.sum(x**2)

    nuclei = jnp.array([[0.11, 0.07, -0.05]])
    x = nuclei[0] @ lattice
    _, kinetic_nonbo, _ = nuclear_kinetic_energy(parts, nuclei, lattice, mass)
    np.testing.assert_allclose(kinetic_nonbo, -(jnp.sum(c**2) + 2 * jnp.dot(c, -2 * x)) / (2 * mass[0]), rtol=1e-10)


def test_isotope_masses_per_nucleus_and_species():
    config = load_config(overrides={"system.structure": "h2-molecule", "system.nuclei": "quantum", "system.nuclear_masses": ["H", "D"]})
    np.testing.assert_array_equal(build_system(config.system).nuclear_masses, [units.PROTON_MASS_ME, units.DEUTERON_MASS_ME])
    config = load_config(overrides={"system.structure": "h2-molecule", "system.nuclei": "quantum", "system.isotope": 1e6})
    np.testing.assert_array_equal(build_system(config.system).nuclear_masses, [1e6, 1e6])
    config = load_config(overrides={"system.structure": "h2-molecule"})
    assert build_system(config.system).nuclear_masses is None
    with pytest.raises(ConfigError, match="system.nuclear_masses: 3 masses given for 2 nuclei"):
        build_system(load_config(overrides={"system.structure": "h2-molecule", "system.nuclei": "quantum", "system.nuclear_masses": ["H", "D", "T"]}).system)
    with pytest.raises(ConfigError, match="system.nuclear_masses\\[0\\]"):
        load_config(overrides={"system.nuclear_masses": [-1.0]})
