"""``dialpad-nb routers list|show|enable|disable|reset``: call routers from a shell.

Talks to whatever ``connect()`` talks to, from the same environment variables:
``DIALPAD_API_KEY`` (required here: an embedded sandbox would vanish with the command),
``DIALPAD_ENV=sandbox`` for Dialpad's sandbox, ``DIALPAD_BASE_URL`` for any compatible server
such as a ``dialpad-nb sandbox`` you run. Routers are named by id or by exact name; targets
and offices are shown by name.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from . import EXIT_FAILURE, EXIT_OK, UsageError
from ._output import add_format, emit, emit_json

ACTIONS = ("list", "show", "enable", "disable", "reset")


def _console(environ: Any) -> Any:
    from ..api.console import RouterConsole
    from ..connection import connect

    if not (environ.get("DIALPAD_API_KEY") or "").strip():
        raise UsageError(
            "set DIALPAD_API_KEY (the key is read from the environment only); add DIALPAD_ENV=sandbox for "
            "Dialpad's sandbox, or DIALPAD_BASE_URL=http://127.0.0.1:8765 for a `dialpad-nb sandbox` you run"
        )
    console = RouterConsole(connect(environ))
    result = console.refresh()
    if not result.ok:
        console.client.close()
        raise _Failed(result.message)
    return console


class _Failed(Exception):
    """A console action that did not succeed: its message is printed, the exit status is 1."""


def _pick(console: Any, wanted: str) -> Any:
    """The router with this id or exact name (UsageError naming the routers there are)."""
    for router in console.routers:
        if str(router.id) == wanted.strip() or router.name == wanted:
            return router
    folded = [r for r in console.routers if r.name.casefold() == wanted.strip().casefold()]
    if len(folded) == 1:
        return folded[0]
    names = ", ".join(repr(r.name) for r in console.routers) or "none"
    raise UsageError(f"no router with id or name {wanted!r} (routers: {names})")


def _run_routers(args: argparse.Namespace) -> int:
    try:
        console = _console(os.environ)
    except _Failed as exc:
        print(f"dialpad-nb routers: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    try:
        return _act(console, args)
    except _Failed as exc:
        print(f"dialpad-nb routers: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    finally:
        console.client.close()


def _act(console: Any, args: argparse.Namespace) -> int:
    if args.action == "list":
        emit(console.table(), args.format)
        return EXIT_OK
    router = _pick(console, args.router)
    if args.action == "show":
        row = console.table().set_index("id").loc[[router.id]].reset_index()
        row.insert(
            row.columns.get_loc("default_target") + 1,
            "office",
            console.client.targets().name_of(router.office_id, "office"),
        )
        if args.format == "json":
            emit_json(row.to_dict("records")[0])
        else:
            emit(row, args.format)
        return EXIT_OK
    if args.action == "enable":
        result = console.enable(router.id, reset_error_count=args.reset_error_count)
    elif args.action == "disable":
        result = console.disable(router.id)
    else:
        result = console.reset_error_count(router.id)
    if not result.ok:
        raise _Failed(result.message)
    print(result.message)
    return EXIT_OK


def add(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "routers",
        help="list, show, enable, disable or reset the error count of call routers",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="every router: enabled, numbers, URL, default target by name")
    add_format(listing)
    show = actions.add_parser("show", help="one router, its office and default target by name")
    show.add_argument("router", metavar="ROUTER", help="id or exact name")
    add_format(show)
    enable = actions.add_parser(
        "enable", help="re-enable a router (one update: Dialpad allows one per 5 min)"
    )
    enable.add_argument("router", metavar="ROUTER", help="id or exact name")
    enable.add_argument(
        "--reset-error-count",
        action="store_true",
        help="also clear the errors of the past hour (without it the next error may disable it again)",
    )
    disable = actions.add_parser("disable", help="disable a router: calls go to its default target")
    disable.add_argument("router", metavar="ROUTER", help="id or exact name")
    reset = actions.add_parser("reset", help="reset a router's error count")
    reset.add_argument("router", metavar="ROUTER", help="id or exact name")
    p.set_defaults(func=_run_routers)
