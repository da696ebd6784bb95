"""The training driver: resume reproduces an uninterrupted run, walkers shard over devices,
checkpoints move between device counts, and the step width stays bounded."""

import dataclasses
import json
import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from qsolid import rundir, sampling, train
from qsolid.commands import run_to_completion
from qsolid.config import load_config
from qsolid.vmc import build_problem

TINY = {
    "network.one_electron_width": 8,
    "network.two_electron_width": 4,
    "network.layers": 1,
    "network.determinants": 1,
    "sampling.batch_size": 8,
    "sampling.burn_in_sweeps": 5,
    "sampling.sweeps_per_step": 2,
    "sampling.adapt_every": 2,
    "optimisation.steps": 6,
    "pretrain.steps": 0,
    "evaluation.steps": 4,
    "output.checkpoint_every": 100,
}


def _run(run_dir, stop_after=None, monkeypatch=None, overrides=TINY):
    config = load_config(overrides=overrides)
    problem = build_problem(config)
    run_dir.mkdir(exist_ok=True)
    import tomli_w

    from qsolid.schema import to_dict

    rundir.atomic_write_text(run_dir / "config.toml", tomli_w.dumps(to_dict(config)))
    if stop_after is not None:
        calls = {"n": 0}

        class StopAfter(rundir.StopRequest):
            @property
            def requested(self):
                calls["n"] += 1
                return calls["n"] >= stop_after

            @requested.setter
            def requested(self, value):
                pass

        monkeypatch.setattr(train, "StopRequest", StopAfter)
    return run_to_completion(problem, run_dir, rundir.setup_logging(run_dir))


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("uninterrupted")
    summary = _run(run_dir)
    return run_dir, summary


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


def test_summary_has_the_documented_keys(uninterrupted):
    run_dir, summary = uninterrupted
    for key in ("n_atoms", "energy_ha", "energy_error_ha", "energy_per_atom_ha", "variance_ha2", "steps", "seconds_per_step"):
        assert key in summary
    evaluation = json.loads((run_dir / "evaluation.json").read_text())
    for key in ("kinetic_ha", "kinetic_error_ha", "potential_ha", "potential_error_ha", "dipole_sq_bohr2"):
        assert key in evaluation
    np.testing.assert_allclose(evaluation["kinetic_ha"] + evaluation["potential_ha"], evaluation["energy_ha"], rtol=1e-5)


def test_two_devices_then_resume_on_one(uninterrupted, tmp_path):
    """Walkers sharded over 2 emulated CPU devices; the checkpoint then resumes on 1 device."""
    run_dir = tmp_path / "two_devices"
    script = textwrap.dedent(
        f"""
        import jax, pathlib, pytest
        assert len(jax.devices()) == 2
        import tests.test_train as t
        mp = pytest.MonkeyPatch()
        summary = t._run(pathlib.Path({str(run_dir)!r}), stop_after=3, monkeypatch=mp)
        assert summary is None
        """
    )
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2", "JAX_PLATFORMS": "cpu"}
    subprocess.run([sys.executable, "-c", script], check=True, env=env, cwd=os.path.dirname(os.path.dirname(__file__)))
    assert len(jax.devices()) == 1
    summary = _run(run_dir)
    assert summary["steps"] == TINY["optimisation.steps"]
    stats = rundir.read_stats(run_dir / "stats.csv")
    expected = rundir.read_stats(uninterrupted[0] / "stats.csv")
    # Same seed, same numbers up to the order of the cross-device sums (float32).
    np.testing.assert_allclose(stats["energy_ha"], expected["energy_ha"], rtol=1e-3)


def test_step_width_stays_bounded_when_acceptance_never_reaches_target():
    """2-atom bcc cell: even huge moves are often accepted, so an unreachable target must not grow the step forever."""
    config = load_config(overrides={**TINY, "sampling.target_acceptance": 0.01})
    problem = build_problem(config)
    state = train.initial_state(problem)
    for step in range(300):
        walkers, acceptance = problem.sample(state.params, state.walkers, jax.random.PRNGKey(step), state.step_width_bohr, 2)
        state.walkers = walkers
        train._adapt(problem, state, float(acceptance))
    assert float(acceptance) > 0.01
    assert state.step_width_bohr == pytest.approx(problem.max_step_bohr)
    assert problem.max_step_bohr <= 0.5 * 3.77945227
    assert np.all((np.asarray(state.walkers.electrons) >= 0) & (np.asarray(state.walkers.electrons) < 1))
    energies = np.asarray(problem.measure(state.params, state.walkers).energy)
    assert np.all(np.isfinite(energies))


def test_non_finite_local_energy_is_rewound(tmp_path, monkeypatch):
    config = load_config(overrides=TINY)
    problem = build_problem(config)
    state = train.initial_state(problem)
    state.opt_state = train.init_optimiser(problem, state)
    measure, calls = problem.measure, {"n": 0}

    def poisoned(params, walkers):
        calls["n"] += 1
        local = measure(params, walkers)
        return dataclasses.replace(local, energy=local.energy.at[0].set(jnp.nan)) if calls["n"] == 1 else local

    problem = dataclasses.replace(problem, measure=poisoned)
    before = jax.tree.map(np.asarray, state.params)
    row = train.optimisation_step(problem, state, rundir.setup_logging(tmp_path))
    assert state.rewinds == 1 and np.isfinite(row["energy_ha"])
    changed = jax.tree.map(lambda a, b: not np.array_equal(a, np.asarray(b)), before, state.params)
    assert any(jax.tree.leaves(changed))
