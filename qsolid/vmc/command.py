"""The VMC subcommands: run, config, evaluate, plot — parse, call qsolid.vmc.driver, print."""

import json
import sys
import time
from pathlib import Path

from qsolid.rundir import StopRequest
from qsolid.schema import ConfigError, to_commented_toml
from qsolid.vmc.config import Config, load_config, main_job_config

def register(subparsers) -> None:
    run = subparsers.add_parser("run", help="optimise a wavefunction, then evaluate it (default: the built-in main job, 8-atom H2 crystal at 130 GPa)")
    run.add_argument("config", nargs="?", help="TOML config file (default: the built-in main job, examples/main_job.toml)")
    run.add_argument("--out", help="new run directory (default: runs/run-YYYYmmdd-HHMMSS)")
    run.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR from its last checkpoint")
    run.add_argument("--steps", type=str, help="with --resume: extend a fixed-cell run to N optimisation steps (the only change a resume allows)")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_distributed_arguments(run)
    run.set_defaults(func=command_run)

    config = subparsers.add_parser("config", help="print every option with its default and documentation")
    config.add_argument("config", nargs="?", help="print this config file resolved (validated, defaults filled in)")
    config.set_defaults(func=command_config)

    evaluate = subparsers.add_parser(
        "evaluate",
        help="inference with frozen parameters: energies with error bars (extends an earlier evaluation of the same checkpoint)",
    )
    evaluate.add_argument("run_dir")
    evaluate.add_argument("--steps", type=str, help="total evaluation steps, more than already taken (default: evaluation.steps of the run's config)")
    evaluate.add_argument(
        "--configurations", metavar="FILE",
        help="evaluate on this configuration set instead (held out: extended-XYZ or samples.npz of the run's cell); "
             "writes RUN_DIR/held_out-<file stem>/evaluation.json with per-configuration energies",
    )
    add_distributed_arguments(evaluate)
    evaluate.set_defaults(func=command_evaluate)

    plot = subparsers.add_parser("plot", help="write PNG training curves of a run")
    plot.add_argument("run_dir")
    plot.set_defaults(func=command_plot)


def add_distributed_arguments(parser) -> None:
    group = parser.add_argument_group("many processes (one per host or GPU; see docs/cluster.md)")
    group.add_argument("--distributed", action="store_true",
                       help="join the processes of this job into one run, as the cluster environment describes them (SLURM, Open MPI, JAX_COORDINATOR_ADDRESS)")
    group.add_argument("--coordinator", metavar="HOST:PORT", help="address of process 0, which coordinates (with --num-processes and --process-id)")
    group.add_argument("--num-processes", metavar="N", help="number of processes of the run")
    group.add_argument("--process-id", metavar="I", help="this process's index, 0 .. N-1 (process 0 writes the run directory)")


def start_processes(args) -> bool:
    """Join a multi-process run if the flags ask for one (before any JAX computation); True in the
    process that writes and prints (process 0, or the only one)."""
    explicit = (args.coordinator, args.num_processes, args.process_id)
    if any(value is not None for value in explicit):
        if None in explicit:
            raise ConfigError("--coordinator, --num-processes and --process-id: give all three (or --distributed alone)")
        if args.distributed:
            raise ConfigError("--distributed: reads the cluster environment; leave it out with --coordinator")
        from qsolid import distributed

        distributed.initialize(args.coordinator, _parse_whole(args.num_processes, "--num-processes"),
                               _parse_whole(args.process_id, "--process-id"))
    elif args.distributed:
        from qsolid import distributed

        distributed.initialize()
    else:
        from qsolid.distributed import slurm_tasks_without_distributed

        if tasks := slurm_tasks_without_distributed():
            raise ConfigError(f"--distributed: SLURM started {tasks} tasks; add --distributed to make them one run, or start one task")
        return True
    import jax

    return jax.process_index() == 0


def command_config(args) -> int:
    config = load_config(args.config) if args.config else Config()
    if not args.config:
        sys.stdout.write("# Every option with its default; a config file names only what differs.\n")
    sys.stdout.write(to_commented_toml(config))
    return 0


def command_run(args) -> int:
    if args.resume and args.config:
        raise ConfigError("run: give either a CONFIG or --resume RUN_DIR, not both")
    if args.resume:
        run_dir = Path(args.resume)
        config = None
    else:
        config = load_config(args.config) if args.config else main_job_config()
        run_dir = Path(args.out) if args.out else Path("runs") / time.strftime("run-%Y%m%d-%H%M%S")
    steps = None if args.steps is None else _parse_steps(args.steps)
    primary = start_processes(args)
    from qsolid.console import ConsoleProgress  # after the config is read: a bad one fails before jax loads
    from qsolid.vmc import driver

    if not args.resume:
        driver.require_new_directory(run_dir, "--out")
    if not primary:
        summary = driver.run(config, run_dir, resume=bool(args.resume), steps=steps)
        return _secondary_exit(summary is None, run_dir)
    print(f"run directory: {run_dir}")
    if args.no_progress:
        summary = driver.run(config, run_dir, resume=bool(args.resume), steps=steps)
    else:
        with ConsoleProgress() as progress:
            summary = driver.run(config, run_dir, resume=bool(args.resume), progress=progress, steps=steps)
    if summary is None:
        print(f"stopped; continue with: qsolid run --resume {run_dir}")
        return StopRequest.exit_status()
    print_summary(summary, run_dir)
    return 0


def print_summary(summary: dict, run_dir: Path) -> None:
    per, count = ("electron", summary["n_electrons"]) if "energy_per_electron_ha" in summary else ("atom", summary["n_atoms"])
    print(
        f"E = {summary[f'energy_per_{per}_ha']:.6f} +- {summary[f'energy_per_{per}_error_ha']:.6f} Ha/{per} "
        f"({summary['energy_ha']:.6f} +- {summary['energy_error_ha']:.6f} Ha/cell, {count} {per}s, {summary['boundary_condition']})"
    )
    if "pressure_gpa" in summary:
        print(
            f"at {summary['pressure_gpa']:g} GPa: H = E + P Omega = {summary['enthalpy_per_atom_ha']:.6f} +- "
            f"{summary['enthalpy_per_atom_error_ha']:.6f} Ha/atom, V = {summary['volume_per_atom_a3']:.4f} A^3/atom "
            f"({summary['volume_per_atom_bohr3']:.4f} bohr^3/atom)"
        )
        moved = summary["last_lattice_stage_volume_change_percent"]
        print(f"the cell {'has converged' if summary['cell_converged'] else 'is still moving'}: "
              f"the volume changed by {moved:+.2f} % over the last lattice stage")
    if "virial_pressure_gpa" in summary:
        print(f"virial pressure of the final wavefunction: {summary['virial_pressure_gpa']:.1f} +- {summary['virial_pressure_error_gpa']:.1f} GPa")
    if "energy_isolated_ha" in summary:
        print(f"isolated-molecule energy E + (2 pi/3 Omega)<d^2> = {summary['energy_isolated_ha']:.6f} +- {summary['energy_isolated_error_ha']:.6f} Ha")
    print_configurations(summary)
    for entry in summary.get("per_twist", []):
        print(f"  twist {entry['twist']} (weight {entry['weight']:.4g}): {entry[f'energy_per_{per}_ha']:.6f} +- "
              f"{entry[f'energy_per_{per}_error_ha']:.6f} Ha/{per}")
    print(f"summary: {run_dir / 'summary.json'}" + ("" if not (run_dir / "final.cif").exists()
          else f"; a sampled structure: {run_dir / 'final.cif'}; plots: {run_dir / 'plots'}"))
    print(f"next: qsolid analyze {run_dir}  (structure, XRD, Raman/IR);  qsolid evaluate {run_dir} --steps N  (smaller error bars)")


def print_configurations(results: dict) -> None:
    """One line per configuration of a configuration set (nothing without one)."""
    entries = results.get("per_configuration", [])
    if entries:
        print(f"{len(entries)} configurations of {results['configurations_file']}, mean {results['energy_per_atom_ha']:.6f} +- "
              f"{results['energy_per_atom_error_ha']:.6f} Ha/atom:")
    for entry in entries:
        print(f"  configuration {entry['configuration']}: {entry['energy_per_atom_ha']:.6f} +- "
              f"{entry['energy_per_atom_error_ha']:.6f} Ha/atom, variance {entry['variance_ha2']:.4f} Ha^2")


def command_evaluate(args) -> int:
    from qsolid.console import ConsoleProgress
    from qsolid.vmc import driver

    steps = None if args.steps is None else _parse_steps(args.steps)
    if args.configurations:
        if not start_processes(args):
            raise ConfigError("--configurations: a held-out evaluation runs in one process")
        with ConsoleProgress() as progress:
            results = driver.evaluate_configurations(args.run_dir, args.configurations, steps, progress=progress)
        if results is not None:
            print_configurations(results)
    else:
        if not start_processes(args):
            return _secondary_exit(driver.evaluate_run(args.run_dir, steps) is None, args.run_dir)
        with ConsoleProgress() as progress:
            results = driver.evaluate_run(args.run_dir, steps, progress=progress)
    if results is None:
        print("stopped; run the same command again to continue")
        return StopRequest.exit_status()
    print(json.dumps(results, indent=2))
    return 0


def _secondary_exit(stopped: bool, run_dir) -> int:
    """A process other than 0 of a multi-process run: one line (process 0 prints the results)."""
    import jax

    state = "stopped" if stopped else "finished"
    print(f"process {jax.process_index()} of {jax.process_count()}: {state}; process 0 wrote {run_dir}")
    return StopRequest.exit_status() if stopped else 0


def _parse_steps(text: str) -> int:
    return _parse_whole(text, "--steps")


def _parse_whole(text: str, flag: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ConfigError(f"{flag}: must be a whole number, got {text!r}") from None


def command_plot(args) -> int:
    from qsolid.vmc.plots import plot_training

    run_dir = Path(args.run_dir)
    if not (run_dir / "stats.csv").is_file():
        raise ConfigError(f"run_dir: {run_dir} has no stats.csv")
    for path in plot_training(run_dir):
        print(path)
    return 0
