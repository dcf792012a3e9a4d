"""``dialpad-nb sandbox``: Dialpad's call-router API and call dispatch on this machine."""

from __future__ import annotations

import argparse
from typing import Any

from ..core.policy import DIALPAD, KEY_SCOPES


def _time_arg(text: str) -> int:
    from ..core.clock import check_ms, to_ms

    try:
        return check_ms(to_ms(text), field="--start")
    except (TypeError, ValueError) as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _run_sandbox(args: argparse.Namespace) -> int:
    from ..core.clock import SimulatedClock, SystemClock
    from ..sandbox.runner import serve_foreground

    if args.as_account and args.start is not None:
        args.parser.error("--as-account runs on the system clock (an account's time is real): drop --start")
    if args.clock == "system" or args.as_account:
        clock: Any = SystemClock()
    else:
        clock = SimulatedClock(args.start if args.start is not None else SystemClock().now_ms())
    return serve_foreground(
        host=args.host,
        port=args.port,
        db_path=args.db,
        api_key=args.api_key,
        clock=clock,
        seed=args.seed,
        page_size=args.page_size,
        id_format=args.id_format,
        routing_deadline_s=args.routing_deadline,
        allow_remote_routing=args.allow_remote_routing,
        rate_limits=args.rate_limits,
        allow_remote_events=args.allow_remote_events,
        as_account=args.as_account,
        without_scopes=tuple(args.without_scope),
    )


def add(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "sandbox",
        help="run the Dialpad sandbox in the foreground",
        description="Serve Dialpad's call-router API (and the sandbox control API) on this machine. "
        "Prints the URL and the API key; stops cleanly on Ctrl-C or SIGTERM.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=8765, help="port (default: 8765; 0 = any free port)")
    p.add_argument(
        "--db", metavar="FILE", default=None, help="SQLite file to keep state in (default: memory)"
    )
    p.add_argument(
        "--api-key",
        metavar="KEY",
        default=None,
        help="bearer key to require (default: a random one, printed at start)",
    )
    p.add_argument(
        "--clock",
        choices=("simulated", "system"),
        default="simulated",
        help="simulated (movable through /sandbox/v1/clock; default) or the system clock "
        "(always the system clock with --as-account)",
    )
    p.add_argument(
        "--start", type=_time_arg, default=None, help="simulated clock start, ISO-8601 or ms (default: now)"
    )
    p.add_argument("--seed", type=int, default=0, help="seed of router ids in a new database (default: 0)")
    p.add_argument("--page-size", type=int, default=20, help="items per page of every list (default: 20)")
    p.add_argument(
        "--id-format",
        choices=("int", "string"),
        default="int",
        help="ids as JSON integers or strings (default: int)",
    )
    p.add_argument(
        "--routing-deadline",
        type=float,
        default=None,
        metavar="SECONDS",
        help=f"real-time deadline for routing requests (default: Dialpad's {DIALPAD.deadline_s:g} s)",
    )
    p.add_argument(
        "--allow-remote-routing",
        action="store_true",
        help="send routing requests to endpoints off this machine too (default: loopback only)",
    )
    p.add_argument(
        "--rate-limits",
        action="store_true",
        help=f"enforce Dialpad's API rate limits ({DIALPAD.company_requests_per_s:g} requests/s per company, "
        f"{DIALPAD.endpoint_requests_per_min:g}/min per endpoint): 429 with Retry-After (default: off)",
    )
    p.add_argument(
        "--allow-remote-events",
        action="store_true",
        help="deliver call events to webhooks off this machine too (default: loopback only)",
    )
    p.add_argument(
        "--as-account",
        action="store_true",
        help="behave like a Dialpad account: no control API (/sandbox/v1: no calls, no clock moves), "
        "system clock. Put traffic in first with a normal sandbox on the same --db",
    )
    p.add_argument(
        "--without-scope",
        action="append",
        default=[],
        metavar="SCOPE",
        choices=sorted(KEY_SCOPES),
        help="simulate a key without this scope (e.g. calls:list): what needs it answers 403 (repeatable)",
    )
    p.set_defaults(func=_run_sandbox, parser=p)
