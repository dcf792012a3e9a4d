"""``dialpad-nb``: the toolkit's command line.

One module per subcommand in this package, each with ``add(subparsers)`` that declares the
subcommand's arguments and sets ``func`` (called with the parsed namespace, returns the exit
status). To add a subcommand, add a module; it is found by name (modules starting with ``_``
are helpers, not subcommands).

Exit status, for every subcommand:

* **0** the job was done;
* **1** it failed: Dialpad refused, an input's contents are invalid, a check did not pass —
  the message on stderr says what and where;
* **2** usage: the command line cannot be run as given (unknown flag, missing argument,
  a file or environment variable it names is not there).
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

__all__ = [
    "EXIT_FAILURE",
    "EXIT_OK",
    "EXIT_USAGE",
    "UsageError",
    "build_parser",
    "main",
    "subcommand_modules",
]

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """Raised by a subcommand when its command line cannot be run as given (exit status 2)."""


def subcommand_modules() -> list[str]:
    """The subcommand modules of this package, sorted by name."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog="dialpad-nb",
        description="Dialpad call routers from the command line: sandbox, routers, replay, health and tools.",
        epilog="Exit status: 0 done, 1 failed (the message says why), 2 usage (the command line cannot run).",
    )
    parser.add_argument("--version", action="version", version=f"dialpad-nb {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in subcommand_modules():
        importlib.import_module(f".{name}", __name__).add(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``dialpad-nb``; returns the exit status (argparse's own usage errors exit 2)."""
    from ..core.errors import DialpadError, SourceNotFound

    args = build_parser().parse_args(argv)
    prog = f"dialpad-nb {args.command}"
    try:
        return int(args.func(args) or 0)
    except (UsageError, SourceNotFound) as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (DialpadError, OSError) as exc:  # a refusal, bad contents, a file that cannot be read
        print(f"{prog}: {exc}", file=sys.stderr)
        return EXIT_FAILURE
