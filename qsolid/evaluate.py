"""Inference with frozen parameters: energies with reblocked error bars.

Each evaluation step runs Metropolis sweeps and averages the local energy and
its parts over the walkers; the per-step means form a correlated time series
whose error bar comes from reblocking (qsolid.stats). For a molecule in a
box the cell dipole d gives the isolated-molecule energy

    E_isolated = E + (2 pi / 3 Omega) <d^2>,

estimated step by step as the mean of E_L + (2 pi / 3 Omega) d^2, so that its
error bar includes the correlation of the two terms.
"""

import time

import jax.numpy as jnp
import numpy as np

from qsolid import checkpoint
from qsolid.rundir import StopRequest
from qsolid.stats import reblock
from qsolid.train import State, burn_in, step_key

SERIES = ("energy", "energy_sq", "kinetic", "potential", "dipole_sq", "energy_isolated", "acceptance", "seconds")
EVALUATION_STREAM = 7


def _measure_step(problem, state: State, key):
    start = time.perf_counter()
    sweeps = problem.config.evaluation.sweeps_per_step
    walkers, acceptance = problem.sample(state.params, state.walkers, key, state.step_width_bohr, sweeps)
    local = problem.measure(state.params, walkers)
    dipole_sq = jnp.sum(problem.dipoles(walkers) ** 2, axis=-1)
    correction = 2.0 * np.pi / (3.0 * problem.system.volume_bohr3)
    values = {
        "energy": jnp.mean(local.energy),
        "energy_sq": jnp.mean(local.energy**2),
        "kinetic": jnp.mean(local.kinetic),
        "potential": jnp.mean(local.potential),
        "dipole_sq": jnp.mean(dipole_sq),
        "energy_isolated": jnp.mean(local.energy + correction * dipole_sq),
        "acceptance": acceptance,
    }
    state.walkers = walkers
    values = {k: float(v) for k, v in values.items()}
    values["seconds"] = time.perf_counter() - start
    return values


def evaluate(problem, state: State, steps: int, checkpoint_path, progress=None):
    """Run `steps` inference steps (resuming from `checkpoint_path` if present); returns (results, finished)."""
    series = {name: [] for name in SERIES}
    if checkpoint_path.exists():
        arrays, metadata = checkpoint.load_arrays(checkpoint_path)
        if metadata["training_step"] == state.step:
            state.walkers = problem.shard(checkpoint.unflatten(state.walkers, arrays, "walkers/"))
            series = {name: list(arrays[f"series/{name}"]) for name in SERIES}
    if not series["energy"]:
        state = burn_in(problem, state, problem.config.sampling.burn_in_sweeps)
    every = problem.config.output.checkpoint_every
    with StopRequest() as stop:
        while len(series["energy"]) < steps:
            done = len(series["energy"])
            values = _measure_step(problem, state, step_key(problem.config.seed, done, stream=EVALUATION_STREAM))
            for name in SERIES:
                series[name].append(values[name])
            if progress is not None:
                progress(done + 1, values)
            if (done + 1) % every == 0 or stop.requested or done + 1 == steps:
                tree = {"walkers": state.walkers, "series": {k: np.asarray(v) for k, v in series.items()}}
                checkpoint.save(checkpoint_path, tree, {"training_step": state.step})
            if stop.requested:
                return None, False
    return summarise(problem, series), True


def summarise(problem, series) -> dict:
    """Reblocked estimates per simulation cell and per atom."""
    n_atoms = problem.system.n_nuclei
    energy = reblock(series["energy"])
    results = {
        "n_atoms": n_atoms,
        "evaluation_steps": len(series["energy"]),
        "energy_ha": energy.mean,
        "energy_error_ha": energy.error,
        "energy_per_atom_ha": energy.mean / n_atoms,
        "energy_per_atom_error_ha": energy.error / n_atoms,
        "energy_autocorrelation_steps": energy.autocorrelation_time,
        "variance_ha2": float(np.mean(series["energy_sq"]) - np.mean(series["energy"]) ** 2),
        "acceptance": float(np.mean(series["acceptance"])),
        "seconds_per_evaluation_step": float(np.median(series["seconds"])),
    }
    for name in ("kinetic", "potential"):
        estimate = reblock(series[name])
        results[f"{name}_ha"], results[f"{name}_error_ha"] = estimate.mean, estimate.error
    dipole_sq = reblock(series["dipole_sq"])
    results["dipole_sq_bohr2"], results["dipole_sq_error_bohr2"] = dipole_sq.mean, dipole_sq.error
    if problem.system.is_molecule_in_box:
        isolated = reblock(series["energy_isolated"])
        results["energy_isolated_ha"], results["energy_isolated_error_ha"] = isolated.mean, isolated.error
    return results
