"""Every hot-loop function compiles once: after the first step of each kind, further steps
(fixed cell with clamped and quantum nuclei, constant pressure in lattice and wavefunction
stages, and a run resumed from a checkpoint) trigger no XLA compilation at all."""

import pytest

from qsolid import rundir
from qsolid.vmc import runstate, train
from qsolid.vmc.config import load_config
from qsolid.profiling import count_compilations
from qsolid.vmc.problem import build_problem

TINY = {
    "precision": "float32",
    "network.one_electron_width": 8,
    "network.two_electron_width": 4,
    "network.layers": 1,
    "network.determinants": 1,
    "network.nuclear_width": 4,
    "network.nuclear_layers": 1,
    "sampling.batch_size": 8,
    "sampling.sweeps_per_step": 2,
    "sampling.adapt_every": 1,  # the step widths change every step: new values, same program
    "pretrain.steps": 0,
}
NPT = {
    **TINY,
    "npt.lattice_mode": "lengths",
    "npt.pressure_gpa": 100.0,
    "npt.move_width": 0.02,
    "npt.warmup_steps": 1,
    "npt.lattice_steps": 2,
    "npt.wavefunction_steps": 2,
    "npt.cycles": 2,
    "npt.annealing_steps_per_lattice_step": 2,
}


def _advance(problem, state, logger, steps):
    for _ in range(steps):
        step = train.lattice_step if train.stage_name(problem, state.step) == "lattice" else train.optimisation_step
        step(problem, state, logger)


def _start(overrides, tmp_path):
    problem = build_problem(load_config(overrides=overrides))
    state = runstate.burn_in(problem, runstate.initial_state(problem), 2)
    state.opt_state = runstate.init_optimiser(problem, state)
    return problem, state, rundir.setup_logging(tmp_path)


@pytest.mark.parametrize("nuclei, optimiser", [
    ("clamped", "kfac"), ("clamped", "spring"), pytest.param("quantum", "kfac", marks=pytest.mark.slow)
])
def test_fixed_cell_steps_compile_only_in_the_first_step(nuclei, optimiser, tmp_path):
    problem, state, logger = _start({**TINY, "system.nuclei": nuclei, "optimisation.optimiser": optimiser}, tmp_path)
    with count_compilations() as first:
        _advance(problem, state, logger, 1)
    with count_compilations() as later:
        _advance(problem, state, logger, 3)
    assert "jit(step)" in first  # the counter sees the step's compilation
    assert later == []
    assert state.step == 4 and state.rewinds == 0


@pytest.mark.slow  # two programs to compile: over a minute on a shared 2-core machine
def test_constant_pressure_stages_and_a_resumed_run_compile_nothing_new(tmp_path):
    """Warm-up, then lattice and wavefunction stages of a tiny [npt] schedule; then the run is
    saved, reloaded from its checkpoint in the same process and continued: the reloaded arrays
    must have the dtypes and shardings of the running ones, so even its first step reuses the
    compiled programs."""
    problem, state, logger = _start(NPT, tmp_path)
    with count_compilations() as first:
        _advance(problem, state, logger, 2)  # one warm-up (wavefunction) step, one lattice step
    assert [train.stage_name(problem, s) for s in range(5)] == ["warmup", "lattice", "lattice", "wavefunction", "wavefunction"]
    assert "jit(step)" in first and "jit(estimate)" in first
    with count_compilations() as later:
        _advance(problem, state, logger, 3)  # lattice, wavefunction, wavefunction
    assert later == []
    runstate.save_checkpoint(problem, state, tmp_path / "checkpoints")
    from qsolid import checkpoint

    resumed = runstate.load_checkpoint(problem, checkpoint.latest(tmp_path / "checkpoints"))
    assert resumed.step == 5
    with count_compilations() as after_resume:
        _advance(problem, resumed, logger, 3)  # lattice, lattice, wavefunction
    assert after_resume == []
    assert resumed.step == 8
