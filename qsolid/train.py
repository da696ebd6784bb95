"""The training driver: pretraining, burn-in, optimisation, checkpoints, statistics.

One loop serves every run. Random keys are derived from (seed, step, attempt)
so that a run interrupted and resumed from a checkpoint reproduces the
uninterrupted run exactly. A step whose local energies or updated parameters
are not finite is rewound: the state before the step is kept, the event is
logged and counted, and the step is retried with a fresh key.
"""

import dataclasses
import time

import jax
import jax.numpy as jnp
import numpy as np

from qsolid import checkpoint, sampling
from qsolid.rundir import StatsFile, StopRequest
from qsolid.vmc import Problem

STATS_COLUMNS = (
    "step",
    "energy_ha",
    "variance_ha2",
    "kinetic_ha",
    "potential_ha",
    "acceptance",
    "step_width_bohr",
    "learning_rate",
    "seconds",
)
MAX_CONSECUTIVE_REWINDS = 20


class TrainingFailed(RuntimeError):
    """Non-finite values kept coming back: the run stops at its last good checkpoint."""


@dataclasses.dataclass
class State:
    """Everything that evolves during a run (host-side bookkeeping included)."""

    params: object
    opt_state: object
    walkers: sampling.Walkers
    step: int
    step_width_bohr: float
    rewinds: int
    pretrained: bool
    acceptance_window: list = dataclasses.field(default_factory=list)

    def metadata(self) -> dict:
        return {
            "step": self.step,
            "step_width_bohr": self.step_width_bohr,
            "rewinds": self.rewinds,
            "pretrained": self.pretrained,
            "acceptance_window": self.acceptance_window,
        }


def step_key(seed: int, step: int, attempt: int = 0, stream: int = 0):
    """Deterministic key for (step, attempt): resumed runs draw the same numbers."""
    key = jax.random.fold_in(jax.random.PRNGKey(seed), stream)
    return jax.random.fold_in(jax.random.fold_in(key, step), attempt)


def all_finite(tree) -> bool:
    return all(bool(jnp.all(jnp.isfinite(leaf))) for leaf in jax.tree.leaves(tree))


def initial_state(problem: Problem) -> State:
    key = jax.random.PRNGKey(problem.config.seed)
    params_key, walker_key = jax.random.split(key)
    params = problem.wavefunction.init(params_key)
    walkers = problem.initial_walkers(params, walker_key)
    return State(
        params=params,
        opt_state=None,
        walkers=walkers,
        step=0,
        step_width_bohr=problem.config.sampling.electron_step_bohr,
        rewinds=0,
        pretrained=False,
    )


def init_optimiser(problem: Problem, state: State):
    local = problem.measure(state.params, state.walkers)
    return problem.optimiser.init(state.params, step_key(problem.config.seed, 0, stream=3), problem.batch(state.walkers, local))


def save_checkpoint(problem: Problem, state: State, directory) -> None:
    tree = {"params": state.params, "walkers": state.walkers}
    if state.opt_state is not None:
        tree["opt_state"] = state.opt_state
    checkpoint.save(checkpoint.step_path(directory, state.step), tree, state.metadata())
    checkpoint.prune(directory, problem.config.output.keep_checkpoints)


def load_checkpoint(problem: Problem, path) -> State:
    arrays, metadata = checkpoint.load_arrays(path)
    template = initial_state(problem)
    params = checkpoint.unflatten(template.params, arrays, "params/")
    walkers = checkpoint.unflatten(template.walkers, arrays, "walkers/")
    walkers = problem.shard(jax.tree.map(lambda x: jnp.asarray(x, problem.dtype), walkers))
    state = State(
        params=jax.tree.map(jnp.asarray, params),
        opt_state=None,
        walkers=walkers,
        step=metadata["step"],
        step_width_bohr=metadata["step_width_bohr"],
        rewinds=metadata["rewinds"],
        pretrained=metadata["pretrained"],
        acceptance_window=metadata["acceptance_window"],
    )
    if any(key.startswith("opt_state/") for key in arrays):
        state.opt_state = checkpoint.unflatten(init_optimiser(problem, state), arrays, "opt_state/")
        state.opt_state = jax.tree.map(jnp.asarray, state.opt_state)
    return state


def burn_in(problem: Problem, state: State, sweeps: int) -> State:
    if sweeps == 0:
        return state
    key = step_key(problem.config.seed, state.step, stream=1)
    walkers, _ = problem.sample(state.params, state.walkers, key, state.step_width_bohr, sweeps)
    return dataclasses.replace(state, walkers=walkers)


def _adapt(problem: Problem, state: State, acceptance: float) -> None:
    config = problem.config.sampling
    state.acceptance_window.append(acceptance)
    if len(state.acceptance_window) >= config.adapt_every:
        mean = float(np.mean(state.acceptance_window))
        state.step_width_bohr = sampling.adapt_step(
            state.step_width_bohr, mean, config.target_acceptance, problem.max_step_bohr
        )
        state.acceptance_window = []


def optimisation_step(problem: Problem, state: State, logger) -> dict:
    """One sampled and measured step followed by a parameter update; rewinds on non-finite values."""
    config = problem.config
    for attempt in range(MAX_CONSECUTIVE_REWINDS):
        start = time.perf_counter()
        key = step_key(config.seed, state.step, attempt)
        sample_key, update_key = jax.random.split(key)
        walkers, acceptance = problem.sample(
            state.params, state.walkers, sample_key, state.step_width_bohr, config.sampling.sweeps_per_step
        )
        local = problem.measure(state.params, walkers)
        energies = np.asarray(local.energy)
        if np.all(np.isfinite(energies)):
            params, opt_state = problem.optimiser.step(
                state.params, state.opt_state, update_key, problem.batch(walkers, local)
            )
            if all_finite(params):
                break
            reason = "non-finite parameters after the update"
        else:
            reason = f"{int(np.sum(~np.isfinite(energies)))} non-finite local energies"
        state.rewinds += 1
        logger.warning("step %d attempt %d rewound: %s", state.step, attempt, reason)
    else:
        raise TrainingFailed(f"step {state.step}: {MAX_CONSECUTIVE_REWINDS} consecutive non-finite steps")
    row = {
        "step": state.step,
        "energy_ha": float(np.mean(energies)),
        "variance_ha2": float(np.var(energies)),
        "kinetic_ha": float(jnp.mean(local.kinetic)),
        "potential_ha": float(jnp.mean(local.potential)),
        "acceptance": float(acceptance),
        "step_width_bohr": state.step_width_bohr,
        "learning_rate": float(_learning_rate(config.optimisation, state.step)),
        "seconds": time.perf_counter() - start,
    }
    state.params, state.opt_state, state.walkers = params, opt_state, walkers
    state.step += 1
    _adapt(problem, state, float(acceptance))
    return row


def _learning_rate(config, step):
    from qsolid.optim import learning_rate_schedule

    return learning_rate_schedule(config)(step)


def train(problem: Problem, state: State, run_dir, logger, progress=None) -> tuple[State, bool]:
    """Optimise until config.optimisation.steps; returns (state, finished).

    Checkpoints every `output.checkpoint_every` steps and when SIGINT/SIGTERM
    arrives (then returns finished = False).
    """
    config = problem.config
    directory = run_dir / "checkpoints"
    stats = StatsFile(run_dir / "stats.csv", STATS_COLUMNS)
    stats.truncate_after(state.step - 1)
    if state.opt_state is None:
        state.opt_state = init_optimiser(problem, state)
    with StopRequest() as stop:
        while state.step < config.optimisation.steps:
            row = optimisation_step(problem, state, logger)
            stats.append([row])
            if progress is not None:
                progress(state.step, row)
            if state.step % config.output.checkpoint_every == 0 or stop.requested:
                save_checkpoint(problem, state, directory)
            if stop.requested:
                logger.info("stopped by signal at step %d; checkpoint written", state.step)
                return state, False
    save_checkpoint(problem, state, directory)
    return state, True
