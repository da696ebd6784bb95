"""Exact symmetries of the message-passing ansatz (qsolid.vmc.ansatz.mpnn), float64 to 1e-10.

Same-spin antisymmetry; each electron carries exp(2 pi i t_k), each nucleus exp(-2 pi i Z_I t_k), and a joint
translation of all particles changes nothing (quantum nuclei, at Gamma, the Baldereschi point and a random
twist); |phi| is symmetric under the exchange of two protons; the Kato cusps are those of the Jastrow factor;
and with the orbital heads and the readout at zero, or with network.mpnn_backflow = false as initialised, and
no Jastrow factor the network is the plane-wave determinant of qsolid.vmc.ansatz.slater (log|Psi| and the
local energy, jellium N = 14, r_s = 1).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from qsolid.ewald import make_ewald
from qsolid.schema import ConfigError
from qsolid.system import build_system
from qsolid.vmc.ansatz.wavefunction import make_wavefunction
from qsolid.vmc.config import load_config
from qsolid.vmc.hamiltonian import make_local_energy

SMALL = {"network.ansatz": "mpnn", "network.mpnn_node_width": 8, "network.mpnn_edge_width": 4, "network.determinants": 2}
TWISTS = ["gamma", "baldereschi", [[0.137, -0.311, 0.42]]]


def _setup(overrides, perturb=0.05):
    """The wavefunction at Gamma unless `overrides` sets the twists."""
    config = load_config(overrides={"precision": "float64", "system.twists": "gamma", **SMALL, **overrides})
    system = build_system(config.system)
    wavefunction = make_wavefunction(system, config.network)
    params = wavefunction.init(jax.random.PRNGKey(1))
    # Perturb every parameter so that none sits at its special initial value (backflow and readout start at 0).
    params = jax.tree.map(lambda x: x + perturb * jax.random.normal(jax.random.PRNGKey(2), x.shape), params)
    rng = np.random.default_rng(3)
    electrons = jnp.asarray(rng.uniform(size=(system.n_electrons, 3)))
    nuclei = jnp.asarray(system.nuclear_fractional + 0.02 * rng.normal(size=(system.n_nuclei, 3)))
    return system, wavefunction, params, electrons, nuclei


def _psi(wavefunction, params, e, n):
    phase, log_abs = wavefunction.apply(params, e, n)
    return complex(np.exp(log_abs) * np.exp(1j * phase))


def _swap(x, i, j):
    return x.at[jnp.array([i, j])].set(x[jnp.array([j, i])])


@pytest.mark.parametrize("twists_value", TWISTS, ids=["gamma", "baldereschi", "random"])
def test_twist_phases_and_joint_translations_with_quantum_nuclei(float64, twists_value):
    system, wavefunction, params, e, n = _setup(
        {"system.structure": "bcc", "system.supercell": [2, 1, 1], "system.nuclei": "quantum", "system.twists": twists_value}
    )
    assert system.quantum_nuclei and wavefunction.electron_spec.is_complex  # k != 0 shells even at Gamma
    assert set(params) == {"electrons", "nuclei"}
    twist = system.twist
    psi = _psi(wavefunction, params, e, n)
    assert abs(psi) > 0
    for axis in range(3):
        step = jnp.zeros(3).at[axis].set(1.0)
        for i in range(system.n_electrons):
            shifted = _psi(wavefunction, params, e.at[i].add(step), n)
            np.testing.assert_allclose(shifted, psi * np.exp(2j * np.pi * twist[axis]), rtol=1e-10, atol=0)
        for nucleus in range(system.n_nuclei):
            shifted = _psi(wavefunction, params, e, n.at[nucleus].add(step))
            expected = psi * np.exp(-2j * np.pi * system.nuclear_charges[nucleus] * twist[axis])
            np.testing.assert_allclose(shifted, expected, rtol=1e-10, atol=0)
    for u in np.random.default_rng(4).uniform(-1, 1, size=(3, 3)):  # joint translations, not lattice vectors
        np.testing.assert_allclose(_psi(wavefunction, params, e + u, n + u), psi, rtol=1e-10, atol=0)
    for i, j in ((0, 1), (system.n_up, system.n_up + 1)):
        np.testing.assert_allclose(_psi(wavefunction, params, _swap(e, i, j), n), -psi, rtol=1e-10, atol=0)


@pytest.mark.parametrize(
    "overrides",
    [
        {"system.structure": "bcc"},  # one electron per spin at Gamma: real
        {"system.structure": "sc", "system.supercell": [1, 1, 3], "system.spin_polarisation": 1},
    ],
    ids=["bcc-real", "sc-polarised"],
)
def test_antisymmetric_and_periodic_with_clamped_nuclei(float64, overrides):
    system, wavefunction, params, e, n = _setup(overrides)
    psi = _psi(wavefunction, params, e, n)
    assert wavefunction.electron_spec.is_complex == ("system.supercell" in overrides)
    for i, j in ((0, system.n_up - 1), (system.n_up, system.n_electrons - 1)):
        if j > i:
            np.testing.assert_allclose(_psi(wavefunction, params, _swap(e, i, j), n), -psi, rtol=1e-10, atol=0)
    for i in range(system.n_electrons):
        shifted = e.at[i].add(jnp.array([1.0, -2.0, 1.0]))
        np.testing.assert_allclose(_psi(wavefunction, params, shifted, n), psi, rtol=1e-10, atol=0)


def test_protons_are_identical_nodes_of_the_network(float64):
    """|phi| is unchanged when two protons swap places; chi (b_IJ, sigma_IJ per labelled pair) is not."""
    system, wavefunction, params, e, n = _setup(
        {"system.structure": "bcc", "system.supercell": [2, 1, 1], "system.nuclei": "quantum", "system.twists": "baldereschi"}
    )
    _, log_phi, log_chi = wavefunction.apply_parts(params, e, n)
    _, log_phi_swapped, log_chi_swapped = wavefunction.apply_parts(params, e, _swap(n, 0, 2))
    np.testing.assert_allclose(log_phi_swapped, log_phi, rtol=1e-10, atol=1e-12)
    assert abs(float(log_chi_swapped - log_chi)) > 1e-6


def _kink(f, h=1e-6):
    """(f(h) + f(-h) - 2 f(0)) / (2 h): the jump of the slope at 0, i.e. the cusp of a function of |x|."""
    return (f(h) + f(-h) - 2.0 * f(0.0)) / (2.0 * h)


@pytest.mark.parametrize("partner", ["nucleus", "antiparallel", "parallel"])
def test_kato_cusps_are_exact(float64, partner):
    """ln|Psi| has slope -Z at a nucleus, +1/2 at an antiparallel and +1/4 at a parallel electron (each
    against r along a line through the partner; the parallel one divides the antisymmetric determinant's
    linear vanishing out by looking at the kink of ln|Psi| - ln|r|)."""
    system, wavefunction, params, e, n = _setup({"system.structure": "bcc", "system.supercell": [2, 1, 1]})
    lattice = np.asarray(system.lattice)
    direction = np.array([0.3, -0.5, 0.8]) / np.linalg.norm([0.3, -0.5, 0.8])
    centre = {"nucleus": n[0], "antiparallel": e[system.n_up], "parallel": e[1]}[partner]

    def log_abs(x):
        moved = e.at[0].set(centre + jnp.asarray(x * direction @ np.linalg.inv(lattice)))
        value = float(wavefunction.apply(params, moved, n)[1])
        return value - np.log(abs(x)) if partner == "parallel" else value

    if partner == "parallel":  # ln|r| is infinite at 0: kink from one-sided slopes of ln|Psi / r|
        h = 1e-5
        right = (log_abs(2 * h) - log_abs(h)) / h
        left = (log_abs(-h) - log_abs(-2 * h)) / h
        assert (right - left) / 2 == pytest.approx(0.25, abs=1e-3)
        return
    expected = {"nucleus": -1.0, "antiparallel": 0.5}[partner]
    assert _kink(log_abs) == pytest.approx(expected, abs=1e-3)


@pytest.mark.parametrize("twists_value", ["gamma", [[0.137, -0.311, 0.42]]], ids=["gamma", "random"])
@pytest.mark.parametrize("switched_off", ["zero heads", "mpnn_backflow = false"])
def test_without_backflow_amplitudes_and_jastrow_it_is_the_plane_wave_determinant(float64, twists_value, switched_off):
    """Jellium N = 14, r_s = 1, jastrow = false: zero heads and readout, or mpnn_backflow = false with its readout
    as initialised (zero) and random message-passing weights, give slater.py's log|Psi| and local energy."""
    jellium = {"system.structure": "jellium", "system.rs": 1.0, "system.electrons": 14, "system.twists": twists_value}
    slater_config = load_config(overrides={"precision": "float64", **jellium, "network.ansatz": "slater", "optimisation.steps": 0})
    system = build_system(slater_config.system)
    slater = make_wavefunction(system, slater_config.network)
    # One determinant: n equal determinants would sum to n times it.
    overrides = {**SMALL, "network.jastrow": False, "network.determinants": 1}
    if switched_off == "mpnn_backflow = false":
        overrides["network.mpnn_backflow"] = False
    network_config = load_config(overrides={"precision": "float64", **jellium, **overrides}).network
    mpnn = make_wavefunction(system, network_config)
    params = mpnn.init(jax.random.PRNGKey(1))
    heads = params["electrons"]
    if switched_off == "zero heads":
        heads = jax.tree.map(lambda x: x + 0.05 * jax.random.normal(jax.random.PRNGKey(2), x.shape), heads)
        heads = {**heads, **{name: jax.tree.map(jnp.zeros_like, heads[name]) for name in ("amplitude", "backflow", "readout")}}
    else:
        assert not {"amplitude", "backflow"} & set(heads)  # the orbitals have no parameters
        rounds = jax.tree.map(lambda x: x + 0.05 * jax.random.normal(jax.random.PRNGKey(2), x.shape), heads["rounds"])
        heads = {**heads, "rounds": rounds}
    params["electrons"] = heads
    ewald = make_ewald(system.lattice, -np.ones(system.n_electrons))
    lattice = jnp.asarray(system.lattice)
    no_nuclei = jnp.zeros((0, 3))
    energies = [jax.jit(make_local_energy(wf, ewald)) for wf in (mpnn, slater)]
    for seed in range(3):
        e = jnp.asarray(np.random.default_rng(seed).uniform(size=(system.n_electrons, 3)))
        psi_mpnn, psi_slater = (_psi(wf, p, e, no_nuclei) for wf, p in ((mpnn, params), (slater, {"electrons": {}})))
        np.testing.assert_allclose(psi_mpnn, psi_slater, rtol=1e-10, atol=0)
        local_mpnn, local_slater = (f(p, e, no_nuclei, lattice) for f, p in zip(energies, (params, {"electrons": {}})))
        np.testing.assert_allclose(local_mpnn.energy, local_slater.energy, rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(local_mpnn.energy_imag, local_slater.energy_imag, rtol=0, atol=1e-9)


@pytest.mark.parametrize("field", ["mpnn_node_width", "mpnn_edge_width", "mpnn_rounds"])
def test_widths_and_rounds_are_validated(field):
    with pytest.raises(ConfigError, match=field):
        load_config(overrides={"network.ansatz": "mpnn", f"network.{field}": 0})


def test_jellium_takes_mpnn_and_backflow_off_takes_one_determinant():
    jellium = {"system.structure": "jellium", "system.rs": 1.0, "system.electrons": 14}
    assert load_config(overrides={**jellium, **SMALL}).network.ansatz == "mpnn"
    with pytest.raises(ConfigError, match="network.ansatz: jellium needs 'slater' or 'mpnn'"):
        load_config(overrides=jellium)
    with pytest.raises(ConfigError, match="determinants"):
        load_config(overrides={**SMALL, "network.mpnn_backflow": False})
    with pytest.raises(ConfigError, match="npt.lattice_mode"):
        load_config(overrides={**jellium, **SMALL, "npt.lattice_mode": "lengths", "npt.pressure_gpa": 100.0})
