"""One network for a twist set (qsolid.vmc.groups, system.twist_mode = "shared").

Walkers carry their twist as a group index; the wavefunction selects that twist's k-set. Checked in
float64: a walker of group t sees exactly the network built for twist t alone, carries its twist's phase,
the group-centred gradient is the weighted sum of per-group gradients, and a checkpoint keeps the indices
(the resumed step gives the same numbers).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from qsolid.schema import ConfigError
from qsolid.vmc.config import load_config
from qsolid.vmc.groups import SINGLE, Groups

TWIST_SET = {"grid": [4, 4, 4], "shift": True}
"""bcc, 2 atoms: 4 irreducible twists with weights 1/8, 3/8, 3/8, 1/8, none of them Gamma."""
THREE_TWISTS = [[0.125, 0.125, 0.125], [0.375, -0.125, 0.25], [0.5, 0.5, 0.5]]
"""For the 4-atom cell (two electrons per spin, so that the k-set changes |Psi|, not only its phase)."""

SMALL_NETWORK = {
    "precision": "float64",
    "system.structure": "bcc",
    "network.one_electron_width": 8,
    "network.two_electron_width": 4,
    "network.determinants": 2,
}


def _config(**overrides):
    return load_config(overrides={**SMALL_NETWORK, "system.twists": TWIST_SET, **overrides})


def _wavefunction(config):
    from qsolid.system import build_system
    from qsolid.vmc.ansatz.wavefunction import make_wavefunction
    from qsolid.vmc.problem import nuclear_network

    system = build_system(config.system)
    return system, make_wavefunction(system, config.network, nuclear_network(system, config.network))


def _params(wavefunction, seed=1):
    params = jax.jit(wavefunction.init)(jax.random.PRNGKey(seed))
    rng = np.random.default_rng(seed)
    return jax.tree.map(lambda x: x + 0.05 * rng.normal(size=x.shape), params)


@pytest.mark.parametrize(
    "nuclei, ansatz, twist_input", [("quantum", "neural", "off"), ("clamped", "neural", "on"), ("clamped", "slater", "off")]
)
def test_a_walker_of_group_t_sees_the_network_of_twist_t_alone(float64, nuclei, ansatz, twist_input):
    overrides = {"system.nuclei": nuclei, "network.ansatz": ansatz, "system.supercell": [2, 1, 1], "system.twists": THREE_TWISTS,
                 "network.twist_input": twist_input}
    if ansatz == "slater":
        overrides["optimisation.steps"] = 0
    system, shared = _wavefunction(_config(**overrides))
    assert len(system.twists) == 3 and system.n_up == 2
    params = _params(shared)
    rng = np.random.default_rng(3)
    electrons = jnp.asarray(rng.uniform(size=(system.n_electrons, 3)))
    nuclei_positions = jnp.asarray(system.nuclear_fractional + 0.02 * rng.normal(size=(system.n_nuclei, 3)))
    for index, twist in enumerate(system.twists):
        _, alone = _wavefunction(_config(**{**overrides, "system.twists": [list(twist)]}))
        expected = jax.jit(alone.apply)(params, electrons, nuclei_positions)
        got = jax.jit(shared.apply)(params, electrons, nuclei_positions, jnp.asarray(index, jnp.int32))
        np.testing.assert_allclose(got[1], expected[1], rtol=1e-12, atol=0)
        np.testing.assert_allclose(np.exp(1j * got[0]), np.exp(1j * expected[0]), rtol=0, atol=1e-12)
    phase, log_abs = jax.jit(jax.vmap(shared.apply, in_axes=(None, None, None, 0)))(
        params, electrons, nuclei_positions, jnp.arange(3)
    )
    values = np.exp(np.asarray(log_abs) + 1j * np.asarray(phase))
    assert np.min(np.abs(values[:, None] - values[None, :]) + np.eye(3)) > 1e-3  # the twists give different states


def test_per_twist_orbital_maps_give_each_twist_its_own_last_layer(float64):
    """network.twist_orbitals = 'per_twist': a walker of group t sees the single-twist network whose orbital
    maps are column block t of the shared network's (and the same streams, envelopes and Jastrow)."""
    overrides = {"system.nuclei": "quantum", "system.supercell": [2, 1, 1], "system.twists": THREE_TWISTS,
                 "network.twist_input": "on"}
    system, shared = _wavefunction(_config(**overrides, **{"network.twist_orbitals": "per_twist"}))
    params = _params(shared)
    rng = np.random.default_rng(4)
    electrons = jnp.asarray(rng.uniform(size=(system.n_electrons, 3)))
    nuclei_positions = jnp.asarray(system.nuclear_fractional + 0.02 * rng.normal(size=(system.n_nuclei, 3)))
    maps = params["electrons"]["orbitals"]
    for index, twist in enumerate(system.twists):
        _, alone = _wavefunction(_config(**{**overrides, "system.twists": [list(twist)]}))
        own = {spin: {part: {"w": layer["w"].reshape(layer["w"].shape[0], 3, -1)[:, index]} for part, layer in parts.items()}
               for spin, parts in maps.items()}
        expected = jax.jit(alone.apply)({**params, "electrons": {**params["electrons"], "orbitals": own}}, electrons, nuclei_positions)
        got = jax.jit(shared.apply)(params, electrons, nuclei_positions, jnp.asarray(index, jnp.int32))
        np.testing.assert_allclose(got[1], expected[1], rtol=1e-12, atol=0)
        np.testing.assert_allclose(np.exp(1j * got[0]), np.exp(1j * expected[0]), rtol=0, atol=1e-12)


def test_each_group_carries_its_own_twist_phase(float64):
    system, wavefunction = _wavefunction(
        _config(**{"system.nuclei": "quantum", "system.supercell": [2, 1, 1], "system.twists": THREE_TWISTS})
    )
    params = _params(wavefunction)
    rng = np.random.default_rng(5)
    e = jnp.asarray(rng.uniform(size=(system.n_electrons, 3)))
    n = jnp.asarray(system.nuclear_fractional + 0.02 * rng.normal(size=(system.n_nuclei, 3)))
    apply = jax.jit(wavefunction.apply)

    def psi(e, n, group):
        phase, log_abs = apply(params, e, n, jnp.asarray(group, jnp.int32))
        return complex(np.exp(log_abs + 1j * phase))

    for group, twist in enumerate(system.twists):
        reference = psi(e, n, group)
        for axis in range(3):
            step = jnp.zeros(3).at[axis].set(1.0)
            for i in range(system.n_electrons):
                shifted = psi(e.at[i].add(step), n, group)
                np.testing.assert_allclose(shifted, reference * np.exp(2j * np.pi * twist[axis]), rtol=1e-10, atol=0)
            shifted = psi(e, n.at[0].add(step), group)
            np.testing.assert_allclose(shifted, reference * np.exp(-2j * np.pi * twist[axis]), rtol=1e-10, atol=0)
        u = jnp.asarray(rng.uniform(-1, 1, size=3))
        np.testing.assert_allclose(psi(e + u, n + u, group), reference, rtol=1e-10, atol=0)


def test_group_centred_gradient_is_the_weighted_sum_of_per_group_gradients(float64):
    """2 sum_t w_t E_t[(E_L - E_t) grad ln Psi*] with each group centred and clipped on its own, against the
    single-group estimator applied to each group's walkers (unequal weights, complex Psi, outliers clipped)."""
    from qsolid.vmc.optim import Batch, make_surrogate_loss

    system, wavefunction = _wavefunction(_config())
    params = _params(wavefunction)
    groups = Groups(np.asarray(system.twist_weights))
    per_group, batch_size = 6, 24
    rng = np.random.default_rng(7)
    group = jnp.asarray(groups.assign(batch_size))
    electrons = jnp.asarray(rng.uniform(size=(batch_size, system.n_electrons, 3)))
    nuclei = jnp.broadcast_to(jnp.asarray(system.nuclear_fractional), (batch_size, system.n_nuclei, 3))
    energy = jnp.asarray(rng.normal(size=batch_size) + 3.0 * np.asarray(group))  # the twists' energies differ
    energy = energy.at[5].set(40.0)  # an outlier, clipped within its group
    energy_imag = jnp.asarray(rng.normal(size=batch_size))
    batch = Batch(electrons, nuclei, energy, energy_imag, group)

    def gradient(loss, batch):
        return jax.jit(jax.grad(lambda p, b: loss(p, b)[0]))(params, batch)

    shared = gradient(make_surrogate_loss(wavefunction, 5.0, groups), batch)
    single = make_surrogate_loss(wavefunction, 5.0, SINGLE)
    parts = []
    for t, weight in enumerate(groups.weights):
        rows = slice(t * per_group, (t + 1) * per_group)
        part = gradient(single, Batch(*(x[rows] for x in (electrons, nuclei, energy, energy_imag, group))))
        parts.append(jax.tree.map(lambda g, w=weight: w * g, part))
    expected = jax.tree.map(lambda *g: sum(g), *parts)
    for got, want in zip(jax.tree.leaves(shared), jax.tree.leaves(expected)):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-13)
    # The weighted mean, not the batch mean, is reported.
    _, aux = make_surrogate_loss(wavefunction, 5.0, groups)(params, batch)
    means = [float(jnp.mean(energy[t * per_group : (t + 1) * per_group])) for t in range(4)]
    assert float(aux["energy"]) == pytest.approx(float(groups.weights @ np.asarray(means)), rel=1e-12)


def test_resampling_keeps_every_walker_in_its_group(float64):
    from qsolid.vmc import sampling

    n_groups, per_group = 3, 50
    group = jnp.repeat(jnp.arange(n_groups, dtype=jnp.int32), per_group)
    x = jnp.asarray(np.random.default_rng(0).normal(size=n_groups * per_group))
    walkers = sampling.Walkers(x[:, None, None], x[:, None, None], jnp.zeros_like(x), group)
    # The new |Psi|^2 favours the last walkers of every block strongly: without blocks they would all be copied.
    log_abs_now = jnp.where(jnp.arange(x.size) % per_group >= per_group - 5, 3.0, 0.0)
    new, ess = sampling.resample_after_update(walkers, log_abs_now, jax.random.PRNGKey(1), n_groups)
    np.testing.assert_array_equal(new.group, group)
    source = np.searchsorted(np.asarray(x), np.asarray(new.electrons[:, 0, 0]), sorter=np.argsort(np.asarray(x)))
    np.testing.assert_array_equal(np.argsort(np.asarray(x))[source] // per_group, np.asarray(group))
    assert 3 * 4 < float(ess) < 3 * 6  # about five effective walkers per group


def test_batch_not_divisible_by_the_twists_is_one_clear_error():
    from qsolid.vmc.problem import build_problem

    with pytest.raises(ConfigError, match=r"^sampling\.batch_size: 10 walkers cannot be split equally over 4 twists") as error:
        build_problem(_config(**{"sampling.batch_size": 10, "precision": "float32"}))
    assert "\n" not in str(error.value)


@pytest.mark.slow  # quick lane under 5 minutes: among its slowest (session 11 durations)
def test_checkpoint_keeps_the_groups_and_resumes_to_the_same_step(float64, tmp_path):
    from qsolid.vmc import runstate
    from qsolid.vmc.problem import build_problem
    from qsolid.vmc.train import optimisation_step
    from qsolid import checkpoint, rundir

    config = _config(**{"sampling.batch_size": 8, "sampling.sweeps_per_step": 2, "network.layers": 1})
    problem = build_problem(config)
    logger = rundir.setup_logging(tmp_path)
    state = runstate.initial_state(problem)
    np.testing.assert_array_equal(state.walkers.group, [0, 0, 1, 1, 2, 2, 3, 3])
    state.opt_state = runstate.init_optimiser(problem, state)
    first = optimisation_step(problem, state, logger)
    assert np.isfinite(first["energy_ha"])
    runstate.save_checkpoint(problem, state, tmp_path / "checkpoints")
    loaded = runstate.load_checkpoint(problem, checkpoint.step_path(tmp_path / "checkpoints", 1))
    np.testing.assert_array_equal(loaded.walkers.group, state.walkers.group)
    continued, resumed = optimisation_step(problem, state, logger), optimisation_step(problem, loaded, logger)
    for key in ("energy_ha", "variance_ha2", "kinetic_ha", "virial_pressure_gpa", "acceptance"):
        assert continued[key] == resumed[key], key
    for a, b in zip(jax.tree.leaves(state.params), jax.tree.leaves(loaded.params)):
        np.testing.assert_array_equal(a, b)


def test_a_single_group_is_the_plain_batch_estimator(float64):
    values = jnp.asarray(np.random.default_rng(2).normal(size=16))
    group = jnp.zeros(16, jnp.int32)
    two = Groups(np.array([0.5, 0.5]))
    assert float(SINGLE.mean(values, group)) == float(jnp.mean(values))
    assert float(SINGLE.variance(values, group)) == float(jnp.var(values))
    halves = jnp.asarray(two.assign(16))
    expected = 0.5 * (float(jnp.var(values[:8])) + float(jnp.var(values[8:])))
    assert float(two.variance(values, halves)) == pytest.approx(expected, rel=1e-12)


def test_constant_pressure_judges_each_cell_on_the_twist_averaged_energy(float64):
    """The lattice estimate of a twist set (one network) returns, per candidate cell, sum_t w_t E_t."""
    from qsolid import lattice as lat
    from qsolid.vmc import runstate
    from qsolid.vmc.problem import build_problem

    config = _config(**{"sampling.batch_size": 16, "network.layers": 1, "npt.lattice_mode": "lengths", "npt.pressure_gpa": 100.0})
    problem = build_problem(config)
    groups = Groups(np.asarray(problem.system.twist_weights))
    assert len(groups) == 8  # the cubic grid's 4 twists, reduced only by the orthorhombic symmetry cell moves keep
    state = runstate.initial_state(problem)
    cells = np.stack([state.lattice, lat.lattice_from_parameters(4.0, 3.9, 3.8, 90.0, 90.0, 90.0)])
    walkers, row = problem.estimate_cells(state.params, state.walkers, jax.random.PRNGKey(0), 0.3, 0.05, state.lattice, cells)
    group = groups.assign(16)
    for index, cell in enumerate(cells):
        energy = np.asarray(problem.measure(state.params, walkers, cell).energy)
        means = [float(np.mean(energy[group == t])) for t in range(len(groups))]
        assert float(row[index]) == pytest.approx(float(groups.weights @ np.asarray(means)), rel=1e-12)
    assert len(set(np.round(np.asarray(row[:2]), 6))) == 2  # the two cells differ
