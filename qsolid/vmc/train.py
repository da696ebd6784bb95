"""The training driver: one loop for fixed-cell (NVT) and constant-pressure (NPT) runs.

A run is a sequence of steps. At fixed cell every step is a wavefunction step:
sample, measure the local energies, update the parameters (Eq. 6). At
constant pressure the steps follow the schedule of the supplement
(qsolid.vmc.npt): warm-up and wavefunction stages are such steps at the current
cell; a lattice-stage step freezes the wavefunction and makes
`annealing_steps_per_lattice_step` simulated-annealing moves of the cell,
each judged on a fresh estimate of the enthalpy G = <E_loc> + P Omega
(Eqs. 5, S3) from the current walkers.

Each wavefunction step is one compiled program (qsolid.vmc.step) that returns the
new state and one small row of statistics, the only transfer to the host.
Random keys are derived from (seed, step, attempt) so that a run interrupted
and resumed from a checkpoint reproduces the uninterrupted run exactly. A step
whose local energies or updated parameters are not finite, or whose walkers
fail the equilibrium test of qsolid.vmc.step, is rewound (decided on the device):
the parameters before the step are kept, the event is logged and counted, and
the step is retried with a fresh key.
"""

import time

import jax
import jax.numpy as jnp
import numpy as np

from qsolid.vmc import npt, sampling
from qsolid import lattice as lat
from qsolid.vmc.optim import learning_rate_schedule
from qsolid.progress import Progress
from qsolid.rundir import RunFailed, StatsFile
from qsolid.runloop import run_phases
from qsolid.vmc.step import EQUILIBRIUM_SIGMAS, LOCAL_STATS, STEP_STATS, step_key
from qsolid.units import gpa_to_ha_bohr3, ha_bohr3_to_gpa
from qsolid.vmc.problem import Problem
from qsolid.vmc.runstate import State, init_optimiser, is_npt, save_checkpoint

STATS_COLUMNS = (
    "step",
    "stage",
    "energy_ha",
    "variance_ha2",
    "kinetic_ha",
    "potential_ha",
    "virial_pressure_gpa",
    "kinetic_bo_ha",
    "kinetic_nonbo_ha",
    "enthalpy_ha",
    "acceptance",
    "proton_acceptance",
    "lattice_acceptance",
    "electron_step_bohr",
    "nuclear_step_bohr",
    *lat.PARAMETER_NAMES,
    "volume_per_atom_bohr3",
    "learning_rate",
    "seconds",
)
MAX_CONSECUTIVE_REWINDS = 20


class TrainingFailed(RunFailed):
    """Rewinds kept coming back: the run stops at its last good checkpoint."""


CONTINUATION_HINT = (
    "the checkpoints written so far are kept (`qsolid evaluate RUN_DIR` measures the last one); a resume repeats "
    "the same steps, so continue with a new run at a smaller optimisation.learning_rate or optimisation.norm_constraint"
)
"""What a user can do after TrainingFailed: random keys depend only on (seed, step), so --resume meets the same failure."""


def rewind_reason(values: dict) -> str:
    """Why the step of this statistics row was rewound, in words."""
    non_finite = int(values["non_finite_energies"])
    if non_finite:
        return f"{non_finite} non-finite local energies"
    for kind in ("electron", "nuclear"):
        z = values[f"{kind}_kinetic_z"]
        if z <= -EQUILIBRIUM_SIGMAS:
            return (f"the walkers do not sample |Psi|^2: their mean {kind} kinetic energy is {-z:.1f} standard errors "
                    "below zero; the chain continues at fixed parameters")
    return "non-finite parameters after the update"


def run_length(problem: Problem) -> int:
    """Total number of steps: optimisation.steps at fixed cell, the [npt] schedule otherwise."""
    return npt.total_steps(problem.config.npt) if is_npt(problem) else problem.config.optimisation.steps


def stage_name(problem: Problem, step: int) -> str:
    return npt.stage_at(step, problem.config.npt).name if is_npt(problem) else "wavefunction"


def adapt(problem: Problem, state: State, electron_acceptance: float, nuclear_acceptance: float) -> None:
    """Every `adapt_every` steps, move each step width towards its target acceptance (bounded)."""
    state.acceptance_window.append([electron_acceptance, nuclear_acceptance])
    if len(state.acceptance_window) < problem.config.sampling.adapt_every:
        return
    adapt_steps(problem, state, *np.mean(state.acceptance_window, axis=0))
    state.acceptance_window = []


def adapt_steps(problem: Problem, state: State, electron_acceptance: float, nuclear_acceptance: float) -> None:
    """One bounded update of the step widths. Gibbs blocks: each width to its own target.
    Joint moves have one acceptance for both, so both widths follow the electrons' target
    together (two targets for one rate would shrink one width without end)."""
    config = problem.config.sampling
    state.electron_step_bohr = sampling.adapt_step(
        state.electron_step_bohr, electron_acceptance, config.target_acceptance, problem.max_step_bohr
    )
    if problem.system.quantum_nuclei:
        joint = config.sampler == "joint"
        state.nuclear_step_bohr = sampling.adapt_step(
            state.nuclear_step_bohr,
            nuclear_acceptance,
            config.target_acceptance if joint else config.nuclear_target_acceptance,
            problem.max_nuclear_step_bohr,
        )


def _cell_columns(problem: Problem, lattice) -> dict:
    a, b, c, alpha, beta, gamma = (float(x) for x in lat.parameters_from_lattice(np.asarray(lattice)))
    return {
        "a_bohr": a,
        "b_bohr": b,
        "c_bohr": c,
        "alpha_deg": alpha,
        "beta_deg": beta,
        "gamma_deg": gamma,
        "volume_per_atom_bohr3": _volume_per_atom(problem, lattice),
    }


def _volume_per_atom(problem: Problem, lattice) -> float:
    """Omega / n_atoms; NaN for jellium, which has no atoms."""
    n_atoms = problem.system.n_nuclei
    return float(lat.volume(np.asarray(lattice))) / n_atoms if n_atoms else float("nan")


def virial_pressure_ha_bohr3(local, lattice, mean=jnp.mean) -> float:
    """P = (2<K> + <V>) / (3 Omega) of the all-Coulomb system (Sec. II B; see qsolid.vmc.evaluate);
    `mean` averages over the walkers (weighted over their groups for a twist set)."""
    return float(mean(2.0 * local.kinetic + local.potential)) / (3.0 * float(lat.volume(np.asarray(lattice))))


def virial_pressure_gpa(local, lattice) -> float:
    return ha_bohr3_to_gpa(virial_pressure_ha_bohr3(local, lattice))


def enthalpy_ha(problem: Problem, energy_ha: float, lattice) -> float:
    """G = E + P Omega per cell (P = 0 at fixed cell, where G is just E), with the two-body
    finite-size Delta E(Omega) when `npt.finite_size_correction` asks for it (what the annealer minimises)."""
    if not is_npt(problem):
        return energy_ha
    config = problem.config.npt
    return npt.corrected_enthalpy(
        energy_ha, float(lat.volume(np.asarray(lattice))), gpa_to_ha_bohr3(config.pressure_gpa),
        problem.system.n_electrons, config.finite_size_correction,
    )


def _read_row(row, names) -> dict:
    """The step's statistics row on the host: its one blocking transfer."""
    return dict(zip(names, (float(x) for x in np.asarray(jax.device_get(row)))))


def optimisation_step(problem: Problem, state: State, logger) -> dict:
    """One sampled and measured step followed by a parameter update; rewinds on non-finite values."""
    config = problem.config
    start = time.perf_counter()
    for attempt in range(MAX_CONSECUTIVE_REWINDS):
        params, opt_state, walkers, row = problem.optimisation_step(
            state.params, state.opt_state, state.walkers, state.step, attempt,
            state.electron_step_bohr, state.nuclear_step_bohr, state.lattice,
        )
        values = _read_row(row, STEP_STATS)
        if values["kept"]:
            break
        state.rewinds += 1  # the program returned its parameters (and its walkers, if an energy was not finite)
        if not values["non_finite_energies"]:
            state.walkers = walkers  # the chain continues from where the sweeps left it
        reason = rewind_reason(values)
        logger.warning("step %d attempt %d rewound: %s", state.step, attempt, reason)
    else:
        raise TrainingFailed(
            f"step {state.step}: {MAX_CONSECUTIVE_REWINDS} consecutive rewinds, the last because {reason}; {CONTINUATION_HINT}"
        )
    batch = config.sampling.batch_size
    if config.resamples_after_update and values["effective_sample_size"] < 0.5 * batch:
        logger.info("step %d: the last update left an effective sample size of %.1f of %d walkers",
                    state.step, values["effective_sample_size"], batch)
    energy = values["energy_ha"]
    row = {
        "step": state.step,
        "stage": stage_name(problem, state.step),
        "energy_ha": energy,
        **{name: values[name] for name in ("variance_ha2", "kinetic_ha", "potential_ha", "kinetic_bo_ha", "kinetic_nonbo_ha")},
        "virial_pressure_gpa": ha_bohr3_to_gpa(values["virial_sum_ha"] / (3.0 * float(lat.volume(state.lattice)))),
        "enthalpy_ha": enthalpy_ha(problem, energy, state.lattice),
        "acceptance": values["acceptance"],
        "proton_acceptance": values["proton_acceptance"],
        "lattice_acceptance": float("nan"),
        "electron_step_bohr": state.electron_step_bohr,
        "nuclear_step_bohr": state.nuclear_step_bohr,
        **_cell_columns(problem, state.lattice),
        "learning_rate": float(learning_rate_schedule(config.optimisation)(state.step)),
        "seconds": time.perf_counter() - start,
    }
    state.params, state.opt_state, state.walkers = params, opt_state, walkers
    state.step += 1
    adapt(problem, state, values["acceptance"], values["proton_acceptance"])
    return row


def lattice_step(problem: Problem, state: State, logger) -> dict:
    """Annealing moves of the cell with the wavefunction frozen (one step of a lattice stage)."""
    config = problem.config
    start = time.perf_counter()
    stage = npt.stage_at(state.step, config.npt)
    if stage.index == 0:
        state.held_enthalpy_ha = None  # the wavefunction changed since the last estimate
    measured = {}

    def estimate(cells, key):
        """G of each cell on one re-equilibrated sample (|Psi(S)|^2 does not depend on L, Eq. S5)."""
        lattices = [lat.lattice_from_parameters(*(float(x) for x in cell)) for cell in cells]
        state.walkers, row = problem.estimate_cells(
            state.params, state.walkers, key, state.electron_step_bohr, state.nuclear_step_bohr, state.lattice,
            np.stack(lattices),
        )
        row = np.asarray(jax.device_get(row), dtype=np.float64)
        k = len(lattices)
        energies, finite = row[:k], row[k : 2 * k]
        measured.update(zip((*LOCAL_STATS, "acceptance", "proton_acceptance"), (float(x) for x in row[2 * k :])))
        enthalpies = []
        for lattice, energy, ok in zip(lattices, energies, finite):  # the trial cell last: its local energies are logged
            if not ok:
                logger.warning("step %d: non-finite local energies at a trial cell; the move is rejected", state.step)
                enthalpies.append(float("inf"))
            else:
                enthalpies.append(enthalpy_ha(problem, float(energy), lattice))
        return enthalpies

    result = npt.anneal(
        estimate,
        npt.LatticeParameters(*lat.parameters_from_lattice(state.lattice)),
        config.npt,
        step_key(config.seed, state.step, stream=4),
        steps=config.npt.annealing_steps_per_lattice_step,
        start_step=npt.annealing_step_at(state.step, config.npt),
        atoms=problem.system.n_nuclei,
        current_enthalpy=state.held_enthalpy_ha,
    )
    state.lattice = lat.lattice_from_parameters(*result.lattice)
    state.held_enthalpy_ha = float(result.enthalpy_ha)
    row = {
        "step": state.step,
        "stage": stage.name,
        "energy_ha": float(result.enthalpy_ha) - enthalpy_ha(problem, 0.0, state.lattice),
        **{name: measured[name] for name in ("variance_ha2", "kinetic_ha", "potential_ha", "kinetic_bo_ha", "kinetic_nonbo_ha")},
        "virial_pressure_gpa": float("nan"),  # the local energies are those of the last trial cell
        "enthalpy_ha": float(result.enthalpy_ha),
        "acceptance": measured["acceptance"],
        "proton_acceptance": measured["proton_acceptance"],
        "lattice_acceptance": float(result.acceptance),
        "electron_step_bohr": state.electron_step_bohr,
        "nuclear_step_bohr": state.nuclear_step_bohr,
        **_cell_columns(problem, state.lattice),
        "learning_rate": 0.0,
        "seconds": time.perf_counter() - start,
    }
    state.step += 1
    return row


def stage_spans(problem: Problem) -> list[tuple[str, int, int]]:
    """The schedule as runs of consecutive steps of one stage: [(name, first step, end), ...]."""
    spans = []
    for step in range(run_length(problem)):
        name = stage_name(problem, step)
        if spans and spans[-1][0] == name:
            spans[-1] = (name, spans[-1][1], step + 1)
        else:
            spans.append((name, step, step + 1))
    return spans


def train(problem: Problem, state: State, run_dir, logger, progress: Progress) -> tuple[State, bool]:
    """Run the schedule to its end; returns (state, finished).

    Checkpoints every `output.checkpoint_every` steps and when SIGINT/SIGTERM
    arrives (then returns finished = False). Each stage of the schedule is
    announced to `progress` with its own length.
    """
    config = problem.config
    directory = run_dir / "checkpoints"
    stats = StatsFile(run_dir / "stats.csv", STATS_COLUMNS)
    stats.truncate_after(state.step - 1)
    total = run_length(problem)
    if state.opt_state is None and state.step < total:  # nothing to optimise (e.g. the 'slater' ansatz): no optimiser
        state.opt_state = init_optimiser(problem, state)
    # Pretraining or a caller may hand over arrays placed otherwise; the compiled steps expect these shardings.
    state.params, state.opt_state = problem.replicate((state.params, state.opt_state))
    state.walkers = problem.shard(state.walkers)
    finished = run_phases(
        [(f"training ({name})", first, end) for name, first, end in stage_spans(problem)],
        state.step,
        lambda _: (lattice_step if stage_name(problem, state.step) == "lattice" else optimisation_step)(problem, state, logger),
        lambda _: save_checkpoint(problem, state, directory),
        config.output.checkpoint_every,
        progress,
        stats,
    )
    if not finished:
        logger.info("stopped by signal at step %d; checkpoint written", state.step)
    return state, finished
