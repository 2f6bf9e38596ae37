"""Command line: a package of thin commands over the library (docs/conventions.md#cli).

``main(argv) -> int``; every error the library raises on purpose becomes one line on stderr and a
non-zero exit, never a traceback. Each module registers its subcommands (``add_parsers``) and only
converts options to library objects and prints what the library returns.
"""

from __future__ import annotations


import argparse
import sys

from ..core import progress
from ..core.memory import lifted
from ..core.version import __version__
from ..errors import SimulationError, ThermotwinError
from ..sweep import add_parser as add_sweep
from .timing import add_parser as add_timing
from . import analysis, board, factored, simulate
from .limits import check_option_ranges

EXIT_INPUT = 2
EXIT_SIM = 3

__all__ = ["main", "build_parser", "EXIT_INPUT", "EXIT_SIM"]


class OneLineParser(argparse.ArgumentParser):
    """argparse with its errors on one line (no usage block), as every other error (issue 16)."""

    def error(self, message: str):
        cmd = self.prog.partition(" ")[2]
        help_hint = f"thermotwin {cmd} --help" if cmd else "thermotwin --help"
        self.exit(EXIT_INPUT, f"thermotwin: error: {cmd + ': ' if cmd else ''}{message} (see `{help_hint}`)\n")


def build_parser() -> argparse.ArgumentParser:
    ap = OneLineParser(prog="thermotwin", description="Circuit simulator and digital twin of thermodynamic "
                                 "(Langevin) analog linear solvers: netlists, ngspice/PySpice runs, an exact OU twin, "
                                 "non-ideal hardware, calibration and accuracy reports.")
    ap.add_argument("--version", action="version", version=f"thermotwin {__version__}")
    sub = ap.add_subparsers(dest="command", required=True)
    for register in (board.add_parsers, simulate.add_parsers, analysis.add_parsers, add_sweep, add_timing,
                     factored.add_parsers):
        register(sub)
    return ap


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:          # --help, --version, or the one-line usage error above
        return exc.code if isinstance(exc.code, int) else EXIT_INPUT
    try:
        check_option_ranges(args)
        quiet = getattr(args, "quiet", False) or getattr(args, "no_progress", False)
        with lifted(getattr(args, "yes", False)), progress.quiet(quiet):   # --yes: beyond the default budget
            return args.func(args)
    except SimulationError as exc:
        print(f"thermotwin: error: {exc}", file=sys.stderr)
        return EXIT_SIM
    except (ThermotwinError, ValueError, OSError) as exc:
        print(f"thermotwin: error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except KeyError as exc:
        print(f"thermotwin: error: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt:
        print("thermotwin: interrupted", file=sys.stderr)
        return 130
