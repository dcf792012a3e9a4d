"""``dialpad-nb report health|replay ... --out FILE.html``: a report for people, from cron or CI.

Runs the report's notebook with papermill (its ``parameters`` cell gets the options) and writes
HTML without code, the charts inside. A bad option fails at once, naming it (exit 2); a cell that
fails makes the exit status 1 with that cell's error (the executed notebook is kept beside the
output as ``FILE.html.failed.ipynb``). Needs the ``lab`` extra (papermill, nbconvert, ipykernel).

* ``health``: one router's errors against Dialpad's auto-disable, its latency and the forecast,
  from an attempts CSV (``--attempts``), an endpoint kit log (``--log``) or, with neither, the
  call history of the account ``connect()``'s environment names.
* ``replay``: the candidate routing matrix replayed over logged calls, against a baseline.
"""

from __future__ import annotations

import argparse
from typing import Any

from . import EXIT_OK, UsageError


def _run_report(args: argparse.Namespace) -> int:
    from ..core.errors import ValidationError
    from ..ops.reports import run_report

    if args.report == "health":
        params = {
            "router": args.router,
            "since": args.since,
            "until": args.until,
            "attempts": args.attempts,
            "log": args.log,
            "names": args.names,
            "timezone": args.timezone,
        }
    else:
        params = {
            "calls": args.calls,
            "candidate": args.candidate,
            "baseline": args.baseline,
            "timezone": args.timezone,
            "directory": args.directory,
            "crm": args.crm,
            "capacity": args.capacity,
            "secret_env": args.secret_env,
        }
    try:
        out = run_report(args.report, params, args.out)
    except ValidationError as exc:  # a bad option: before any kernel started
        raise UsageError(f"--{(exc.field or 'out').replace('_', '-')}: {exc}") from None
    print(f"wrote {out}")
    return EXIT_OK


def add(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "report",
        help="a health or replay report as HTML without code (papermill), for cron or CI",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
    )
    kinds = p.add_subparsers(dest="report", metavar="REPORT", required=True)
    h = kinds.add_parser("health", help="one router's health over a period")
    h.add_argument("--router", required=True, metavar="NAME_OR_ID", help="the router")
    h.add_argument("--since", default=None, metavar="TIME", help="start of the period (ISO-8601)")
    h.add_argument("--until", default=None, metavar="TIME", help="end of the period (ISO-8601)")
    src = h.add_mutually_exclusive_group()
    src.add_argument(
        "--attempts", metavar="CSV", default=None, help="an attempts CSV (e.g. data/attempts_sample.csv)"
    )
    src.add_argument(
        "--log", metavar="JSONL", default=None, help="an endpoint kit log (--router is then its id)"
    )
    h.add_argument(
        "--names", choices=("sample",), default=None, help="the sample routers' names (support, sales)"
    )
    h.add_argument(
        "--timezone", default="UTC", metavar="AREA/CITY", help="show times in this timezone (default: UTC)"
    )
    r = kinds.add_parser("replay", help="candidate rules replayed over logged calls")
    r.add_argument("--calls", required=True, metavar="PATH", help="call logs (a file or folder)")
    r.add_argument("--candidate", required=True, metavar="CSV", help="the candidate routing matrix")
    r.add_argument(
        "--baseline",
        default="logged",
        metavar="CSV|logged",
        help="the matrix to compare with (default: logged)",
    )
    r.add_argument(
        "--timezone", default=None, metavar="AREA/CITY", help="where matrix hours and days are read"
    )
    r.add_argument("--directory", choices=("sample", "dialpad"), default=None, help="name the targets")
    r.add_argument("--crm", metavar="CSV", default=None, help="CRM export for crm.* conditions")
    r.add_argument("--capacity", metavar="CSV", default=None, help="calls per hour each target can take")
    r.add_argument(
        "--secret-env",
        metavar="VAR",
        default=None,
        help="environment variable holding the router secret (signed logs)",
    )
    for sub in (h, r):
        sub.add_argument("--out", required=True, metavar="FILE.html", help="where to write the report")
    p.set_defaults(func=_run_report)
