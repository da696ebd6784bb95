"""Ensemble VMC over a set of clamped proton configurations (system.configurations, qsolid.vmc.configurations).

Checked: the set's validation (one-line ConfigErrors naming the field), the group layout (walkers of
configuration c keep its nuclei exactly, every group's twist is its own), the per-configuration means
against a direct computation, a one-configuration set computing exactly what the plain run of that
structure computes, and tiny end-to-end runs (2 configurations of the 2-atom bcc cell) with a held-out
evaluation.
"""

import json
import logging

import numpy as np
import pytest

from qsolid import rundir
from qsolid.cli import main
from qsolid.schema import ConfigError
from qsolid.system import build_system
from qsolid.vmc import configurations, runstate
from qsolid.vmc.config import load_config
from qsolid.vmc.evaluate import per_configuration
from qsolid.vmc.problem import build_problem
from tests.vmc import api_runs

TINY = {**api_runs.TINY_RUN, "system.rs": 1.31, "optimisation.steps": 4, "pretrain.steps": 2, "evaluation.steps": 3}
TWO_TWISTS = [[0.0, 0.0, 0.0], [0.25, 0.25, 0.25]]


def _system(**overrides):
    return build_system(load_config(overrides={**TINY, **overrides}).system)


@pytest.fixture(scope="module")
def sets(tmp_path_factory):
    """Two sets of two displaced 2-atom bcc configurations (sigma 0.15 bohr): training and held out."""
    directory = tmp_path_factory.mktemp("sets")
    system = _system()
    return (
        configurations.gaussian_displacements(system, 2, 0.15, 1, directory / "train.xyz"),
        configurations.gaussian_displacements(system, 2, 0.15, 2, directory / "held_out.xyz"),
    )


def _config(path, **overrides):
    return load_config(overrides={**TINY, "system.configurations": str(path), **overrides})


def test_the_file_round_trips_in_the_system_cell(sets):
    system = _system()
    loaded = configurations.load(sets[0], system)
    assert loaded.shape == (2, 2, 3)
    # extxyz keeps 8 decimals of an angstrom: the displaced positions come back to 1e-8 angstrom
    noise = 0.15 * np.random.default_rng(1).normal(size=(2, 2, 3))
    expected = (system.nuclear_cartesian[None] + noise) @ np.linalg.inv(system.lattice) % 1.0
    np.testing.assert_allclose(loaded, expected, atol=1e-7)


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"system.supercell": [2, 1, 1]}, r"^system\.configurations: '.*' has 2 atoms per configuration, the system 4$"),
        ({"system.rs": 1.5}, r"^system\.configurations: configuration 0 of '.*' is in another cell than the system's"),
        ({"system.nuclei": "quantum"}, r"^system\.configurations: a configuration set is of clamped nuclei"),
        ({"system.twists": {"grid": [2, 2, 2]}}, r"^system\.configurations: a Monkhorst-Pack grid is reduced"),
        ({"npt.lattice_mode": "lengths"}, r"^npt\.lattice_mode: a configuration set is trained at fixed cell"),
        ({"system.twists": TWO_TWISTS, "system.twist_mode": "separate"}, r"^system\.twist_mode: .* set 'shared'$"),
        ({"sampling.batch_size": 5}, r"^sampling\.batch_size: 5 walkers cannot be split equally over 2 configurations x twists"),
        ({"system.structure": "jellium", "system.electrons": 2, "network.ansatz": "slater", "optimisation.steps": 0},
         r"^system\.configurations: jellium has no nuclei"),
    ],
)
def test_an_unusable_set_is_one_clear_error(sets, overrides, message):
    with pytest.raises(ConfigError, match=message) as error:
        build_problem(_config(sets[0], **overrides))
    assert "\n" not in str(error.value)


def test_unreadable_overlapping_or_foreign_files_are_refused(tmp_path):
    system = _system()
    with pytest.raises(ConfigError, match=r"^system\.configurations: no file"):
        configurations.load(tmp_path / "missing.xyz", system)
    (tmp_path / "bad.xyz").write_text("not a structure\n")
    with pytest.raises(ConfigError, match=r"^system\.configurations: cannot read"):
        configurations.load(tmp_path / "bad.xyz", system)
    close = np.array([[[0.0, 0.0, 0.0], [0.05, 0.0, 0.0]]])
    configurations.write_extxyz(tmp_path / "close.xyz", system.lattice, close)
    with pytest.raises(ConfigError, match=r"^system\.configurations: nuclei overlap in configuration 0"):
        configurations.load(tmp_path / "close.xyz", system)
    import ase
    import ase.io

    atoms = ase.Atoms("HLi", scaled_positions=[[0, 0, 0], [0.5, 0.5, 0.5]], cell=system.lattice * 0.529177210903, pbc=True)
    ase.io.write(tmp_path / "lithium.xyz", atoms, format="extxyz")
    with pytest.raises(ConfigError, match=r"only hydrogen is supported"):
        configurations.load(tmp_path / "lithium.xyz", system)


def test_a_bad_set_exits_2_with_one_line_before_anything_is_written(sets, tmp_path, capsys):
    config = tmp_path / "bad.toml"
    config.write_text(f'[system]\nrs = 1.31\nsupercell = [2, 1, 1]\nconfigurations = "{sets[0]}"\n')
    assert main(["run", str(config), "--out", str(tmp_path / "run")]) == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and "system.configurations" in error
    assert not (tmp_path / "run").exists()


@pytest.mark.slow  # quick lane under 5 minutes: among its slowest (session 11 durations)
def test_walkers_keep_their_configuration_and_groups_their_twist(float64, sets):
    """Groups c T + t: the walkers of configuration c hold its nuclei exactly through sampling and an
    optimisation step, and every group is evaluated with its own twist's k-set."""
    from qsolid.vmc.train import optimisation_step

    problem = build_problem(_config(sets[0], **{"precision": "float64", "system.twists": TWO_TWISTS}))
    assert len(problem.groups) == 4
    np.testing.assert_allclose(problem.groups.weights, [0.25] * 4)
    state = runstate.initial_state(problem)
    np.testing.assert_array_equal(state.walkers.group, [0, 0, 1, 1, 2, 2, 3, 3])
    state.opt_state = runstate.init_optimiser(problem, state)
    state = runstate.burn_in(problem, state, 3)
    optimisation_step(problem, state, logging.getLogger("qsolid.test"))
    nuclei = np.asarray(state.walkers.nuclei)
    for walker, group in enumerate(np.asarray(state.walkers.group)):
        np.testing.assert_array_equal(nuclei[walker], problem.configurations[group // 2])
    spec = problem.wavefunction.electron_spec
    for group in range(4):
        np.testing.assert_array_equal(spec.twist[group], problem.system.twists[group % 2])


def test_group_means_are_the_direct_per_configuration_means(float64, sets):
    """The measured group means and the ensemble mean against numpy on the walkers' local energies."""
    problem = build_problem(_config(sets[0], **{"precision": "float64", "system.twists": TWO_TWISTS, "sampling.batch_size": 16}))
    state = runstate.burn_in(problem, runstate.initial_state(problem), 3)
    local = problem.measure(state.params, state.walkers, state.lattice)
    energy, group = np.asarray(local.energy), np.asarray(state.walkers.group)
    direct = np.array([np.mean(energy[group == g]) for g in range(4)])
    np.testing.assert_allclose(problem.groups.means(local.energy, state.walkers.group), direct, rtol=1e-12)
    twist_weights = np.asarray(problem.system.twist_weights)
    per_config = direct.reshape(2, 2) @ twist_weights
    assert float(problem.groups.mean(local.energy, state.walkers.group)) == pytest.approx(np.mean(per_config), rel=1e-12)


def test_per_configuration_entries_reblock_the_twist_averaged_series(sets):
    problem = build_problem(_config(sets[0], **{"system.twists": TWO_TWISTS}))
    rng = np.random.default_rng(3)
    steps = 64
    group_energy = rng.normal(size=(steps, 4)) + np.array([-1.0, -1.1, -1.3, -1.2])
    series = {"group_energy": list(group_energy), "group_energy_sq": list(group_energy**2 + 0.5),
              "group_virial_pressure": list(rng.normal(size=(steps, 4)))}
    out = per_configuration(problem, series, "atom", 2)
    assert out["n_configurations"] == 2 and len(out["per_configuration"]) == 2
    for c, entry in enumerate(out["per_configuration"]):
        expected = np.mean(group_energy[:, 2 * c : 2 * c + 2] @ np.array([0.5, 0.5]))
        assert entry["energy_ha"] == pytest.approx(expected, rel=1e-12)
        assert entry["energy_per_atom_ha"] == pytest.approx(expected / 2, rel=1e-12)
        assert entry["variance_ha2"] == pytest.approx(0.5 + np.mean(np.var(group_energy[:, 2 * c : 2 * c + 2], axis=0)), rel=1e-10)
    for t, entry in enumerate(out["per_twist"]):
        assert entry["energy_ha"] == pytest.approx(np.mean(group_energy[:, [t, 2 + t]]), rel=1e-12)


@pytest.mark.slow
def test_a_one_configuration_set_is_exactly_the_plain_run_of_that_structure(sets, tmp_path):
    """system.structure = F and system.configurations = F (one frame): the same numbers to the last bit,
    Hartree-Fock pretraining, training and evaluation included."""
    system = _system()
    frame = tmp_path / "one.xyz"
    configurations.write_extxyz(frame, system.lattice, configurations.load(sets[0], system)[:1])
    overrides = {**TINY, "system.structure": str(frame), "system.rs": 0.0}
    plain = api_runs.run(tmp_path / "plain", overrides)
    ensemble = api_runs.run(tmp_path / "ensemble", {**overrides, "system.configurations": str(frame)})
    plain_stats, ensemble_stats = (rundir.read_stats(tmp_path / name / "stats.csv") for name in ("plain", "ensemble"))
    for column in plain_stats:
        if column != "seconds":  # wall time; NaN columns compare equal here
            np.testing.assert_array_equal(plain_stats[column], ensemble_stats[column], err_msg=column)
    for key in ("energy_ha", "energy_error_ha", "variance_ha2", "virial_pressure_gpa"):
        assert plain[key] == ensemble[key], key
    # PySCF's complex (twisted) SCF is reproducible to ~1e-15 between calls, not to the last bit: seen
    # -1.4980495689136655 against -1.498049568913665 at the Baldereschi point
    assert plain["hartree_fock_energy_ha"] == pytest.approx(ensemble["hartree_fock_energy_ha"], rel=1e-13)
    entry = ensemble["per_configuration"][0]
    assert entry["energy_ha"] == pytest.approx(plain["energy_ha"], rel=1e-12)


@pytest.fixture(scope="module")
def ensemble_run(sets, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("ensemble") / "run"
    return run_dir, api_runs.run(run_dir, {**TINY, "system.configurations": str(sets[0])})


@pytest.mark.slow
def test_two_configurations_end_to_end_then_held_out(ensemble_run, sets, capsys):
    run_dir, summary = ensemble_run
    assert summary["n_configurations"] == 2 and summary["configurations_file"] == str(sets[0])
    entries = summary["per_configuration"]
    assert [e["configuration"] for e in entries] == [0, 1]
    # the ensemble series is the float32 step mean, the entries reblock float64 sums of float32 group means
    assert summary["energy_ha"] == pytest.approx(np.mean([e["energy_ha"] for e in entries]), rel=1e-6)
    hartree_fock = json.loads((run_dir / "hartree_fock.json").read_text())["per_configuration_energy_ha"]
    assert len(set(hartree_fock)) == 2  # each configuration its own Hartree-Fock
    assert [e["hartree_fock_energy_per_atom_ha"] for e in entries] == [e / 2 for e in hartree_fock]
    before = (run_dir / "evaluation.json").read_text()
    assert main(["evaluate", str(run_dir), "--configurations", str(sets[1]), "--steps", "2"]) == 0
    printed = capsys.readouterr().out
    assert "2 configurations of" in printed and "configuration 1:" in printed
    held_out = json.loads((run_dir / "held_out-held_out" / "evaluation.json").read_text())
    assert held_out["configurations_file"] == str(sets[1]) and held_out["evaluation_steps"] == 2
    assert all(np.isfinite(e["energy_per_atom_ha"]) for e in held_out["per_configuration"])
    assert (run_dir / "evaluation.json").read_text() == before  # the run's own evaluation is untouched


@pytest.mark.slow
def test_mpnn_with_adam_over_a_set_with_two_twists(sets, tmp_path):
    tiny_mpnn = {key: value for key, value in TINY.items() if not key.startswith("network.")} | {
        "network.ansatz": "mpnn", "network.mpnn_node_width": 8, "network.mpnn_edge_width": 4, "network.determinants": 1,
    }
    summary = api_runs.run(tmp_path / "run", {
        **tiny_mpnn, "system.configurations": str(sets[0]), "optimisation.optimiser": "adam", "system.twists": TWO_TWISTS,
    })
    assert len(summary["per_configuration"]) == 2 and len(summary["per_twist"]) == 2
    assert all(np.isfinite(e["energy_ha"]) for e in summary["per_configuration"] + summary["per_twist"])


def test_from_samples_draws_distinct_configurations(tmp_path):
    system = _system()
    frames = (system.nuclear_fractional[None] + 0.01 * np.arange(6)[:, None, None]) % 1.0
    np.savez(tmp_path / "samples.npz", protons_frac=frames[:, None], lattice_bohr=system.lattice, numbers=np.ones(2, int))
    path = configurations.from_samples(tmp_path, 4, 0, tmp_path / "drawn.xyz")
    drawn = configurations.load(path, system)
    assert len(drawn) == 4 and len({tuple(np.round(f.ravel(), 6)) for f in drawn}) == 4
    for frame in drawn:
        assert np.min(np.abs(frames - frame[None]).max(axis=(1, 2))) < 1e-7
    direct = configurations.load(tmp_path / "samples.npz", system)  # a samples.npz is a set itself
    np.testing.assert_array_equal(direct, frames)
    with pytest.raises(ConfigError, match=r"^count: .* holds 6 configurations, fewer than 7"):
        configurations.from_samples(tmp_path, 7, 0, tmp_path / "more.xyz")
