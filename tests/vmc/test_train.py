"""The training driver: resume reproduces an uninterrupted run, walkers shard over devices,
checkpoints move between device counts, and the step width stays bounded."""

import dataclasses
import json
import os
import re
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from qsolid import checkpoint, rundir
from qsolid.vmc import runstate, sampling, train
from qsolid.vmc.config import load_config
from qsolid.vmc.problem import build_problem
from tests.vmc import api_runs
from tests.devices import cpu_devices_environment

TINY = {
    **api_runs.TINY_RUN,
    "sampling.resample_after_update": True,
    "optimisation.steps": 6,
    "pretrain.steps": 0,
    "evaluation.steps": 4,
}


def _run(run_dir, stop_after=None, monkeypatch=None, overrides=TINY):
    """qsolid.run through the Python API: a new run, or a resumed one when run_dir holds a config."""
    return api_runs.run(run_dir, overrides, stop_after, monkeypatch)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("uninterrupted")
    summary = _run(run_dir)
    return run_dir, summary


@pytest.mark.slow
def test_interrupted_and_resumed_run_reproduces_uninterrupted_run(uninterrupted, tmp_path, monkeypatch):
    reference_dir, reference = uninterrupted
    run_dir = tmp_path / "interrupted"
    assert _run(run_dir, stop_after=3, monkeypatch=monkeypatch) is None  # stopped after step 3
    monkeypatch.undo()
    summary = _run(run_dir)
    assert summary["steps"] == reference["steps"] == TINY["optimisation.steps"]
    stats = rundir.read_stats(run_dir / "stats.csv")
    expected = rundir.read_stats(reference_dir / "stats.csv")
    assert stats["step"] == expected["step"]
    np.testing.assert_array_equal(stats["energy_ha"], expected["energy_ha"])
    assert summary["energy_ha"] == reference["energy_ha"]


@pytest.mark.slow
def test_spring_run_resumes_exactly_with_its_momentum(tmp_path, monkeypatch):
    """SPRING carries its previous direction in the optimiser state: a run stopped after step 3 and
    resumed from its checkpoint repeats the uninterrupted run's energies bit for bit."""
    overrides = {**TINY, "optimisation.optimiser": "spring"}
    reference = _run(tmp_path / "whole", overrides=overrides)
    assert _run(tmp_path / "parts", stop_after=3, monkeypatch=monkeypatch, overrides=overrides) is None
    monkeypatch.undo()
    resumed = _run(tmp_path / "parts", overrides=overrides)
    expected = rundir.read_stats(tmp_path / "whole" / "stats.csv")["energy_ha"]
    np.testing.assert_array_equal(rundir.read_stats(tmp_path / "parts" / "stats.csv")["energy_ha"], expected)
    assert resumed["energy_ha"] == reference["energy_ha"] and np.ptp(expected) > 0


def test_summary_has_the_documented_keys(uninterrupted):
    run_dir, summary = uninterrupted
    for key in ("n_atoms", "energy_ha", "energy_error_ha", "energy_per_atom_ha", "variance_ha2", "steps", "seconds_per_step"):
        assert key in summary
    evaluation = json.loads((run_dir / "evaluation.json").read_text())
    for key in ("kinetic_ha", "kinetic_error_ha", "potential_ha", "potential_error_ha", "dipole_sq_bohr2"):
        assert key in evaluation
    np.testing.assert_allclose(evaluation["kinetic_ha"] + evaluation["potential_ha"], evaluation["energy_ha"], rtol=1e-5)


@pytest.mark.slow
def test_two_devices_then_resume_on_one(uninterrupted, tmp_path):
    """Walkers sharded over 2 emulated CPU devices; the checkpoint then resumes on 1 device."""
    run_dir = tmp_path / "two_devices"
    script = textwrap.dedent(
        f"""
        import jax, pathlib, pytest
        assert len(jax.devices()) == 2
        import tests.vmc.test_train as t
        mp = pytest.MonkeyPatch()
        summary = t._run(pathlib.Path({str(run_dir)!r}), stop_after=3, monkeypatch=mp)
        assert summary is None
        """
    )
    env = cpu_devices_environment(2)
    subprocess.run([sys.executable, "-c", script], check=True, env=env, cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    assert len(jax.devices()) == 1
    summary = _run(run_dir)
    assert summary["steps"] == TINY["optimisation.steps"]
    stats = rundir.read_stats(run_dir / "stats.csv")
    expected = rundir.read_stats(uninterrupted[0] / "stats.csv")
    # Same seed, same numbers up to the order of the cross-device sums (float32).
    np.testing.assert_allclose(stats["energy_ha"], expected["energy_ha"], rtol=1e-3)
    assert "written on 2 devices; its walkers are split over the 1 devices" in (run_dir / "qsolid.log").read_text()


def test_float32_checkpoint_resumes_in_float64(uninterrupted):
    """A run's precision can be raised to check that its energies are not precision-limited."""
    from qsolid import checkpoint

    path = checkpoint.latest(uninterrupted[0] / "checkpoints")
    energies = {}
    for precision in ("float32", "float64"):
        problem = build_problem(load_config(overrides={**TINY, "precision": precision}))
        state = runstate.load_checkpoint(problem, path)
        floats = [x for x in jax.tree.leaves((state.params, state.opt_state)) if jnp.issubdtype(x.dtype, jnp.floating)]
        assert floats and all(x.dtype == problem.dtype for x in floats)
        energies[precision] = np.asarray(problem.measure(state.params, state.walkers, state.lattice).energy)
    np.testing.assert_allclose(energies["float64"], energies["float32"], rtol=1e-4)


def test_step_width_stays_bounded_when_acceptance_never_reaches_target():
    """2-atom bcc cell: even huge moves are often accepted, so an unreachable target must not grow the step forever."""
    config = load_config(overrides={**TINY, "sampling.target_acceptance": 0.01})
    problem = build_problem(config)
    state = runstate.initial_state(problem)
    for step in range(300):
        walkers, acceptance, _ = runstate.sample(problem, state, state.params, jax.random.PRNGKey(step), 2)
        state.walkers = walkers
        train.adapt(problem, state, float(acceptance), 0.0)
    assert float(acceptance) > 0.01
    assert state.electron_step_bohr == pytest.approx(problem.max_step_bohr)
    assert problem.max_step_bohr <= 0.5 * 3.77945227
    assert np.all((np.asarray(state.walkers.electrons) >= 0) & (np.asarray(state.walkers.electrons) < 1))
    energies = np.asarray(problem.measure(state.params, state.walkers, state.lattice).energy)
    assert np.all(np.isfinite(energies))


def test_a_step_that_keeps_failing_stops_with_what_to_do_next(tmp_path):
    """Every attempt poisoned: after MAX_CONSECUTIVE_REWINDS the run stops with a TrainingFailed that says why and
    how to go on (a resume would repeat the same steps)."""
    problem = build_problem(load_config(overrides=TINY))
    state = runstate.initial_state(problem)
    state.opt_state = runstate.init_optimiser(problem, state)
    step = problem.optimisation_step

    def poisoned(params, opt_state, walkers, *args):
        return step(params, opt_state, dataclasses.replace(walkers, electrons=walkers.electrons.at[0].set(jnp.nan)), *args)

    problem = dataclasses.replace(problem, optimisation_step=poisoned)
    with pytest.raises(train.TrainingFailed) as failure:
        train.optimisation_step(problem, state, rundir.setup_logging(tmp_path))
    message = str(failure.value)
    assert re.match(rf"step 0: {train.MAX_CONSECUTIVE_REWINDS} consecutive rewinds, the last because \d+ non-finite local energies; ",
                    message)
    assert "qsolid evaluate RUN_DIR" in message and "optimisation.learning_rate" in message and "\n" not in message
    assert state.rewinds == train.MAX_CONSECUTIVE_REWINDS


def test_jitted_resampling_leaves_current_log_psi_on_the_walker_mesh():
    """problem.resample returns walkers of the old batch whose cached log|Psi| is that of the new
    parameters (the sweeps that follow skip recomputing it) and that stay sharded by walker."""
    problem = build_problem(load_config(overrides={**TINY, "precision": "float64"}))
    state = runstate.initial_state(problem)
    updated = jax.tree.map(lambda x: 1.01 * x if jnp.issubdtype(x.dtype, jnp.floating) else x, state.params)
    walkers, ess = problem.resample(updated, state.walkers, jax.random.PRNGKey(0))
    np.testing.assert_allclose(walkers.log_abs, problem.log_abs(updated, walkers), rtol=0, atol=1e-12)
    old = {tuple(np.round(np.asarray(x).ravel(), 12)) for x in state.walkers.electrons}
    assert all(tuple(np.round(np.asarray(x).ravel(), 12)) in old for x in walkers.electrons)
    assert 1.0 <= float(ess) <= 8.0
    assert walkers.electrons.sharding.is_equivalent_to(problem.walker_sharding, walkers.electrons.ndim)


def test_non_finite_local_energy_is_rewound(tmp_path):
    """A walker at NaN gives non-finite local energies: the compiled step itself returns its inputs
    unchanged with its kept flag down, and the driver retries the step with a fresh key."""
    from qsolid.vmc.step import STEP_STATS

    config = load_config(overrides=TINY)
    problem = build_problem(config)
    state = runstate.initial_state(problem)
    state.opt_state = runstate.init_optimiser(problem, state)
    step, calls = problem.optimisation_step, []

    def poisoned(params, opt_state, walkers, *args):
        if not calls:
            walkers = dataclasses.replace(walkers, electrons=walkers.electrons.at[0].set(jnp.nan))
        inputs = jax.tree.map(np.asarray, (params, opt_state, walkers))
        outputs = step(params, opt_state, walkers, *args)
        calls.append((inputs, jax.tree.map(np.asarray, outputs)))
        return outputs

    problem = dataclasses.replace(problem, optimisation_step=poisoned)
    before = jax.tree.map(np.asarray, state.params)
    row = train.optimisation_step(problem, state, rundir.setup_logging(tmp_path))
    assert len(calls) == 2 and state.rewinds == 1 and np.isfinite(row["energy_ha"])
    (inputs, (*returned, stats)), (_, (*_, kept_stats)) = calls
    rewound = dict(zip(STEP_STATS, stats))
    assert rewound["kept"] == 0 and rewound["non_finite_energies"] >= 1 and dict(zip(STEP_STATS, kept_stats))["kept"] == 1
    jax.tree.map(lambda a, b: np.testing.assert_array_equal(a, b), tuple(returned), inputs)  # NaN == NaN here
    changed = jax.tree.map(lambda a, b: not np.array_equal(a, np.asarray(b)), before, state.params)
    assert any(jax.tree.leaves(changed))


@pytest.mark.parametrize("kinetic_bo, kept", [(-1.0, False), (+1.0, True)])
def test_walkers_that_do_not_sample_psi_squared_are_rewound_and_keep_moving(kinetic_bo, kept):
    """A batch whose mean nuclear kinetic energy lies many standard errors below zero (impossible over
    |Psi|^2) keeps the parameters and optimiser state but not the walkers' old positions: the retry
    continues the chain. A positive one is kept. The compiled step with stand-in sweeps, energies and
    optimiser."""
    from qsolid.distributed import walker_shardings
    from qsolid.vmc.groups import SINGLE
    from qsolid.vmc.hamiltonian import LocalEnergy
    from qsolid.vmc.step import EQUILIBRIUM_SIGMAS, STEP_STATS, make_optimisation_step

    config = load_config(overrides={**TINY, "sampling.resample_after_update": False})
    batch = config.sampling.batch_size
    walker_sharding, replicated = walker_shardings()

    def sweeps(params, walkers, key, electron_step, nuclear_step, lattice, sweeps, refresh_log_abs):
        return dataclasses.replace(walkers, electrons=walkers.electrons + 0.01), 0.5, 0.5

    def local_energies(params, walkers, lattice):
        spread = 0.1 * jnp.linspace(-1.0, 1.0, batch)
        nuclear = kinetic_bo + spread
        return LocalEnergy(energy=2.0 + spread + nuclear, energy_imag=jnp.zeros(batch), kinetic=2.0 + spread + nuclear,
                           potential=jnp.zeros(batch), kinetic_bo=nuclear, kinetic_nonbo=jnp.zeros(batch))

    def optimiser_step(params, opt_state, key, batch):
        return jax.tree.map(lambda x: x + 1.0, params), opt_state + 1.0

    step = make_optimisation_step(config, SINGLE, sweeps, None, local_energies, optimiser_step, walker_sharding, replicated)
    walkers = sampling.Walkers(jnp.zeros((batch, 2, 3)), jnp.zeros((batch, 2, 3)), jnp.zeros(batch), jnp.zeros(batch, jnp.int32))
    params, opt_state, moved, row = step({"w": jnp.zeros(3)}, jnp.zeros(()), walkers, 0, 0, 0.1, 0.1, jnp.eye(3))
    stats = dict(zip(STEP_STATS, np.asarray(row)))
    assert bool(stats["kept"]) == kept
    assert (stats["nuclear_kinetic_z"] <= -EQUILIBRIUM_SIGMAS) == (not kept) and stats["electron_kinetic_z"] > 0
    np.testing.assert_array_equal(np.asarray(params["w"]), np.full(3, 1.0 if kept else 0.0))
    np.testing.assert_allclose(np.asarray(moved.electrons), 0.01)  # moved on either way
    assert ("nuclear kinetic energy" in train.rewind_reason(stats)) == (not kept)


@pytest.mark.slow
def test_float64_adam_run_then_evaluate_and_plot_commands(tmp_path, capsys):
    from qsolid.cli import main

    overrides = {**TINY, "precision": "float64", "optimisation.optimiser": "adam", "optimisation.learning_rate": 1e-3}
    run_dir = tmp_path / "adam64"
    summary = _run(run_dir, overrides=overrides)
    assert np.isfinite(summary["energy_ha"])
    assert main(["evaluate", str(run_dir), "--steps", "8"]) == 0
    evaluation = json.loads((run_dir / "evaluation.json").read_text())
    assert evaluation["evaluation_steps"] == 8
    # the extended evaluation's corrections follow its raw values, in evaluation.json and summary.json alike
    extended = json.loads((run_dir / "summary.json").read_text())
    for record in (evaluation, extended):
        shift = record["energy_per_atom_corrected_ha"] - record["energy_per_atom_ha"]
        assert shift == pytest.approx(record["finite_size_energy_per_atom_ha"], rel=1e-12) and shift > 0
        assert record["energy_per_atom_ha"] == evaluation["energy_per_atom_ha"] != summary["energy_per_atom_ha"]
    assert main(["plot", str(run_dir)]) == 0
    assert (run_dir / "plots" / "training.png").stat().st_size > 10_000
    assert main(["evaluate", str(tmp_path / "missing")]) == 2
    assert "not a qsolid run directory" in capsys.readouterr().err


NPT = {
    **TINY,
    "npt.lattice_mode": "lengths",
    "npt.pressure_gpa": 100.0,
    "npt.warmup_steps": 2,
    "npt.lattice_steps": 2,
    "npt.wavefunction_steps": 2,
    "npt.cycles": 2,
    "npt.annealing_steps_per_lattice_step": 2,
    "npt.reestimate_current": True,  # the main job's correlated sampling of G and G'
}


@pytest.mark.slow
def test_constant_pressure_run_resumes_mid_lattice_stage(tmp_path, monkeypatch):
    from qsolid.cli import main
    from qsolid.units import gpa_to_ha_bohr3

    reference_dir = tmp_path / "npt"
    reference = _run(reference_dir, overrides=NPT)
    run_dir = tmp_path / "npt_interrupted"
    assert _run(run_dir, stop_after=3, monkeypatch=monkeypatch, overrides=NPT) is None  # inside the first lattice stage
    monkeypatch.undo()
    summary = _run(run_dir, overrides=NPT)
    stats, expected = rundir.read_stats(run_dir / "stats.csv"), rundir.read_stats(reference_dir / "stats.csv")
    assert stats["stage"] == expected["stage"] == ["warmup"] * 2 + ["lattice"] * 2 + ["wavefunction"] * 2 + ["lattice"] * 2 + ["wavefunction"] * 2
    for column in ("enthalpy_ha", "a_bohr", "b_bohr", "c_bohr", "volume_per_atom_bohr3"):
        np.testing.assert_array_equal(stats[column], expected[column])
    assert summary["volume_per_atom_bohr3"] == reference["volume_per_atom_bohr3"]
    # G_loc = E_loc + P Omega in wavefunction steps, and the angles never move in "lengths" mode.
    pressure = gpa_to_ha_bohr3(100.0)
    for row in range(len(stats["step"])):
        if stats["stage"][row] != "lattice":
            volume = stats["volume_per_atom_bohr3"][row] * 2
            np.testing.assert_allclose(stats["enthalpy_ha"][row], stats["energy_ha"][row] + pressure * volume, rtol=1e-12)
    assert set(stats["alpha_deg"]) == {90.0}
    for key in ("pressure_gpa", "enthalpy_per_atom_ha", "volume_per_atom_a3", "lattice_abc_bohr", "lattice_angles_deg"):
        assert key in summary
    np.testing.assert_allclose(np.prod(summary["lattice_abc_bohr"]) / 2, summary["volume_per_atom_bohr3"], rtol=1e-12)
    assert (run_dir / "final.cif").is_file()
    assert main(["plot", str(run_dir)]) == 0
    assert (run_dir / "plots" / "cell.png").is_file()


@pytest.mark.slow  # quick lane under 5 minutes: among its slowest (session 11 durations)
def test_virial_pressure_is_minus_dE_dOmega_of_the_scaled_cell(float64):
    """For Psi fixed in the unit cube (Eq. S5), E_loc(lambda L) = K_loc / lambda^2 + V_loc / lambda for
    every walker (Eq. S3 metric; Ewald is homogeneous of degree -1), so the virial pressure equals
    -dE/dOmega: checked by central differences, electrons and protons quantum, triclinic cell."""
    from qsolid import lattice as lat
    from qsolid.vmc.runstate import initial_state
    from qsolid.vmc.train import virial_pressure_gpa
    from qsolid.units import ha_bohr3_to_gpa
    from qsolid.vmc.problem import build_problem

    problem = build_problem(
        load_config(overrides={**TINY, "precision": "float64", "system.supercell": [2, 1, 1], "system.nuclei": "quantum"})
    )
    state = initial_state(problem)
    walkers, _, _ = problem.sample(state.params, state.walkers, jax.random.PRNGKey(2), 0.3, 0.05, state.lattice, sweeps=20)
    lattice = lat.lattice_from_parameters(*lat.parameters_from_lattice(state.lattice)[:3], 80.0, 95.0, 105.0)
    h = 1e-4
    energies = [np.mean(np.asarray(problem.measure(state.params, walkers, s * lattice).energy)) for s in (1 + h, 1 - h)]
    volumes = [lat.volume(s * lattice) for s in (1 + h, 1 - h)]
    finite_difference = -(energies[0] - energies[1]) / (volumes[0] - volumes[1])
    estimate = virial_pressure_gpa(problem.measure(state.params, walkers, lattice), lattice)
    np.testing.assert_allclose(estimate, ha_bohr3_to_gpa(finite_difference), rtol=1e-6)


@pytest.mark.slow
def test_main_job_shortened_runs_end_to_end(tmp_path, capsys):
    """The built-in main job (8-atom H2 crystal, quantum protons, paired annealing at 130 GPa),
    with a tiny network and schedule: writes the enthalpy, volume, final.cif and evaluation."""
    import tomli_w

    from qsolid.cli import main
    import tomllib

    from qsolid.vmc.config import MAIN_JOB_PATH

    job = tomllib.loads(MAIN_JOB_PATH.read_text())
    job["network"].update({"one_electron_width": 8, "two_electron_width": 4, "layers": 1, "determinants": 1, "nuclear_width": 4})
    job["sampling"] = {"batch_size": 8, "burn_in_sweeps": 5, "sweeps_per_step": 2}
    job["npt"].update({"warmup_steps": 2, "lattice_steps": 2, "wavefunction_steps": 1, "cycles": 1})
    job["pretrain"] = {"steps": 0}
    job["evaluation"] = {"steps": 4}
    path = tmp_path / "job.toml"
    path.write_text(tomli_w.dumps(job))
    assert main(["run", str(path), "--out", str(tmp_path / "run")]) == 0
    assert "at 130 GPa: H = E + P Omega" in capsys.readouterr().out
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["n_atoms"] == 8 and summary["pressure_gpa"] == 130.0
    assert np.isfinite(summary["virial_pressure_gpa"]) and np.isfinite(summary["kinetic_bo_ha"])
    stats = rundir.read_stats(tmp_path / "run" / "stats.csv")
    assert stats["stage"] == ["warmup"] * 2 + ["lattice"] * 2 + ["wavefunction"]
    assert (tmp_path / "run" / "final.cif").is_file() and (tmp_path / "run" / "mean_positions.cif").is_file()
    assert (tmp_path / "run" / "plots" / "training.png").is_file()
    report = (tmp_path / "run" / "report.md").read_text()
    assert "Boundary condition: baldereschi [0.25, 0.25, 0.25]" in report and "finite-size" in report  # the crystal default
    assert ("still moving" in report) != ("(converged)" in report)
    assert summary["boundary_condition"] == "baldereschi [0.25, 0.25, 0.25]" and summary["cell_converged"] in (True, False)
    assert summary["energy_per_atom_corrected_ha"] > summary["energy_per_atom_ha"]  # omega_p / 2 per cell is added
    # The potential part measured from S(k) on the smallest shell, beside the leading-order one.
    assert summary["structure_factor"][0]["s"] > 0 and "energy_per_atom_corrected_sk_ha" in summary
    assert "from S(k)" in report


def test_checkpoint_with_a_foreign_optimiser_state_evaluates_but_does_not_resume(uninterrupted, tmp_path, capsys):
    """A run saved by an earlier optimiser layout: `evaluate` ignores the optimiser state, resuming
    refuses with one line instead of a traceback."""
    import shutil

    from qsolid import checkpoint
    from qsolid.cli import main

    run_dir = tmp_path / "old"
    shutil.copytree(uninterrupted[0], run_dir)
    path = checkpoint.latest(run_dir / "checkpoints")
    arrays, metadata = checkpoint.load_arrays(path)
    renamed = {key.replace("opt_state/0/", "opt_state/"): value for key, value in arrays.items()}
    checkpoint.save(path, renamed, {**metadata, "step": metadata["step"] - 1})  # so the run is unfinished
    assert main(["run", "--resume", str(run_dir)]) == 2
    assert "does not fit this version's optimiser" in capsys.readouterr().err
    assert main(["evaluate", str(run_dir), "--steps", "2"]) == 0


def test_joint_moves_adapt_both_widths_together():
    """One acceptance rate for electrons and nuclei: both widths move by the same factor."""
    problem = build_problem(load_config(overrides={**TINY, "system.nuclei": "quantum", "sampling.sampler": "joint"}))
    state = runstate.initial_state(problem)
    ratio = state.electron_step_bohr / state.nuclear_step_bohr
    for acceptance in (0.52, 0.52, 0.9, 0.52):  # between the nuclear (0.5) and electron (0.55) targets
        train.adapt_steps(problem, state, acceptance, acceptance)
    assert state.electron_step_bohr / state.nuclear_step_bohr == pytest.approx(ratio, rel=1e-12)


@pytest.mark.slow
def test_truncated_newest_checkpoint_resumes_from_the_previous_one(uninterrupted, tmp_path, monkeypatch, capsys):
    """Stop part-way (checkpoints every 2 steps and at the stop), truncate the newest checkpoint:
    the resume starts from the one before and still reproduces the uninterrupted run exactly."""
    overrides = {**TINY, "output.checkpoint_every": 2}
    run_dir = tmp_path / "truncated"
    assert _run(run_dir, stop_after=3, monkeypatch=monkeypatch, overrides=overrides) is None
    monkeypatch.undo()
    *_, previous, newest = sorted((run_dir / "checkpoints").glob("step_*.npz"))
    newest.write_bytes(newest.read_bytes()[:1000])
    summary = _run(run_dir, overrides=overrides)
    log = (run_dir / "qsolid.log").read_text()
    assert f"skipping corrupt checkpoint {newest.name}" in log and f"using {previous.name}" in log
    expected = rundir.read_stats(uninterrupted[0] / "stats.csv")
    stats = rundir.read_stats(run_dir / "stats.csv")
    assert stats["step"] == expected["step"]
    np.testing.assert_array_equal(stats["energy_ha"], expected["energy_ha"])
    assert summary["energy_ha"] == uninterrupted[1]["energy_ha"]


@pytest.mark.slow
def test_a_kill_during_the_burn_in_keeps_the_pretraining(tmp_path, monkeypatch):
    """Pretraining is checkpointed before the burn-in: a run killed there resumes without pretraining
    again and reproduces the uninterrupted run."""
    overrides = {**TINY, "pretrain.steps": 3, "pretrain.basis": "sto-3g"}
    reference = _run(tmp_path / "straight", overrides=overrides)
    original = runstate.burn_in

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(runstate, "burn_in", killed)
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path / "killed", overrides=overrides)
    _, metadata = checkpoint.load_arrays(tmp_path / "killed" / "checkpoints" / "step_00000000.npz")
    assert metadata["pretrained"] and not metadata["burned_in"]
    monkeypatch.setattr(runstate, "burn_in", original)
    summary = _run(tmp_path / "killed", overrides=overrides)
    assert "pretrain step" not in (tmp_path / "killed" / "qsolid.log").read_text().split("resumed from")[-1]
    assert summary["energy_ha"] == reference["energy_ha"]
