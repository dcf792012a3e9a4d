"""``dialpad-nb dashboard``: the ops dashboard, a Voila app (no code shown) on this machine.

The fleet view (every router: enabled, numbers, errors of the rolling hour, budget left, forecast
time to disable, last disable and re-enable, a status colour), refreshed on a timer; a banner when
a router is near its disable or disabled; a drill-down per router with its charts, recent calls
and the console's actions. Loading the page changes nothing. The data: the routers that
``connect()``'s environment names (``DIALPAD_API_KEY``, ``DIALPAD_BASE_URL`` for a
``dialpad-nb sandbox --db FILE``, ``DIALPAD_ENV``), an endpoint kit log (``--log``), or sample
traffic on an embedded sandbox (``--demo`` only). Needs the ``lab`` extra (Voila, ipykernel).
Nothing is fetched from the internet: the page's template has no CDN link.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from . import EXIT_OK, UsageError

OPS = Path(__file__).resolve().parents[1] / "ops"
NOTEBOOK = OPS / "dashboard.ipynb"
TEMPLATES = OPS  # <here>/voila/templates/dialpad (JUPYTER_PATH)


def voila_command(port: int, *, ip: str = "127.0.0.1") -> list[str]:
    """The Voila command line that serves the dashboard notebook with the offline template."""
    return [
        sys.executable,
        "-m",
        "voila",
        str(NOTEBOOK),
        "--no-browser",
        f"--port={port}",
        f"--Voila.ip={ip}",
        "--template=dialpad",
        "--theme=light",
        "--strip_sources=True",
        "--VoilaConfiguration.show_tracebacks=False",
    ]


def voila_env(args: argparse.Namespace, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for Voila (and so the dashboard's kernel)."""
    env = dict(os.environ if base is None else base)
    env["JUPYTER_PATH"] = os.pathsep.join(p for p in (str(TEMPLATES), env.get("JUPYTER_PATH", "")) if p)
    env["DIALPAD_NB_DASHBOARD_INTERVAL_S"] = f"{args.interval:g}"
    env["DIALPAD_NB_DASHBOARD_TIMEZONE"] = args.timezone
    if args.demo:
        env["DIALPAD_NB_DASHBOARD_DEMO"] = "1"
    if args.log:
        env["DIALPAD_NB_DASHBOARD_LOG"] = str(Path(args.log).resolve())
        env["DIALPAD_NB_DASHBOARD_ROUTER_ID"] = str(args.router_id)
    return env


def _run_dashboard(args: argparse.Namespace) -> int:
    if find_spec("voila") is None or find_spec("ipykernel") is None:
        raise UsageError("the dashboard needs Voila and ipykernel: pip install 'dialpad_nb[lab]'")
    if args.interval <= 0:
        raise UsageError(f"--interval must be > 0 seconds, got {args.interval:g}")
    if args.log and args.router_id is None:
        raise UsageError("--log is one router's endpoint log: give --router-id ID")
    if args.log and not os.path.isfile(args.log):
        raise UsageError(f"no such file {args.log!r}")
    if args.demo and args.log:
        raise UsageError("--demo shows sample traffic on an embedded sandbox: drop --log")
    print(f"dialpad-nb dashboard: http://127.0.0.1:{args.port}/ (Ctrl-C to stop)", flush=True)
    proc = subprocess.Popen(voila_command(args.port), env=voila_env(args))
    try:
        return proc.wait() or EXIT_OK
    except KeyboardInterrupt:
        proc.terminate()
        proc.wait(timeout=30)
        return EXIT_OK


def add(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "dashboard",
        help="the ops dashboard (Voila): fleet health, alerts banner, drill-down, actions",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
    )
    p.add_argument("--port", type=int, default=8866, help="port on 127.0.0.1 (default: 8866)")
    p.add_argument(
        "--demo", action="store_true", help="sample traffic on an embedded sandbox (never your account)"
    )
    p.add_argument(
        "--interval", type=float, default=10.0, metavar="SECONDS", help="refresh every (default: 10)"
    )
    p.add_argument(
        "--timezone", default="UTC", metavar="AREA/CITY", help="show times in this timezone (default: UTC)"
    )
    p.add_argument("--log", metavar="JSONL", default=None, help="an endpoint kit log instead of an account")
    p.add_argument(
        "--router-id", type=int, default=None, metavar="ID", help="the router the --log endpoint serves"
    )
    p.set_defaults(func=_run_dashboard)
