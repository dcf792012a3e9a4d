"""``dialpad-nb canary``: read or change a running endpoint's canary through its admin route.

::

    export CANARY_ADMIN_TOKEN=...              # the token the endpoint was started with
    dialpad-nb canary https://routing.example.com status
    dialpad-nb canary https://routing.example.com share candidate 0.10
    dialpad-nb canary https://routing.example.com stop candidate --reason "paged by ops"
    dialpad-nb canary https://routing.example.com resume candidate

Prints the answer as JSON (never the token). Exit status 0, or 1 when the endpoint refused.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

__all__ = ["add"]


def _run(args: argparse.Namespace) -> int:
    from ..core.errors import DialpadError
    from ..endpoint.admin import CanaryAdmin

    token = os.environ.get(args.token_env)
    if not token:
        print(f"dialpad-nb canary: environment variable {args.token_env} is not set", file=sys.stderr)
        return 2
    try:
        with CanaryAdmin(args.url, token) as admin:
            answer: Any
            if args.action == "status":
                answer = admin.status()
            elif args.action == "share":
                answer = admin.set_share(args.candidate, args.share)
            elif args.action == "stop":
                answer = admin.stop(args.candidate, reason=args.reason)
            else:
                answer = admin.resume(args.candidate)
    except DialpadError as exc:
        print(f"dialpad-nb canary: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(answer, indent=2, ensure_ascii=False))
    return 0


def add(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "canary",
        help="read or change a running endpoint's canary (its /admin/canary route)",
        description="Read or change the canary of a routing endpoint started with --canary and "
        "--admin-token-env: its state, a candidate's share of callers, stop or resume a candidate.",
    )
    p.add_argument("url", help="the endpoint's base URL (as Dialpad's routing_url, without /route)")
    p.add_argument(
        "--token-env",
        default="CANARY_ADMIN_TOKEN",
        metavar="VAR",
        help="environment variable holding the admin token (default: CANARY_ADMIN_TOKEN)",
    )
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    actions.add_parser("status", help="shares, stops and the counts the automatic stop compares")
    share = actions.add_parser("share", help="give a candidate a share of callers (0 pauses it)")
    share.add_argument("candidate")
    share.add_argument("share", type=float, help="0 to 1 (0.05 = 5 %% of callers)")
    stop = actions.add_parser("stop", help="stop a candidate: the control answers its callers")
    stop.add_argument("candidate")
    stop.add_argument("--reason", default=None)
    resume = actions.add_parser("resume", help="resume a stopped candidate (its counts start again)")
    resume.add_argument("candidate")
    p.set_defaults(func=_run)
