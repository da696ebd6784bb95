"""`qsolid nct`: run an NCT calculation or print the default config.

    qsolid nct run CONFIG.toml --out RUN_DIR [--resume]
    qsolid nct config
"""

import sys

from qsolid.rundir import StopRequest


def _run(args) -> int:
    from qsolid.nct import config as nct_config

    config = nct_config.load(args.config)
    from qsolid.nct import driver

    if args.no_progress:
        summary = driver.run(config, args.out, resume=args.resume)
    else:
        from qsolid.console import ConsoleProgress

        with ConsoleProgress() as progress:
            summary = driver.run(config, args.out, resume=args.resume, progress=progress)
    if summary is None:
        print(f"qsolid nct: stopped; continue with: qsolid nct run {args.config} --out {args.out} --resume", file=sys.stderr)
        return StopRequest.exit_status()
    error = summary["free_energy_error"]
    print(f"F = {summary['free_energy']:.10g} +- {error:.2g} {summary['energy_unit']}/{summary['per']}"
          f" (harmonic {summary['harmonic_free_energy']:.10g}); S = {summary['entropy_kb']:.6g} +- "
          f"{summary['entropy_kb_error']:.2g} k_B/{summary['per']}; summary in {args.out}/summary.json")
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
    run.add_argument("config", help="TOML config (see `qsolid nct config`).")
    run.add_argument("--out", required=True, help="Run directory.")
    run.add_argument("--resume", action="store_true", help="Continue the run in --out from its last checkpoint.")
    run.add_argument("--no-progress", action="store_true", help="No progress bar.")
    run.set_defaults(func=_run)
    show = commands.add_parser("config", help="Print the default config with documentation.")
    show.set_defaults(func=_config)
