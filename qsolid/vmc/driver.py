"""A VMC run from config to a complete run directory: the engine's one entry point.

    import qsolid
    summary = qsolid.run("examples/bcc2_gamma_clamped.toml", "runs/bcc2")

`run` validates everything it can before the run directory exists, then pretrains the orbitals
to periodic Hartree-Fock, trains (fixed cell, or constant pressure by Lundy-Mees annealing of the
cell), evaluates with frozen parameters, writes the final structure, the training plots and
summary.json, and returns the summary. `run(..., resume=True)` continues the run in `run_dir`
from its last checkpoint; a config that differs from the run's own is refused. `evaluate_run`
extends the evaluation of a finished run. The CLI (`qsolid run`, `qsolid evaluate`) calls these
and only prints.

Over several processes (qsolid.distributed.initialize first) every process calls `run` with the
same arguments; process 0 writes the run directory and returns the summary, the others write
nothing and return the evaluation's part of it.
"""

import dataclasses
import json
import time
from pathlib import Path

import jax
import numpy as np
import tomli_w

from qsolid import checkpoint, distributed, finite_size, precision, rundir, units
from qsolid import lattice as lat
from qsolid.enthalpy import enthalpy
from qsolid.progress import Progress, Silent
from qsolid.schema import ConfigError, check_resume, parse, to_dict
from qsolid.system import build_system
from qsolid.vmc import memory, runstate, train, twist_average
from qsolid.vmc.config import Config, load_config
from qsolid.vmc.evaluate import evaluate
from qsolid.vmc.hartree_fock import check_basis
from qsolid.vmc.problem import Problem, build_problem
from qsolid.vmc.report import write_report

SUMMARY_KEYS_FROM_EVALUATION = (
    "n_atoms", "n_electrons", "boundary_condition", "twists", "energy_per_electron_ha", "energy_per_electron_error_ha", "energy_ha", "energy_error_ha", "energy_per_atom_ha", "energy_per_atom_error_ha", "variance_ha2",
    "virial_pressure_gpa", "virial_pressure_error_gpa", "energy_isolated_ha", "energy_isolated_error_ha",
    "dipole_sq_bohr2", "kinetic_bo_ha", "kinetic_bo_error_ha", "kinetic_nonbo_ha", "kinetic_nonbo_error_ha",
    "proton_acceptance", "per_twist", "structure_factor", "structure_factor_small_k_bohr2",
    "structure_factor_small_k_error_bohr2", "configurations_file", "n_configurations", "per_configuration",
)
"""Keys of evaluation.json that summary.json repeats, besides the finite-size corrections (_from_evaluation)."""
FACTOR_NAMES = {"electrons": "phi (electrons)", "nuclei": "chi (nuclei)"}
"""How the start-up line names the parameter parts of Psi = chi phi."""
SHORTEST_DISTANCE_ANGSTROM = 0.5
"""A structure file with two nuclei closer than this gets a warning: no H-H bond is shorter than ~0.6 A."""


def run(config, run_dir, resume: bool = False, progress: Progress | None = None, steps: int | None = None) -> dict | None:
    """The whole VMC job in `run_dir`; returns summary.json's contents, or None if stopped by a signal.

    `config` is a path to a TOML file or a validated `Config`; with `resume` it may be omitted
    (None), and if given it must equal the config the run started with. `steps` (resume only)
    extends a fixed-cell run to that many optimisation steps — the one change a resume allows.
    The run computes in its config's precision; the process's precision is restored afterwards.
    """
    run_dir = Path(run_dir)
    if resume:
        config = _resumed_config(run_dir, config, steps)
    else:
        if steps is not None:
            raise ConfigError("--steps: extends a resumed run; set optimisation.steps in the config of a new one")
        config = config if isinstance(config, Config) else load_config(config)
        require_new_directory(run_dir)
    with precision.use(config.precision):
        return _start(config, run_dir, resume, progress or Silent())


def _start(config: Config, run_dir: Path, resume: bool, progress: Progress) -> dict | None:
    """Everything that can be checked before the run directory exists, then the run."""
    if config.pretrain.steps > 0 and config.network.ansatz != "slater":
        check_basis(config.pretrain.basis)
    memory.check(config)  # before any array of the system is built
    twist_set = len(build_system(config.system, config.npt.lattice_mode).twists) > 1
    separate = twist_set and config.system.twist_mode == "separate"
    if separate:
        twist_average.single_twist_configs(config)  # refuses what separate runs cannot do, before anything is written
    elif resume and (run_dir / "twist-00").is_dir():
        raise ConfigError(f"system.twist_mode: {run_dir} holds one run per twist (twist-NN/); set twist_mode = 'separate' in its config.toml")
    if twist_set and jax.process_count() > 1:
        raise ConfigError("system.twists: a twist set runs in one process for now (run its twists as separate jobs)")
    if config.system.configurations and jax.process_count() > 1:
        raise ConfigError("system.configurations: a configuration set runs in one process for now")
    problem = None if separate else build_problem(config)
    distributed.barrier("qsolid: run directory checked")  # by every process, before process 0 writes to it
    if not resume and rundir.writes():
        try:
            run_dir.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise ConfigError(f"run_dir: cannot create {run_dir} ({error.strerror})") from None
    rundir.atomic_write_text(run_dir / "config.toml", tomli_w.dumps(to_dict(config)))
    logger = rundir.setup_logging(run_dir)
    logger.info("qsolid run in %s (resume=%s, precision %s)", run_dir, resume, config.precision)
    if problem is None:  # one sub-run per twist of the set
        summary = twist_average.run_to_completion(
            config, run_dir, logger, lambda one, sub_dir, log: _run_to_completion(build_problem(one), sub_dir, log, progress)
        )
        if summary is not None:
            system = build_system(config.system, config.npt.lattice_mode)
            summary.update(finite_size_corrected(summary, config, system, float(lat.volume(system.lattice))))
            _write_summary(run_dir, summary, logger)
        return summary
    return _run_to_completion(problem, run_dir, logger, progress)


def evaluate_run(run_dir, steps: int | None = None, progress: Progress | None = None) -> dict | None:
    """Evaluate (or extend the evaluation of) the newest checkpoint of `run_dir` to `steps` steps.

    Returns evaluation.json's contents (None if stopped). The evaluation only grows: fewer steps
    than are already evaluated is refused, so evaluation.json and summary.json always describe
    every evaluation step taken.
    """
    run_dir = Path(run_dir)
    config = _resumed_config(run_dir, None)
    steps = config.evaluation.steps if steps is None else steps
    if steps < 1:
        raise ConfigError(f"--steps: must be >= 1, got {steps}")
    done = evaluated_steps(run_dir)
    if steps < done:
        raise ConfigError(f"--steps: {run_dir} already has {done} evaluation steps; give more to extend it")
    if (run_dir / "twist-00").is_dir():
        raise ConfigError(f"run_dir: {run_dir} is a twist set; evaluate its sub-runs {run_dir}/twist-NN one by one")
    problem, state, logger = _trained(config, run_dir)
    results = _evaluate(problem, state, steps, run_dir, progress or Silent())
    if results is None:
        return None
    if (run_dir / "summary.json").exists():
        summary = rundir.read_json(run_dir / "summary.json")
        _write_summary(run_dir, {**summary, **_from_evaluation(results)}, logger)
    logger.info("evaluation: %s", json.dumps(results))
    return results


def evaluate_configurations(run_dir, configurations, steps: int | None = None, progress: Progress | None = None) -> dict | None:
    """Evaluate the newest checkpoint of `run_dir` on the configuration set in the file `configurations`
    (held out: configurations the network never saw), in RUN_DIR/held_out-<file stem>/; returns its
    evaluation.json (per_configuration energies and their mean), None if stopped. The run's own
    evaluation and summary are left as they are; a repeated call extends the same evaluation."""
    run_dir = Path(run_dir)
    trained = _resumed_config(run_dir, None)
    if (run_dir / "twist-00").is_dir():
        raise ConfigError(f"run_dir: {run_dir} is a twist set of separate runs; evaluate with system.twist_mode = 'shared' runs")
    system = dataclasses.replace(trained.system, configurations=str(configurations))
    config = parse(Config, to_dict(dataclasses.replace(trained, system=system)))
    steps = config.evaluation.steps if steps is None else steps
    out = run_dir / f"held_out-{Path(configurations).stem}"
    done = evaluated_steps(out)
    if steps < max(done, 1):
        raise ConfigError(f"--steps: must be >= 1 and at least the {done} steps {out} already has")
    with precision.use(config.precision):
        problem, state, logger = _trained(config, run_dir)
        state.walkers = problem.initial_walkers(state.params, jax.random.PRNGKey(config.seed))  # on the new set
        out.mkdir(exist_ok=True)
        rundir.atomic_write_text(out / "config.toml", tomli_w.dumps(to_dict(config)))
        results = _evaluate(problem, state, steps, out, progress or Silent())
    if results is not None:
        logger.info("held-out evaluation on %s: %s", configurations, json.dumps(results))
    return results


def _trained(config, run_dir: Path):
    """(problem of `config`, the state of the newest checkpoint of run_dir without optimiser, the run's logger)."""
    problem = build_problem(config)
    logger = rundir.setup_logging(run_dir)
    latest = checkpoint.latest_valid(run_dir / "checkpoints", logger)
    if latest is None:
        raise ConfigError(f"run_dir: {run_dir} has no checkpoint to evaluate")
    return problem, runstate.load_checkpoint(problem, latest, with_optimiser=False), logger


def evaluated_steps(run_dir) -> int:
    """Evaluation steps recorded in RUN_DIR/evaluation.json (0 if none)."""
    path = Path(run_dir) / "evaluation.json"
    return int(rundir.read_json(path).get("steps", 0)) if path.exists() else 0


def _resumed_config(run_dir: Path, config, steps: int | None = None) -> Config:
    """The config the run started with (kept in its checkpoints), with optimisation.steps raised to
    `steps` if given; an edited config.toml or a different `config` is refused, naming the fields
    (qsolid.schema.check_resume)."""
    if not (run_dir / "config.toml").is_file():
        raise ConfigError(f"run_dir: {run_dir} is not a qsolid run directory (no config.toml)")
    own = load_config(run_dir / "config.toml")
    latest = checkpoint.latest_valid(run_dir / "checkpoints")
    recorded = checkpoint.load_arrays(latest)[1].get("config") if latest is not None else None
    started = own if recorded is None else parse(Config, recorded)
    check_resume(started, own)
    if config is not None:
        check_resume(started, config if isinstance(config, Config) else load_config(config))
    if steps is None:
        return started
    if started.npt.lattice_mode != "fixed":
        raise ConfigError("--steps: a constant-pressure run's length is its [npt] schedule; start a new run")
    extended = dataclasses.replace(started, optimisation=dataclasses.replace(started.optimisation, steps=steps))
    check_resume(started, extended)
    return extended


def require_new_directory(run_dir: Path, field: str = "run_dir") -> None:
    """ConfigError naming `field` unless `run_dir` is new or empty (a run never writes over another)."""
    if run_dir.exists() and any(run_dir.iterdir()):
        raise ConfigError(f"{field}: {run_dir} exists and is not empty (resume it, or choose a new one)")


def _run_to_completion(problem: Problem, run_dir: Path, logger, progress: Progress) -> dict | None:
    """Pretrain, train and evaluate, resuming from whatever the run directory holds."""
    config = problem.config
    checkpoints = run_dir / "checkpoints"
    latest = checkpoint.latest_valid(checkpoints, logger)
    if latest != checkpoint.latest(checkpoints):
        progress.note(f"warning: newer checkpoints are corrupt (see qsolid.log); resuming from {latest.name}")
    if latest is not None:
        state = runstate.load_checkpoint(problem, latest)
        logger.info("resumed from %s (step %d)", latest.name, state.step)
    else:
        state = runstate.initial_state(problem)
    counts = {part: sum(int(np.size(leaf)) for leaf in jax.tree.leaves(tree)) for part, tree in state.params.items()}
    message = f"wavefunction '{config.network.ansatz}': {sum(counts.values())} parameters"
    if len(counts) > 1:  # quantum nuclei: say how they split between phi (electrons) and chi (nuclei)
        message += ": " + ", ".join(f"{count} in {FACTOR_NAMES[part]}" for part, count in counts.items())
    logger.info(message)
    progress.note(message)
    hf_energy = _pretrain_if_needed(problem, state, run_dir, logger, progress)
    if not state.burned_in:
        progress.note(f"burn-in: {config.sampling.burn_in_sweeps} sweeps (compiling the sampler)")
        state = runstate.burn_in(problem, state, config.sampling.burn_in_sweeps)
        state.burned_in = True
        runstate.save_checkpoint(problem, state, checkpoints)

    start = time.perf_counter()
    state, finished = train.train(problem, state, run_dir, logger, progress)
    if not finished:
        return None
    logger.info("training finished at step %d (%.1f s this session)", state.step, time.perf_counter() - start)
    results = _evaluate(problem, state, config.evaluation.steps, run_dir, progress)
    if results is None:
        return None
    if not rundir.writes():  # the rest reads what process 0 is writing; it alone completes the run directory
        return {**_from_evaluation(results), "steps": state.step, "rewinds": state.rewinds}
    stats = rundir.read_stats(run_dir / "stats.csv") if (run_dir / "stats.csv").exists() else {}  # none after 0 steps
    summary = {
        **_from_evaluation(results),
        "steps": state.step,
        "seconds_per_step": float(np.median(stats["seconds"])) if stats else float("nan"),
        "rewinds": state.rewinds,
    }
    if not problem.system.is_jellium:  # jellium has no nuclei, hence no structure
        summary.update(write_final_structure(run_dir, logger))
    if hf_energy is not None:
        summary["hartree_fock_energy_ha"] = hf_energy
        summary["hartree_fock_energy_per_atom_ha"] = hf_energy / problem.system.n_nuclei
        per_configuration = rundir.read_json(run_dir / "hartree_fock.json").get("per_configuration_energy_ha", [])
        for entry, energy in zip(summary.get("per_configuration", []), per_configuration):
            entry["hartree_fock_energy_per_atom_ha"] = energy / problem.system.n_nuclei
    if runstate.is_npt(problem):
        summary.update(npt_summary(problem, state, results))
        summary.update(cell_convergence(stats))
    _write_summary(run_dir, summary, logger)
    from qsolid.vmc.plots import plot_training

    if stats:
        logger.info("plots: %s", ", ".join(str(path) for path in plot_training(run_dir)))
    return summary


def _from_evaluation(results: dict) -> dict:
    """The keys of evaluation.json that summary.json repeats: the raw values and every finite-size correction."""
    return {key: value for key, value in results.items()
            if key in SUMMARY_KEYS_FROM_EVALUATION or key.startswith("finite_size") or "_corrected" in key}


def _write_summary(run_dir: Path, summary: dict, logger) -> None:
    """summary.json and its account in words, report.md."""
    rundir.atomic_write_json(run_dir / "summary.json", summary)
    write_report(run_dir, summary, load_config(run_dir / "config.toml"))
    logger.info("summary: %s", json.dumps(summary))


def _evaluate(problem: Problem, state, steps: int, run_dir: Path, progress: Progress) -> dict | None:
    progress.stage("evaluation", steps, evaluated_steps(run_dir))
    results, finished = evaluate(problem, state, steps, run_dir, progress)
    if not finished:
        return None
    # computed with the evaluation, so that evaluation.json and an extended evaluation never carry stale corrections
    results.update(finite_size_corrected(results, problem.config, problem.system, float(lat.volume(state.lattice))))
    rundir.atomic_write_json(run_dir / "evaluation.json", results)
    return results


def npt_summary(problem: Problem, state, results) -> dict:
    """Enthalpy H = E + P Omega (per atom), volume and cell of a constant-pressure run at its final cell."""
    n_atoms = problem.system.n_nuclei
    volume_per_atom = float(lat.volume(state.lattice)) / n_atoms
    pressure = units.gpa_to_ha_bohr3(problem.config.npt.pressure_gpa)
    enthalpy_per_atom = enthalpy(results["energy_per_atom_ha"], volume_per_atom, pressure)
    a, b, c, alpha, beta, gamma = (float(x) for x in lat.parameters_from_lattice(state.lattice))
    return {
        "pressure_gpa": problem.config.npt.pressure_gpa,
        "enthalpy_per_atom_ha": enthalpy_per_atom,
        "enthalpy_per_atom_error_ha": results["energy_per_atom_error_ha"],
        "enthalpy_per_atom_ev": units.ha_to_ev(enthalpy_per_atom),
        "volume_per_atom_bohr3": volume_per_atom,
        "volume_per_atom_a3": units.bohr3_to_angstrom3(volume_per_atom),
        "lattice_abc_bohr": [a, b, c],
        "lattice_angles_deg": [alpha, beta, gamma],
        "annealed_enthalpy": (
            "G + two-body Delta E(Omega), leading order" if problem.config.npt.finite_size_correction == "two-body"
            else "G = E + P Omega of the finite cell, no finite-size correction"
        ),
    }


def finite_size_corrected(summary: dict, config, system, volume_bohr3: float) -> dict:
    """The energy per atom and virial pressure with the two-body finite-size corrections added, under
    their own keys beside the raw values: `*_corrected_*` the leading-order values (qsolid.finite_size),
    `*_corrected_sk_*` the potential part measured from S(k) (qsolid.structure_factor) with the
    leading-order kinetic part. Nothing for a molecule in a box, for the plane-wave determinant, for
    jellium (its energies are per electron, these corrections per atom) or without the raw values."""
    if system.is_molecule_in_box or system.is_jellium or config.network.ansatz == "slater":
        return {}
    n_electrons, n_atoms = system.n_electrons, system.n_nuclei
    kinetic = 0.5 * finite_size.two_body_energy_ha(n_electrons, volume_bohr3)  # Delta T = Delta V = omega_p / 4
    out = {"finite_size_correction": finite_size.NAME, "finite_size_energy_per_atom_ha": 2 * kinetic / n_atoms}
    corrections = {"": (kinetic, 0.0)}
    if "finite_size_potential_sk_ha" in summary:
        out["finite_size_correction_sk"] = finite_size.STRUCTURE_FACTOR_NAME
        corrections["_sk"] = (summary["finite_size_potential_sk_ha"], summary["finite_size_potential_sk_error_ha"])
        out["finite_size_sk_energy_per_atom_ha"] = (kinetic + corrections["_sk"][0]) / n_atoms
    for suffix, (potential, potential_error) in corrections.items():
        if "energy_per_atom_ha" in summary:
            out[f"energy_per_atom_corrected{suffix}_ha"] = summary["energy_per_atom_ha"] + (kinetic + potential) / n_atoms
            out[f"energy_per_atom_corrected{suffix}_error_ha"] = float(np.hypot(summary["energy_per_atom_error_ha"], potential_error / n_atoms))
        if "virial_pressure_gpa" in summary:
            pressure = units.ha_bohr3_to_gpa((2 * kinetic + potential) / (3 * volume_bohr3))
            out[f"finite_size{suffix}_pressure_gpa"] = pressure
            out[f"virial_pressure_corrected{suffix}_gpa"] = summary["virial_pressure_gpa"] + pressure
            error = units.ha_bohr3_to_gpa(potential_error / (3 * volume_bohr3))
            out[f"virial_pressure_corrected{suffix}_error_gpa"] = float(np.hypot(summary["virial_pressure_error_gpa"], error))
    return out


CELL_MOVING_PERCENT = 1.0
"""A last lattice stage whose volume changed by more than this (percent) has not converged."""


def cell_convergence(stats: dict) -> dict:
    """How far the volume moved over the last lattice stage: a cell that still moves there has not
    reached its constant-pressure volume (run more cycles)."""
    stages = stats["stage"]
    last = max(index for index, stage in enumerate(stages) if stage == "lattice")
    first = last
    while first > 0 and stages[first - 1] == "lattice":
        first -= 1
    volumes = np.asarray(stats["volume_per_atom_bohr3"][first : last + 1])
    change = 100.0 * float(volumes[-1] - volumes[0]) / float(volumes[0])
    return {"last_lattice_stage_volume_change_percent": change, "cell_converged": abs(change) <= CELL_MOVING_PERCENT}


def write_final_structure(run_dir: Path, logger) -> dict:
    """RUN_DIR/final.cif, a sampled configuration of the evaluation (the one nearest the mean, a real
    structure one can start from), and RUN_DIR/mean_positions.cif, the mean nuclear positions (which
    merge for rotating molecules). Returns their shortest interatomic distances (angstrom)."""
    from qsolid.analysis.crystal import Crystal
    from qsolid.analysis.samples import load_samples, mean_structure, unwrapped_samples

    samples = load_samples(run_dir)
    mean = mean_structure(samples)
    unwrapped = unwrapped_samples(samples)
    nearest = int(np.argmin(np.sum(((unwrapped - unwrapped.mean(axis=0)) ** 2), axis=(1, 2))))
    lattice = samples.lattice_per_sample()[nearest]
    representative = Crystal(lattice, lat.wrap(unwrapped[nearest]), samples.numbers)
    distances = {}
    for name, crystal in (("final", representative), ("mean_positions", mean.crystal)):
        crystal.write_cif(run_dir / f"{name}.cif")
        distances[f"{name}_shortest_distance_angstrom"] = shortest_distance_angstrom(crystal)
    if distances["final_shortest_distance_angstrom"] < SHORTEST_DISTANCE_ANGSTROM:
        logger.warning("final.cif has nuclei %.3f angstrom apart: not a physical structure",
                       distances["final_shortest_distance_angstrom"])
    return distances


def shortest_distance_angstrom(crystal) -> float:
    """Shortest distance between two nuclei under periodic boundary conditions (inf for one nucleus)."""
    if crystal.n_atoms == 1:
        return float("inf")
    distances = crystal.to_ase().get_all_distances(mic=True)
    return float(np.min(distances[~np.eye(crystal.n_atoms, dtype=bool)]))


def _pretraining_hints(config, system) -> list[str]:
    """Network options that lowered the pretraining residual where they apply (docs/validation_twists.md)."""
    from qsolid.vmc.ansatz.electrons import has_open_shell

    if config.network.ansatz != "neural":
        return []
    hints = []
    if config.network.open_shells == "fixed" and has_open_shell(system):
        hints.append('open_shells = "combined" (a plane-wave shell is partly filled)')
    if len(system.twists) > 1 and config.network.twist_orbitals == "shared":
        hints.append('twist_orbitals = "per_twist"')
    return hints


def _pretrain_if_needed(problem: Problem, state, run_dir: Path, logger, progress: Progress):
    """Hartree-Fock (its energy cached in RUN_DIR/hartree_fock.json) and, on a fresh state, the orbital fit."""
    config = problem.config
    if config.pretrain.steps == 0 or config.network.ansatz == "slater" or config.system.structure == "jellium":
        return None  # nothing to fit: no PySCF cell without nuclei; jellium's 'mpnn' starts at its plane-wave HF state
    from qsolid.vmc.pretrain import RESIDUAL_WARNING, pretrain, solve_hartree_fock

    cached = run_dir / "hartree_fock.json"
    if state.pretrained and cached.exists():
        return rundir.read_json(cached)["energy_ha"]
    logger.info("periodic Hartree-Fock (%s basis)", config.pretrain.basis)
    progress.note(f"periodic Hartree-Fock (PySCF, {config.pretrain.basis} basis)")
    def report(k, n, twist, energy_ha):
        if n > 1:
            logger.info("Hartree-Fock %d of %d (twist %s): %.6f Ha per cell", k, n, np.round(twist, 6).tolist(), energy_ha)
            progress.note(f"  Hartree-Fock {k} of {n}: {energy_ha:.6f} Ha per cell")

    with rundir.ended_at_once_by_signals():  # nothing to save yet; Ctrl-C must not wait for PySCF's integrals
        hfs = solve_hartree_fock(problem.system, config.pretrain.basis, problem.configurations, report)  # one per walker group
    per_twist = [hf.energy_ha for hf in hfs]
    energy = float(np.asarray(problem.groups.weights) @ np.asarray(per_twist))  # the twist average (ensemble mean)
    cache = {"energy_ha": energy, "basis": config.pretrain.basis}
    if problem.configurations is not None:
        per_configuration = np.reshape(per_twist, (len(problem.configurations), -1)) @ np.asarray(problem.system.twist_weights)
        cache["per_configuration_energy_ha"] = [float(e) for e in per_configuration]
    elif len(hfs) > 1:
        cache["per_twist_energy_ha"] = per_twist
    rundir.atomic_write_json(cached, cache)
    logger.info("Hartree-Fock energy %.6f Ha per cell%s", energy,
                f" (twist average of {', '.join(f'{e:.6f}' for e in per_twist)})" if len(hfs) > 1 else "")
    if not state.pretrained:
        progress.stage("pretraining", config.pretrain.steps)
        residual = pretrain(problem, state, hfs, logger, progress.advance)
        progress.note(f"pretraining: {config.pretrain.steps} steps, orbital residual {residual:.4f} "
                      "(the part of the Hartree-Fock orbitals outside the network's span)")
        if residual > RESIDUAL_WARNING:
            progress.note(f"warning: an orbital residual above {RESIDUAL_WARNING} has started runs tens to "
                          "hundreds of mHa/atom above Hartree-Fock (docs/validation_twists.md); raise pretrain.steps"
                          + "".join(f" or set network.{hint}" for hint in _pretraining_hints(config, problem.system)))
        runstate.save_checkpoint(problem, state, run_dir / "checkpoints")  # a kill during the burn-in keeps it
    return energy
