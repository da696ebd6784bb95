"""`qsolid dvfe`: run a variational free-energy calculation or print the default config.

    qsolid dvfe run CONFIG.toml [--out RUN_DIR]
    qsolid dvfe run --resume RUN_DIR
    qsolid dvfe quench RUN_DIR [--beta B] [--steps N] [--walkers W] [--seed S] [--out FILE.cif]
    qsolid dvfe config
"""

import sys
import time
from pathlib import Path

from qsolid.rundir import StopRequest
from qsolid.schema import ConfigError

def _run(args) -> int:
    from qsolid.console import ConsoleProgress
    from qsolid.dvfe import config as dvfe_config
    from qsolid.dvfe import driver

    if args.resume and (args.config or args.out):
        raise ConfigError("run: give either CONFIG [--out RUN_DIR] or --resume RUN_DIR, not both")
    if args.resume:
        run_dir = Path(args.resume)
        if not (run_dir / "config.toml").is_file():
            raise ConfigError(f"--resume: {run_dir} is not a dvfe run directory (no config.toml)")
        config = dvfe_config.load(run_dir / "config.toml")
    elif args.config:
        config = dvfe_config.load(args.config)
        run_dir = Path(args.out) if args.out else Path("runs") / time.strftime("dvfe-%Y%m%d-%H%M%S")
    else:
        raise ConfigError("run: CONFIG is required (print the default one with `qsolid dvfe config`)")
    if args.no_progress:
        summary = driver.run(config, run_dir, resume=bool(args.resume))
    else:
        with ConsoleProgress() as progress:
            summary = driver.run(config, run_dir, resume=bool(args.resume), progress=progress)
    if summary is None:
        print(f"qsolid dvfe: stopped; continue with: qsolid dvfe run --resume {run_dir}", file=sys.stderr)
        return StopRequest.exit_status()
    print(f"N = {summary['n_atoms']}, r_s = {summary['rs']:g}, T = {summary['temperature_k']:g} K "
          f"({summary['boundary_condition']}):")
    for key, unit in (("free_energy_ha_per_atom", "Ha/atom"), ("energy_ha_per_atom", "Ha/atom"),
                      ("entropy_kb_per_atom", "k_B/atom"), ("pressure_gpa", "GPa")):
        print(f"  {key} = {summary[key]:.8g} +- {summary[key + '_error']:.2g} {unit}")
    if "quadrature" in summary:
        exact = summary["quadrature"]
        print("  exact by quadrature: " + ", ".join(f"{key} = {value:.8g}" for key, value in exact.items()))
        trained = summary["flow_quadrature"]
        print(f"  the run's flow by quadrature: int p = {trained['normalisation']:.12g}, "
              f"F[p] = {trained['free_energy_ha_per_atom']:.8g} Ha/atom, P[p] = {trained['pressure_gpa']:.8g} GPa")
    if summary["evaluation_rejected_steps"]:
        print(f"  warning: {summary['evaluation_rejected_steps']} of {summary['eval_steps']} evaluation steps were rejected "
              "(a non-positive Jacobian, a failed inversion or a non-finite F): these numbers are not results")
    print(f"summary in {run_dir / 'summary.json'}")
    return 0


def _quench(args) -> int:
    from qsolid.dvfe import quench

    options = {name: getattr(args, name) for name in ("beta", "steps", "walkers", "seed", "out")
               if getattr(args, name) is not None}
    print(quench.format_record(quench.quench(args.run_dir, **options)))
    return 0


def _config(args) -> int:
    from qsolid import schema
    from qsolid.dvfe import config as dvfe_config

    config = dvfe_config.load(args.config) if args.config else dvfe_config.from_dict({})
    print(schema.to_commented_toml(config), end="")
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser("dvfe", help="Deep variational free energy of hydrogen at finite temperature.")
    commands = parser.add_subparsers(dest="dvfe_command", metavar="DVFE_COMMAND", required=True)
    run = commands.add_parser("run", help="Train the proton flow and evaluate F, E, S, P.")
    run.add_argument("config", nargs="?", help="TOML config (see `qsolid dvfe config`).")
    run.add_argument("--out", help="New run directory (default: runs/dvfe-YYYYmmdd-HHMMSS).")
    run.add_argument("--resume", metavar="RUN_DIR", help="Continue the run in RUN_DIR from its last checkpoint.")
    run.add_argument("--no-progress", action="store_true", help="No progress bar.")
    run.set_defaults(func=_run)
    quench = commands.add_parser("quench", help="Most probable configuration of p(X)^beta of a trained run, as CIF.")
    quench.add_argument("run_dir", metavar="RUN_DIR", help="A dvfe run directory (its newest checkpoint).")
    quench.add_argument("--beta", type=float, help="Exponent beta >> 1 of p(X)^beta, i.e. T / beta (default 50).")
    quench.add_argument("--steps", type=int, help="Metropolis steps, beta annealed over the first half (default 400).")
    quench.add_argument("--walkers", type=int, help="Walkers started from flow samples (default 16).")
    quench.add_argument("--seed", type=int, help="Random seed of the quench (default 0).")
    quench.add_argument("--out", help="CIF file to write (default RUN_DIR/quench.cif; must not exist).")
    quench.set_defaults(func=_quench)
    show = commands.add_parser("config", help="Print the default (or the given) config, resolved, with documentation.")
    show.add_argument("config", nargs="?", help="Config file to resolve.")
    show.set_defaults(func=_config)
