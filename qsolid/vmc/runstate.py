"""The state of a VMC run and its checkpoints: parameters, optimiser state, walkers, cell, step widths.

`initial_state` starts a run (parameters and optimiser state replicated on the device mesh, walkers
sharded over it); `save_checkpoint` / `load_checkpoint` write and read it atomically with the config the
run started with (qsolid.checkpoint), so a run resumes on any device or process count and at another precision;
`sample` and `burn_in` move its walkers with its step widths.
"""

import dataclasses
import logging
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from qsolid import checkpoint
from qsolid import lattice as lat
from qsolid.schema import ConfigError, to_dict
from qsolid.vmc import sampling
from qsolid.vmc.problem import Problem
from qsolid.vmc.step import step_key


@dataclasses.dataclass
class State:
    """Everything that evolves during a run (host-side bookkeeping included)."""

    params: object
    opt_state: object
    walkers: sampling.Walkers
    lattice: np.ndarray
    """Current simulation cell (rows, bohr); moves only in lattice stages of NPT runs."""
    step: int
    electron_step_bohr: float
    nuclear_step_bohr: float
    rewinds: int
    pretrained: bool
    held_enthalpy_ha: float | None = None
    """The annealer's current G estimate (reset when a lattice stage begins)."""
    burned_in: bool = False
    """The walkers were equilibrated after pretraining (a checkpoint may be written in between)."""
    acceptance_window: list = dataclasses.field(default_factory=list)

    def metadata(self) -> dict:
        return {
            "step": self.step,
            "lattice_bohr": np.asarray(self.lattice).tolist(),
            "electron_step_bohr": self.electron_step_bohr,
            "nuclear_step_bohr": self.nuclear_step_bohr,
            "rewinds": self.rewinds,
            "pretrained": self.pretrained,
            "held_enthalpy_ha": self.held_enthalpy_ha,
            "burned_in": self.burned_in,
            "acceptance_window": self.acceptance_window,
        }


def is_npt(problem: Problem) -> bool:
    return problem.config.npt.lattice_mode != "fixed"


def initial_lattice(problem: Problem) -> np.ndarray:
    """The starting cell; NPT runs use the Eq. S4 orientation of the same cell (a along x)."""
    if not is_npt(problem):
        return np.asarray(problem.system.lattice, dtype=np.float64)
    return lat.lattice_from_parameters(*lat.parameters_from_lattice(np.asarray(problem.system.lattice, dtype=np.float64)))


def initial_state(problem: Problem) -> State:
    key = jax.random.PRNGKey(problem.config.seed)
    params_key, walker_key = jax.random.split(key)
    params = problem.replicate(problem.wavefunction.init(params_key))
    walkers = problem.initial_walkers(params, walker_key)
    return State(
        params=params,
        opt_state=None,
        walkers=walkers,
        lattice=initial_lattice(problem),
        step=0,
        electron_step_bohr=problem.config.sampling.electron_step_bohr,
        nuclear_step_bohr=problem.config.sampling.nuclear_step_bohr,
        rewinds=0,
        pretrained=False,
    )


def init_optimiser(problem: Problem, state: State):
    local = problem.measure(state.params, state.walkers, state.lattice)
    batch = problem.batch(state.walkers, local)
    return problem.replicate(problem.optimiser.init(state.params, step_key(problem.config.seed, 0, stream=3), batch))


def save_checkpoint(problem: Problem, state: State, directory) -> None:
    tree = {"params": state.params, "walkers": state.walkers}
    if state.opt_state is not None:
        tree["opt_state"] = state.opt_state
    metadata = {**state.metadata(), "config": to_dict(problem.config), "devices": jax.device_count(), "processes": jax.process_count()}
    checkpoint.save(checkpoint.step_path(directory, state.step), tree, metadata)
    checkpoint.prune(directory, problem.config.output.keep_checkpoints)


def load_checkpoint(problem: Problem, path, with_optimiser: bool = True) -> State:
    """The state saved at `path`; the optimiser state only if `with_optimiser` (to resume training)."""
    arrays, metadata = checkpoint.load_arrays(path)
    if metadata.get("devices", jax.device_count()) != jax.device_count():
        logging.getLogger("qsolid").info(
            "%s was written on %d devices; its walkers are split over the %d devices of this session",
            Path(path).name, metadata["devices"], jax.device_count(),
        )
    template = initial_state(problem)
    params = checkpoint.unflatten(template.params, arrays, "params/")
    walkers = walkers_from(arrays, template.walkers)
    walkers = problem.shard(_as_dtype(walkers, problem.dtype))
    state = State(
        params=problem.replicate(_as_dtype(params, problem.dtype)),
        opt_state=None,
        walkers=walkers,
        lattice=np.asarray(metadata.get("lattice_bohr", template.lattice), dtype=np.float64),
        step=metadata["step"],
        electron_step_bohr=metadata["electron_step_bohr"],
        nuclear_step_bohr=metadata["nuclear_step_bohr"],
        rewinds=metadata["rewinds"],
        pretrained=metadata["pretrained"],
        held_enthalpy_ha=metadata.get("held_enthalpy_ha"),
        burned_in=metadata.get("burned_in", True),  # earlier checkpoints were all written after the burn-in
        acceptance_window=metadata["acceptance_window"],
    )
    if with_optimiser and any(key.startswith("opt_state/") for key in arrays):
        try:
            state.opt_state = checkpoint.unflatten(init_optimiser(problem, state), arrays, "opt_state/")
        except ValueError as error:
            raise ConfigError(
                f"{path}: its optimiser state does not fit this version's optimiser ({error}); "
                "`qsolid evaluate` still works, resuming does not"
            ) from None
        state.opt_state = problem.replicate(_as_dtype(state.opt_state, problem.dtype))
    return state


def walkers_from(arrays: dict, template: sampling.Walkers, prefix: str = "walkers/") -> sampling.Walkers:
    """The walkers saved under `prefix` (their group indices included); a checkpoint written before
    walkers carried a group holds one twist, whose indices are the template's zeros."""
    if prefix + "group" not in arrays and len(np.unique(np.asarray(template.group))) == 1:
        arrays = {**arrays, prefix + "group": np.asarray(template.group)}
    return checkpoint.unflatten(template, arrays, prefix)


def _as_dtype(tree, dtype):
    """Floating-point leaves as `dtype` (a checkpoint resumed at another precision), the rest unchanged."""
    def cast(x):
        x = jnp.asarray(x)
        return x.astype(dtype) if jnp.issubdtype(x.dtype, jnp.floating) else x

    return jax.tree.map(cast, tree)


def sample(problem: Problem, state: State, params, key, sweeps: int, lattice=None, walkers=None, refresh_log_abs=True):
    """Sweeps from `walkers` (default the state's) with the state's step widths:
    (walkers, electron, nuclear acceptance)."""
    lattice = state.lattice if lattice is None else lattice
    walkers = state.walkers if walkers is None else walkers
    steps = (state.electron_step_bohr, state.nuclear_step_bohr)
    return problem.sample(params, walkers, key, *steps, lattice, sweeps=sweeps, refresh_log_abs=refresh_log_abs)


def burn_in(problem: Problem, state: State, sweeps: int) -> State:
    if sweeps == 0:
        return state
    walkers, _, _ = sample(problem, state, state.params, step_key(problem.config.seed, state.step, stream=1), sweeps)
    return dataclasses.replace(state, walkers=walkers)
