"""`qsolid nct`: run an NCT calculation or print the default config.

    qsolid nct run CONFIG.toml --out RUN_DIR
    qsolid nct run --resume RUN_DIR        (or, as before: CONFIG.toml --out RUN_DIR --resume)
    qsolid nct config
"""

import sys
from pathlib import Path

from qsolid.rundir import StopRequest
from qsolid.schema import ConfigError


def _config_and_run_dir(args):
    """(config, run directory, resume?) from CONFIG --out RUN_DIR [--resume] or from --resume RUN_DIR,
    the form every engine's run command takes."""
    from qsolid.nct import config as nct_config

    if isinstance(args.resume, str):
        if args.config or args.out:
            raise ConfigError("run: give either CONFIG --out RUN_DIR [--resume] or --resume RUN_DIR, not both")
        run_dir = Path(args.resume)
        if not (run_dir / "config.toml").is_file():
            raise ConfigError(f"--resume: {run_dir} is not an nct run directory (no config.toml)")
        return nct_config.load(run_dir / "config.toml"), run_dir, True
    if not args.config or not args.out:
        raise ConfigError("run: CONFIG and --out RUN_DIR are required (print the default config with `qsolid nct config`)")
    return nct_config.load(args.config), Path(args.out), bool(args.resume)


def _run(args) -> int:
    config, run_dir, resume = _config_and_run_dir(args)
    from qsolid.nct import driver

    if args.no_progress:
        summary = driver.run(config, run_dir, resume=resume)
    else:
        from qsolid.console import ConsoleProgress

        with ConsoleProgress() as progress:
            summary = driver.run(config, run_dir, resume=resume, progress=progress)
    if summary is None:
        print(f"qsolid nct: stopped; continue with: qsolid nct run --resume {run_dir}", file=sys.stderr)
        return StopRequest.exit_status()
    error = summary["free_energy_error"]
    print(f"F = {summary['free_energy']:.10g} +- {error:.2g} {summary['energy_unit']}/{summary['per']}"
          f" (harmonic {summary['harmonic_free_energy']:.10g}); S = {summary['entropy_kb']:.6g} +- "
          f"{summary['entropy_kb_error']:.2g} k_B/{summary['per']}; summary in {run_dir}/summary.json")
    return 0


def _config(args) -> int:
    from qsolid import schema
    from qsolid.nct import config as nct_config

    print(schema.to_commented_toml(nct_config.from_dict({})), end="")
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser("nct", help="Neural canonical transformations for anharmonic quantum solids.")
    commands = parser.add_subparsers(dest="nct_command", metavar="NCT_COMMAND", required=True)
    run = commands.add_parser("run", help="Train and evaluate the variational density matrix.")
    run.add_argument("config", nargs="?", help="TOML config (see `qsolid nct config`).")
    run.add_argument("--out", help="Run directory.")
    run.add_argument("--resume", nargs="?", const=True, metavar="RUN_DIR",
                     help="Continue the run in RUN_DIR (or, after CONFIG --out RUN_DIR, in that one) from its last checkpoint.")
    run.add_argument("--no-progress", action="store_true", help="No progress bar.")
    run.set_defaults(func=_run)
    show = commands.add_parser("config", help="Print the default config with documentation.")
    show.set_defaults(func=_config)
