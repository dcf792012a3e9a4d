"""``dialpad-nb``: the toolkit's command line.

Each subcommand is one ``_add_<name>(subparsers)`` function that declares its
arguments and sets ``func`` (called with the parsed namespace, returns the exit
status). To add a subcommand, write such a function and list it in
``SUBCOMMANDS``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .core.policy import DIALPAD

__all__ = ["SUBCOMMANDS", "build_parser", "main"]


# --------------------------------------------------------------------------- sandbox


def _time_arg(text: str) -> int:
    from .core.clock import to_ms

    try:
        return to_ms(text)
    except (TypeError, ValueError) as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _run_sandbox(args: argparse.Namespace) -> int:
    from .core.clock import SimulatedClock, SystemClock
    from .sandbox.runner import serve_foreground

    if args.clock == "system":
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
    )


def _add_sandbox(subparsers: Any) -> None:
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
        help="simulated (movable through /sandbox/v1/clock; default) or the system clock",
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
    p.set_defaults(func=_run_sandbox)


# --------------------------------------------------------------------------- endpoint


def endpoint_app(args: argparse.Namespace, environ: Mapping[str, str]) -> Any:
    """The routing-endpoint app the ``endpoint`` subcommand serves (ValidationError if a flag is bad)."""
    import inspect

    from .core.errors import ValidationError
    from .core.models import validate_secret
    from .endpoint.app import load_rules, routing_endpoint

    rules = load_rules(args.rules)
    if inspect.isclass(rules):
        rules = rules()
    fallback = args.fallback if args.fallback is not None else getattr(rules, "fallback", None)
    if fallback is None:
        raise ValidationError(
            "give --fallback TYPE:ID (the rules object has no 'fallback')", field="fallback"
        )
    secret = None
    if args.secret_env:
        secret = environ.get(args.secret_env)
        if not secret:
            raise ValidationError(f"environment variable {args.secret_env} is not set", field="secret-env")
        validate_secret(secret, field=f"${args.secret_env}")
    return routing_endpoint(rules, secret=secret, fallback=fallback, budget_s=args.budget, log_path=args.log)


def _fallback_arg(text: str) -> tuple[int, str]:
    kind, sep, ident = text.partition(":")
    if not sep or not ident.strip().isdigit():
        raise argparse.ArgumentTypeError(
            f"expected TYPE:ID such as callcenter:5002000000000202, got {text!r}"
        )
    return int(ident), kind.strip()


def _run_endpoint(args: argparse.Namespace) -> int:
    import os

    from .core.errors import ValidationError
    from .endpoint.app import serve_endpoint_foreground

    try:
        app = endpoint_app(args, os.environ)
    except ValidationError as exc:
        print(f"dialpad-nb endpoint: {exc}", file=sys.stderr)
        return 2
    return serve_endpoint_foreground(app, host=args.host, port=args.port)


def _add_endpoint(subparsers: Any) -> None:
    from .core.policy import DIALPAD

    p = subparsers.add_parser(
        "endpoint",
        help="serve a routing endpoint built from a Python rule",
        description="Serve Dialpad routing requests with a Python rule (a callable or an object with "
        ".decide(request)); verifies HS256 JWTs when a secret is given, answers a fallback when the rule "
        "is slow or fails, and appends one JSON line per request to the log. Stops on Ctrl-C/SIGTERM.",
    )
    p.add_argument(
        "--rules", required=True, metavar="MODULE:CALLABLE", help="the rule, e.g. mypkg.rules:decide"
    )
    p.add_argument(
        "--fallback",
        type=_fallback_arg,
        default=None,
        metavar="TYPE:ID",
        help="target answered when the rule is slow, fails or matches nothing (default: the rule's .fallback)",
    )
    p.add_argument(
        "--secret-env",
        metavar="VAR",
        default=None,
        help="environment variable holding the router secret (default: none; unsigned JSON requests are accepted)",
    )
    p.add_argument(
        "--budget",
        type=float,
        default=4.0,
        help="seconds the rule may take before the fallback is answered "
        f"(default: 4, below Dialpad's {DIALPAD.deadline_s:g} s deadline)",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default: 8000; 0 = any free port)")
    p.add_argument("--log", metavar="FILE", default=None, help="JSONL log to append to (default: none)")
    p.set_defaults(func=_run_endpoint)


# --------------------------------------------------------------------------- generate-calls


def _run_generate_calls(args: argparse.Namespace) -> int:
    import os

    from .samples import generate as datagen

    secret = None
    if args.jwt_share or args.wrapped_share:
        if args.secret_env:
            secret = os.environ.get(args.secret_env)
            if not secret:
                print(
                    f"dialpad-nb generate-calls: environment variable {args.secret_env} is not set",
                    file=sys.stderr,
                )
                return 2
        else:
            secret = datagen.SAMPLE_SECRET
    try:
        counts = datagen.write_call_log(
            args.out, args.calls, seed=args.seed, jwt_share=args.jwt_share, wrapped_share=args.wrapped_share,
            secret=secret, bad_lines=args.bad_lines, start=args.start, days=args.days,
        )  # fmt: skip
    except ValueError as exc:
        print(f"dialpad-nb generate-calls: {exc}", file=sys.stderr)
        return 2
    if args.crm:
        datagen.generate_crm(seed=args.seed).to_csv(args.crm, index=False)
    signer = (
        ""
        if secret is None
        else (f" signed with ${args.secret_env}" if args.secret_env else " signed with datagen.SAMPLE_SECRET")
    )
    print(
        f"wrote {args.out}: {counts['calls']:,} calls ({counts['plain']:,} plain, {counts['jwt']:,} JWT, "
        f"{counts['wrapped']:,} wrapped{signer}) + {counts['bad']:,} bad lines"
        + (f"; CRM export {args.crm}" if args.crm else "")
    )
    return 0


def _add_generate_calls(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "generate-calls",
        help="write a seeded call log (plain and JWT routing requests) for replay and benchmarks",
        description="Write a JSONL log (gzip if OUT ends in .gz) of generated routing requests for the "
        "sandbox's company: office-hours traffic, four router numbers, repeat callers, CRM contacts.",
    )
    p.add_argument("out", metavar="OUT", help="file to write (.jsonl or .jsonl.gz)")
    p.add_argument("--calls", type=int, default=20_000, help="number of calls (default: 20000)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument(
        "--start",
        default="2026-10-01",
        help="first day, in the office's time zone America/Los_Angeles (default: 2026-10-01)",
    )
    p.add_argument("--days", type=int, default=31, help="number of days (default: 31)")
    p.add_argument("--jwt-share", type=float, default=0.3, help="share of compact JWT lines (default: 0.3)")
    p.add_argument(
        "--wrapped-share", type=float, default=0.05, help='share of {"token": ...} lines (default: 0.05)'
    )
    p.add_argument("--bad-lines", type=int, default=0, help="deliberately bad records to insert (default: 0)")
    p.add_argument(
        "--secret-env", metavar="VAR", default=None,
        help="environment variable holding the signing secret (default: the public datagen.SAMPLE_SECRET)",
    )  # fmt: skip
    p.add_argument("--crm", metavar="CSV", default=None, help="also write the matching CRM export here")
    p.set_defaults(func=_run_generate_calls)


# --------------------------------------------------------------------------- entry point

SUBCOMMANDS: tuple[Callable[[Any], None], ...] = (_add_sandbox, _add_endpoint, _add_generate_calls)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dialpad-nb", description="Dialpad call routers from Jupyter: sandbox and tools."
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add in SUBCOMMANDS:
        add(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
