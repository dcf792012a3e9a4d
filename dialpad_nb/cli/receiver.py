"""``dialpad-nb receiver``: serve a call-event receiver (what a Dialpad webhook points at)."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def _run_receiver(args: argparse.Namespace) -> int:
    import os

    from ..endpoint.receiver import event_receiver, serve_receiver_foreground

    secret = None
    if args.secret_env:
        secret = os.environ.get(args.secret_env)
        if not secret:
            print(f"dialpad-nb receiver: environment variable {args.secret_env} is not set", file=sys.stderr)
            return 2
    app = event_receiver(secret=secret, log_path=args.log)
    return serve_receiver_foreground(app, host=args.host, port=args.port)


def add(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "receiver",
        help="serve a call-event receiver for a Dialpad webhook",
        description="Receive Dialpad call events (POSTs to a webhook's hook_url): verifies HS256 JWTs when a "
        "secret is given (bad or unsigned events get 401 and a log line), answers 2xx at once, ignores "
        "repeats of (call_id, state), and appends one JSON line per event to the log (read_calls and "
        "from_dialpad_calls read it). Stops on Ctrl-C/SIGTERM.",
    )
    p.add_argument(
        "--secret-env",
        metavar="VAR",
        default=None,
        help="environment variable holding the webhook secret (default: none; unsigned JSON events accepted)",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=8001, help="port (default: 8001; 0 = any free port)")
    p.add_argument(
        "--log", metavar="FILE", default=None, help="JSONL log to append to (default: memory only)"
    )
    p.set_defaults(func=_run_receiver)
