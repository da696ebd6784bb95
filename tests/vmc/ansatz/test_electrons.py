"""Symmetries of the electronic wavefunction (Alg. 2): antisymmetry, periodicity, Bloch twist."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from qsolid.vmc.ansatz import electrons
from qsolid.vmc.ansatz.wavefunction import make_wavefunction
from qsolid.vmc.config import load_config
from qsolid.system import build_system


def _setup(overrides):
    """The wavefunction at Gamma unless `overrides` sets the twists."""
    config = load_config(overrides={"system.twists": "gamma", "network.one_electron_width": 8, "network.two_electron_width": 4, "network.determinants": 2, **overrides})
    system = build_system(config.system)
    wavefunction = make_wavefunction(system, config.network)
    params = wavefunction.init(jax.random.PRNGKey(1))
    # Perturb the envelope so that no parameter sits at a symmetric special value.
    params = jax.tree.map(lambda x: x + 0.05 * jax.random.normal(jax.random.PRNGKey(2), x.shape), params)
    rng = np.random.default_rng(3)
    e = jnp.asarray(rng.uniform(size=(system.n_electrons, 3)))
    nuclei = jnp.asarray(system.nuclear_fractional)
    return system, wavefunction, params, e, nuclei


def _psi(wavefunction, params, e, nuclei):
    phase, log_abs = wavefunction.apply(params, e, nuclei)
    return np.exp(log_abs) * np.exp(1j * phase)


CASES = [
    {"system.structure": "bcc", "system.supercell": [2, 1, 1]},  # complex: k != 0 shells
    {"system.structure": "fcc"},  # 4 electrons, Gamma, real
    {"system.structure": "sc", "system.supercell": [1, 1, 3], "system.spin_polarisation": 1},
]


@pytest.mark.slow
@pytest.mark.parametrize("overrides", CASES)
def test_antisymmetric_under_same_spin_exchange(float64, overrides):
    system, wavefunction, params, e, nuclei = _setup(overrides)
    psi = _psi(wavefunction, params, e, nuclei)
    for i, j in ((0, 1), (system.n_up, system.n_up + 1)):
        if j >= system.n_electrons or (i < system.n_up) != (j < system.n_up):
            continue
        swapped = e.at[jnp.array([i, j])].set(e[jnp.array([j, i])])
        np.testing.assert_allclose(_psi(wavefunction, params, swapped, nuclei), -psi, rtol=1e-10, atol=0)


@pytest.mark.parametrize("overrides", CASES)
def test_periodic_under_lattice_translation_of_any_particle(float64, overrides):
    system, wavefunction, params, e, nuclei = _setup(overrides)
    psi = _psi(wavefunction, params, e, nuclei)
    for particle in range(system.n_electrons):
        for axis in range(3):
            shifted = e.at[particle, axis].add(1.0)
            np.testing.assert_allclose(_psi(wavefunction, params, shifted, nuclei), psi, rtol=1e-10, atol=0)
    for nucleus in range(system.n_nuclei):
        shifted = nuclei.at[nucleus].add(jnp.array([1.0, -1.0, 2.0]))
        np.testing.assert_allclose(_psi(wavefunction, params, e, shifted), psi, rtol=1e-10, atol=0)


def test_twisted_boundary_conditions_give_bloch_phase(float64):
    twist = np.array([0.25, 0.0, 0.5])
    system, wavefunction, params, e, nuclei = _setup({"system.structure": "bcc", "system.twists": [list(twist)]})
    psi = _psi(wavefunction, params, e, nuclei)
    for axis in range(3):
        shifted = e.at[0, axis].add(1.0)
        expected = psi * np.exp(2j * np.pi * twist[axis])
        np.testing.assert_allclose(_psi(wavefunction, params, shifted, nuclei), expected, rtol=1e-10, atol=0)


def test_occupied_kpoints_fill_lowest_shells():
    k = electrons.occupied_kpoints(np.eye(3) * 2.0, (0, 0, 0), 7)
    norms = np.sum(k**2, axis=1)
    assert norms[0] == 0 and np.all(norms[1:] == 1)
    assert electrons.occupied_kpoints(np.eye(3), (0, 0, 0), 0).shape == (0, 3)


def test_real_at_gamma_complex_otherwise():
    for overrides, expected in (({"system.structure": "bcc"}, False), ({"system.structure": "bcc", "system.supercell": [2, 2, 2]}, True)):
        config = load_config(overrides={"system.twists": "gamma", **overrides})
        spec = electrons.make_spec(build_system(config.system), config.network)
        assert spec.is_complex == expected


@pytest.mark.parametrize("overrides", CASES[::2])
def test_layers_by_blocks_equal_the_concatenated_form_kfac_registers(float64, overrides):
    system, wavefunction, params, e, nuclei = _setup({"network.layers": 2, **overrides})
    by_blocks = wavefunction.apply_parts(params, e, nuclei)
    concatenated = wavefunction.apply_parts(params, e, nuclei, concatenated=True)
    np.testing.assert_allclose(np.array(by_blocks), np.array(concatenated), rtol=1e-12, atol=1e-12)
    distinct = wavefunction.apply_parts(params, e.at[0].add(0.01), nuclei)
    assert abs(float(distinct[1] - by_blocks[1])) > 1e-6  # the comparison is not of constants
