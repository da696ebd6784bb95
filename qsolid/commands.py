"""The VMC subcommands: run, config, evaluate, plot."""

import json
import logging
import sys
import time
from pathlib import Path

import numpy as np
import tomli_w

from qsolid import checkpoint, rundir, twist_average
from qsolid.config import load_config, main_job_config
from qsolid.schema import ConfigError, to_commented_toml, to_dict
from qsolid.system import build_system


def register(subparsers) -> None:
    run = subparsers.add_parser("run", help="optimise a wavefunction, then evaluate it (default: the built-in main job, 8-atom H2 crystal at 130 GPa)")
    run.add_argument("config", nargs="?", help="TOML config file (default: the built-in main job, printed by `qsolid config`)")
    run.add_argument("--out", help="new run directory (default: runs/run-YYYYmmdd-HHMMSS)")
    run.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR from its last checkpoint")
    run.set_defaults(func=command_run)

    config = subparsers.add_parser("config", help="print the built-in main job's config (every option, with comments)")
    config.add_argument("config", nargs="?", help="print this config file resolved (validated, defaults filled in)")
    config.set_defaults(func=command_config)

    evaluate = subparsers.add_parser(
        "evaluate",
        help="inference with frozen parameters: energies with error bars (continues an earlier evaluation of the same checkpoint)",
    )
    evaluate.add_argument("run_dir")
    evaluate.add_argument("--steps", type=int, help="evaluation steps (default: evaluation.steps of the run's config)")
    evaluate.set_defaults(func=command_evaluate)

    plot = subparsers.add_parser("plot", help="write PNG training curves of a run")
    plot.add_argument("run_dir")
    plot.set_defaults(func=command_plot)


def command_config(args) -> int:
    config = load_config(args.config) if args.config else main_job_config()
    if not args.config:
        sys.stdout.write("# The built-in main job (`qsolid run` without a config); edit a copy and pass it as CONFIG.\n")
    sys.stdout.write(to_commented_toml(config))
    return 0


def _new_run_dir(out) -> Path:
    path = Path(out) if out else Path("runs") / time.strftime("run-%Y%m%d-%H%M%S")
    if path.exists() and any(path.iterdir()):
        raise ConfigError(f"--out: {path} exists and is not empty (use --resume {path} to continue it)")
    return path


def _progress():
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[info]}"),
        transient=False,
    )


def _run_with_progress(description, total, completed, body):
    with _progress() as progress:
        task = progress.add_task(description, total=total, completed=completed, info="")

        def update(done, row):
            info = "  ".join(
                f"{k}={v:.5f}" for k, v in row.items() if k in ("energy_ha", "enthalpy_ha", "energy", "pretrain_loss")
            )
            progress.update(task, completed=done, info=info)

        return body(update)


def command_run(args) -> int:
    from qsolid.vmc import build_problem

    if args.resume and args.config:
        raise ConfigError("run: give either a CONFIG or --resume RUN_DIR, not both")
    if args.resume:
        run_dir = Path(args.resume)
        if not (run_dir / "config.toml").is_file():
            raise ConfigError(f"--resume: {run_dir} is not a qsolid run directory (no config.toml)")
        config = load_config(run_dir / "config.toml")
    else:
        config = load_config(args.config) if args.config else main_job_config()
    twist_set = len(build_system(config.system).twists) > 1  # one sub-run per twist (qsolid.twist_average)
    problem = None if twist_set else build_problem(config)
    if twist_set:
        twist_average.single_twist_configs(config)  # refuses what a twist set cannot do before anything is written
    if not args.resume:
        run_dir = _new_run_dir(args.out)
        run_dir.mkdir(parents=True, exist_ok=True)
        rundir.atomic_write_text(run_dir / "config.toml", tomli_w.dumps(to_dict(config)))
    logger = rundir.setup_logging(run_dir)
    logger.info("qsolid run in %s (resume=%s)", run_dir, bool(args.resume))
    print(f"run directory: {run_dir}")
    if twist_set:
        summary = twist_average.run_to_completion(
            config, run_dir, logger, lambda sub_config, sub_dir, log: run_to_completion(build_problem(sub_config), sub_dir, log)
        )
    else:
        summary = run_to_completion(problem, run_dir, logger)
    if summary is None:
        print(f"stopped; continue with: qsolid run --resume {run_dir}")
        return 130
    per, count = ("electron", summary["n_electrons"]) if "energy_per_electron_ha" in summary else ("atom", summary["n_atoms"])
    print(
        f"E = {summary[f'energy_per_{per}_ha']:.6f} +- {summary[f'energy_per_{per}_error_ha']:.6f} Ha/{per} "
        f"({summary['energy_ha']:.6f} +- {summary['energy_error_ha']:.6f} Ha/cell, {count} {per}s, {summary['boundary_condition']})"
    )
    if "pressure_gpa" in summary:
        print(
            f"at {summary['pressure_gpa']:g} GPa: H = E + P Omega = {summary['enthalpy_per_atom_ha']:.6f} +- "
            f"{summary['enthalpy_per_atom_error_ha']:.6f} Ha/atom, V = {summary['volume_per_atom_a3']:.4f} A^3/atom "
            f"({summary['volume_per_atom_bohr3']:.4f} bohr^3/atom), final cell in {run_dir / 'final.cif'}"
        )
    if "virial_pressure_gpa" in summary:
        print(f"virial pressure of the final wavefunction: {summary['virial_pressure_gpa']:.1f} +- {summary['virial_pressure_error_gpa']:.1f} GPa")
    if "energy_isolated_ha" in summary:
        print(f"isolated-molecule energy E + (2 pi/3 Omega)<d^2> = {summary['energy_isolated_ha']:.6f} +- {summary['energy_isolated_error_ha']:.6f} Ha")
    return 0


def run_to_completion(problem, run_dir: Path, logger):
    """Pretrain, train and evaluate, resuming from whatever the run directory holds."""
    from qsolid import train
    from qsolid.evaluate import evaluate

    config = problem.config
    checkpoints = run_dir / "checkpoints"
    latest = checkpoint.latest(checkpoints)
    if latest is not None:
        state = train.load_checkpoint(problem, latest)
        logger.info("resumed from %s (step %d)", latest.name, state.step)
    else:
        state = train.initial_state(problem)
    hf_energy = _pretrain_if_needed(problem, state, run_dir, logger)
    if latest is None:
        state = train.burn_in(problem, state, config.sampling.burn_in_sweeps)
        train.save_checkpoint(problem, state, checkpoints)

    start = time.perf_counter()
    state, finished = _run_with_progress(
        "training", train.run_length(problem), state.step, lambda update: train.train(problem, state, run_dir, logger, update)
    )
    if not finished:
        return None
    logger.info("training finished at step %d (%.1f s this session)", state.step, time.perf_counter() - start)
    results, finished = _run_with_progress(
        "evaluation",
        config.evaluation.steps,
        0,
        lambda update: evaluate(problem, state, config.evaluation.steps, run_dir, update),
    )
    if not finished:
        return None
    rundir.atomic_write_json(run_dir / "evaluation.json", results)
    if not problem.system.is_jellium:  # jellium has no structure to write
        _write_final_structure(run_dir)
    stats = rundir.read_stats(run_dir / "stats.csv") if (run_dir / "stats.csv").exists() else {}  # none after 0 steps
    summary = {
        **{
            k: results[k]
            for k in (
                "n_atoms", "n_electrons", "boundary_condition", "twists", "energy_ha", "energy_error_ha",
                "energy_per_atom_ha", "energy_per_atom_error_ha", "energy_per_electron_ha",
                "energy_per_electron_error_ha", "variance_ha2",
            )
            if k in results
        },
        "steps": state.step,
        "seconds_per_step": float(np.median(stats["seconds"])) if stats else float("nan"),
        "rewinds": state.rewinds,
    }
    if hf_energy is not None:
        summary["hartree_fock_energy_ha"] = hf_energy
        summary["hartree_fock_energy_per_atom_ha"] = hf_energy / problem.system.n_nuclei
    if train.is_npt(problem):
        summary.update(_npt_summary(problem, state, results))
    for key in (
        "virial_pressure_gpa",
        "virial_pressure_error_gpa",
        "energy_isolated_ha",
        "energy_isolated_error_ha",
        "dipole_sq_bohr2",
        "kinetic_bo_ha",
        "kinetic_bo_error_ha",
        "kinetic_nonbo_ha",
        "kinetic_nonbo_error_ha",
        "proton_acceptance",
    ):
        if key in results:
            summary[key] = results[key]
    rundir.atomic_write_json(run_dir / "summary.json", summary)
    logger.info("summary: %s", json.dumps(summary))
    return summary


def _npt_summary(problem, state, results) -> dict:
    """Enthalpy, volume and cell of a constant-pressure run at its final cell."""
    from qsolid import lattice as lat
    from qsolid import units

    n_atoms = problem.system.n_nuclei
    volume_per_atom = float(lat.volume(state.lattice)) / n_atoms
    pressure = units.gpa_to_ha_bohr3(problem.config.npt.pressure_gpa)
    enthalpy_per_atom = results["energy_per_atom_ha"] + pressure * volume_per_atom
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
    }


def _write_final_structure(run_dir: Path) -> None:
    """RUN_DIR/final.cif: the final cell with the mean nuclear positions of the evaluation (angstrom)."""
    import os
    import tempfile

    from qsolid.analysis.samples import load_samples, mean_structure

    crystal = mean_structure(load_samples(run_dir)).crystal
    handle, tmp = tempfile.mkstemp(dir=run_dir, prefix=".final.", suffix=".cif")
    os.close(handle)
    crystal.write_cif(tmp)
    os.replace(tmp, run_dir / "final.cif")


def _pretrain_if_needed(problem, state, run_dir: Path, logger):
    """Hartree-Fock (its energy cached in RUN_DIR/hartree_fock.json) and, on a fresh state, the orbital fit."""
    config = problem.config
    if config.pretrain.steps == 0 or config.network.ansatz == "slater":  # nothing to fit (and no PySCF cell for jellium)
        return None
    from qsolid.pretrain import pretrain, solve_hartree_fock

    cached = run_dir / "hartree_fock.json"
    if state.pretrained and cached.exists():
        return rundir.read_json(cached)["energy_ha"]
    logger.info("periodic Hartree-Fock (%s basis)", config.pretrain.basis)
    hf = solve_hartree_fock(problem.system, config.pretrain.basis)
    rundir.atomic_write_json(cached, {"energy_ha": hf.energy_ha, "basis": config.pretrain.basis})
    logger.info("Hartree-Fock energy %.6f Ha per cell", hf.energy_ha)
    if not state.pretrained:
        _run_with_progress("pretraining", config.pretrain.steps, 0, lambda update: pretrain(problem, state, hf, logger, update))
    return hf.energy_ha


def command_evaluate(args) -> int:
    from qsolid import train
    from qsolid.evaluate import evaluate
    from qsolid.vmc import build_problem

    run_dir = Path(args.run_dir)
    if not (run_dir / "config.toml").is_file():
        raise ConfigError(f"run_dir: {run_dir} is not a qsolid run directory (no config.toml)")
    config = load_config(run_dir / "config.toml")
    steps = args.steps or config.evaluation.steps
    if steps < 1:
        raise ConfigError(f"--steps: must be >= 1, got {steps}")
    latest = checkpoint.latest(run_dir / "checkpoints")
    if latest is None and (run_dir / "twist-00").is_dir():
        raise ConfigError(f"run_dir: {run_dir} is a twist set; evaluate its sub-runs {run_dir}/twist-NN one by one")
    if latest is None:
        raise ConfigError(f"run_dir: {run_dir} has no checkpoint to evaluate")
    problem = build_problem(config)
    logger = rundir.setup_logging(run_dir)
    state = train.load_checkpoint(problem, latest, with_optimiser=False)
    results, finished = _run_with_progress(
        "evaluation", steps, 0, lambda update: evaluate(problem, state, steps, run_dir, update)
    )
    if not finished:
        print(f"stopped; run the same command again to continue")
        return 130
    rundir.atomic_write_json(run_dir / "evaluation.json", results)
    logger.info("evaluation: %s", json.dumps(results))
    print(json.dumps(results, indent=2))
    return 0


def command_plot(args) -> int:
    from qsolid.plots import plot_training

    run_dir = Path(args.run_dir)
    if not (run_dir / "stats.csv").is_file():
        raise ConfigError(f"run_dir: {run_dir} has no stats.csv")
    for path in plot_training(run_dir):
        print(path)
    return 0
