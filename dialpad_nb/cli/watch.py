"""``dialpad-nb watch``: warn before Dialpad disables a router, and say when it is healthy again.

Follows the routers of the sandbox or account that ``connect()``'s environment names
(``DIALPAD_API_KEY``, ``DIALPAD_BASE_URL``, ``DIALPAD_ENV``): on a sandbox its attempts, on an
account Dialpad's call history (polled); or, with ``--log``, an endpoint kit's log (tailed,
rotation-safe). A router that gets near the threshold (budget <= 3 or disabled in under 30 min at
the recent pace) or is disabled opens an incident: one line on stdout and, with ``--alert-url``,
one Slack-style JSON POST ``{"text": ...}``; a "resolved" follows when it is healthy again.
``--state FILE`` keeps incidents and undelivered alerts, so a restart sends nothing twice.
"""

from __future__ import annotations

import argparse
import os
import signal
import threading
from typing import Any

from . import EXIT_OK, UsageError


def _run_watch(args: argparse.Namespace) -> int:
    from ..ops.watcher import watch

    if args.interval <= 0:
        raise UsageError(f"--interval must be > 0 seconds, got {args.interval:g}")
    if args.log is not None and args.router_id is None:
        raise UsageError("--log follows one router's endpoint: give --router-id ID")
    if args.log is None and not (os.environ.get("DIALPAD_API_KEY") or "").strip():
        raise UsageError(
            "set DIALPAD_API_KEY (and DIALPAD_BASE_URL for a `dialpad-nb sandbox`) to watch routers, "
            "or give --log FILE --router-id ID"
        )
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        watch(
            routers=args.router or None,
            log=args.log,
            router_id=args.router_id,
            source=args.source,
            state=args.state,
            alert_url=args.alert_url or os.environ.get("DIALPAD_ALERT_URL") or None,
            interval_s=args.interval,
            polls=1 if args.once else None,
            stop=stop,
        )
    except KeyboardInterrupt:
        pass
    return EXIT_OK


def add(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "watch",
        help="warn (stdout, Slack-style webhook) before Dialpad disables a router; 'resolved' after",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
    )
    p.add_argument(
        "--router", action="append", default=[], metavar="NAME_OR_ID",
        help="follow only this router (repeatable; default: every router)",
    )  # fmt: skip
    p.add_argument(
        "--source", choices=("auto", "sandbox", "history"), default="auto",
        help="sandbox attempts or Dialpad's call history (default: attempts on a sandbox, history on an account)",
    )  # fmt: skip
    p.add_argument("--log", metavar="JSONL", default=None, help="tail this endpoint kit log instead")
    p.add_argument(
        "--router-id", type=int, default=None, metavar="ID", help="the router the --log endpoint serves"
    )
    p.add_argument(
        "--state", metavar="FILE", default=None, help="keep incidents here (a restart sends nothing twice)"
    )
    p.add_argument(
        "--alert-url", metavar="URL", default=None,
        help="POST {\"text\": ...} here (a chat tool's incoming webhook; default: $DIALPAD_ALERT_URL). "
        "Never printed: it is a secret",
    )  # fmt: skip
    p.add_argument(
        "--interval", type=float, default=60.0, metavar="SECONDS", help="seconds between polls (default: 60)"
    )
    p.add_argument("--once", action="store_true", help="poll once and exit (for cron)")
    p.set_defaults(func=_run_watch)
