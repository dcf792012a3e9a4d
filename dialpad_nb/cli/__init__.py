"""``dialpad-nb``: the toolkit's command line.

One module per subcommand in this package, each with ``add(subparsers)`` that declares the
subcommand's arguments and sets ``func`` (called with the parsed namespace, returns the exit
status: 0 ok, 1 failure, 2 usage). To add a subcommand, add a module; it is found by name.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
from collections.abc import Sequence

__all__ = ["build_parser", "main", "subcommand_modules"]


def subcommand_modules() -> list[str]:
    """The subcommand modules of this package, sorted by name."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dialpad-nb", description="Dialpad call routers from Jupyter: sandbox and tools."
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in subcommand_modules():
        importlib.import_module(f".{name}", __name__).add(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)
