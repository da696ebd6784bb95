"""Symmetries of the electronic wavefunction (Alg. 2): antisymmetry, periodicity, Bloch twist."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from qsolid.vmc.ansatz import electrons
from qsolid.vmc.ansatz.wavefunction import make_wavefunction
from qsolid.vmc.config import load_config
from qsolid.system import build_system


SMALL = {"system.twists": "gamma", "network.one_electron_width": 8, "network.two_electron_width": 4, "network.determinants": 2}


def _setup(overrides):
    """The wavefunction at Gamma unless `overrides` sets the twists."""
    config = load_config(overrides={**SMALL, **overrides})
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
    {"system.structure": "bcc", "system.supercell": [2, 1, 1], "network.open_shells": "combined"},  # 1 of 2 open
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


def test_an_open_shell_orbital_combines_the_whole_shell():
    """bcc16 at the Baldereschi point: 7 orbitals in closed shells (1, 3, 3), the eighth in a shell of 4."""
    config = load_config(overrides={"system.structure": "bcc", "system.supercell": [2, 2, 2], "system.twists": "baldereschi"})
    system = build_system(config.system)
    fixed = electrons.orbital_plane_waves(system.lattice, system.twists[0], system.n_up, combine_open_shell=False)
    waves, mask = electrons.orbital_plane_waves(system.lattice, system.twists[0], system.n_up, combine_open_shell=True)
    assert fixed[0].shape == (8, 1, 3) and waves.shape == (8, 4, 3)
    np.testing.assert_array_equal(mask.sum(axis=1), [1, 1, 1, 1, 1, 1, 1, 4])
    np.testing.assert_array_equal(waves[:7, 0], fixed[0][:7, 0])
    norms = np.sum((waves[7] @ np.linalg.inv(system.lattice).T) ** 2, axis=1)
    np.testing.assert_allclose(norms, norms[0], rtol=1e-12)  # one shell, four distinct points, the fixed pick among them
    assert len({tuple(k) for k in waves[7]}) == 4 and any(np.allclose(k, fixed[0][7, 0]) for k in waves[7])


def test_combined_orbitals_with_one_plane_wave_each_are_the_fixed_network(float64):
    """Zero every open-shell orbital's weights but those of its fixed pick: the combined network is the fixed one."""
    overrides = {"system.structure": "bcc", "system.supercell": [2, 2, 2], "system.twists": "baldereschi", "network.layers": 1}
    system, fixed, params, e, nuclei = _setup({**overrides, "network.open_shells": "fixed"})
    combined = make_wavefunction(system, load_config(overrides={**SMALL, **overrides, "network.open_shells": "combined"}).network)
    spec = combined.electron_spec
    waves, _ = spec.plane_waves[0]
    picks = fixed.electron_spec.k_up[0]
    slot = np.array([np.flatnonzero(np.all(np.isclose(w, k), axis=1))[0] for w, k in zip(waves[0], picks)])
    count, (n_open, _), width = system.n_up, spec.open_orbitals, spec.waves_per_orbital
    assert (n_open, width) == (1, 4)
    # Orbital a's first plane wave is column a; the further ones of the open orbitals follow (_orbital_matrices).
    column = [a if slot[a] == 0 else count + (a - (count - n_open)) * (width - 1) + slot[a] - 1 for a in range(count)]

    def spread(w):  # (h, det * orbital) -> (h, det * columns), each orbital's weights in its pick's column
        w = w.reshape(w.shape[0], -1, count)
        out = np.zeros(w.shape[:2] + (spec.orbital_outputs(0),))
        out[:, :, column] = w
        return jnp.asarray(out.reshape(w.shape[0], -1))

    orbitals = {spin: {part: {"w": spread(np.asarray(layer["w"]))} for part, layer in maps.items()}
                for spin, maps in params["electrons"]["orbitals"].items()}
    combined_params = {"electrons": {**params["electrons"], "orbitals": orbitals}}
    assert jax.tree.map(jnp.shape, combined_params) == jax.tree.map(jnp.shape, combined.init(jax.random.PRNGKey(0)))
    np.testing.assert_allclose(_psi(combined, combined_params, e, nuclei), _psi(fixed, params, e, nuclei), rtol=1e-10)
    # The same weights moved to the column of shell member b: the open orbital becomes the fixed one times
    # exp(2 pi i ((k_b - k_pick) . s_j - (m_b - m_pick) . S_1)).
    (reference, *_), _ = electrons.orbitals(params["electrons"], fixed.electron_spec, e, nuclei)
    for b in range(1, width):
        column[-1] = count + (width - 1) * (n_open - 1) + b - 1
        moved = {spin: {part: {"w": spread(np.asarray(layer["w"]))} for part, layer in maps.items()}
                 for spin, maps in params["electrons"]["orbitals"].items()}
        (matrix, *_), _ = electrons.orbitals({**params["electrons"], "orbitals": moved}, spec, e, nuclei)
        shift = waves[0, -1, b] - picks[-1]
        ratio = np.exp(2j * np.pi * (np.asarray(e[:count]) @ shift - np.rint(shift) @ np.asarray(nuclei[0])))
        np.testing.assert_allclose(matrix[:, :-1], reference[:, :-1], rtol=1e-12)
        np.testing.assert_allclose(matrix[:, -1], reference[:, -1] * ratio, rtol=1e-10)


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
