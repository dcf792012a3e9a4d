"""``dialpad-nb endpoint``: serve a routing endpoint built from a Python rule."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from typing import Any

from ..core.policy import DIALPAD


def endpoint_app(args: argparse.Namespace, environ: Mapping[str, str]) -> Any:
    """The routing-endpoint app the ``endpoint`` subcommand serves (ValidationError if a flag is bad)."""
    import inspect

    from ..core.errors import ValidationError
    from ..core.models import validate_secret
    from ..endpoint.app import load_rules, routing_endpoint

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

    from ..core.errors import ValidationError
    from ..endpoint.app import serve_endpoint_foreground

    try:
        app = endpoint_app(args, os.environ)
    except ValidationError as exc:
        print(f"dialpad-nb endpoint: {exc}", file=sys.stderr)
        return 2
    return serve_endpoint_foreground(app, host=args.host, port=args.port)


def add(subparsers: Any) -> None:

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
