"""The `qsolid` command line: parse, validate, call the library.

Each subcommand lives in the module of its concept and registers itself here
through a ``register(subparsers)`` function that sets ``func`` on its parser.
Invalid input (a :class:`~qsolid.schema.ConfigError`) prints one line and exits 2; a run that cannot go on
(a :class:`~qsolid.rundir.RunFailed`) prints one line and exits 1.
"""

import argparse
import sys

from qsolid import compilation_cache
from qsolid.rundir import RunFailed, exit_on_sigterm
from qsolid.schema import ConfigError

EXIT_INVALID_INPUT = 2
EXIT_RUN_FAILED = 1

COMMAND_MODULES = (
    "qsolid.vmc.command",
    "qsolid.analysis.command",
    "qsolid.nct.command",
    "qsolid.dvfe.command",
)


class _Parser(argparse.ArgumentParser):
    """argparse with its usage errors on one line (the help is one `--help` away); exit status 2."""

    def error(self, message):
        self.exit(EXIT_INVALID_INPUT, f"qsolid: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    import importlib

    parser = _Parser(
        prog="qsolid",
        description="Neural-network variational Monte Carlo for quantum solids under pressure.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv=None) -> int:
    compilation_cache.configure()  # before jax is imported: a resume loads its compiled programs
    with exit_on_sigterm():  # from the start: imports and set-up take seconds
        return _main(argv)


def _main(argv) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_INVALID_INPUT
    try:
        return int(args.func(args) or 0)
    except ConfigError as error:
        print(f"qsolid: error: {error}", file=sys.stderr)
        return EXIT_INVALID_INPUT
    except RunFailed as error:
        print(f"qsolid: error: {error}", file=sys.stderr)
        return EXIT_RUN_FAILED
    except PermissionError as error:
        print(f"qsolid: error: {error.filename}: permission denied", file=sys.stderr)
        return EXIT_INVALID_INPUT
    except KeyboardInterrupt:
        print("qsolid: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
