"""``dialpad-nb health``: a router's errors against Dialpad's auto-disable, from a log.

Reads an attempts CSV (``--attempts``) or an endpoint kit log (``--log``), replays Dialpad's
rule (more than 10 errors in a rolling hour disable a router), and prints per router: calls,
requests, errors, disables, skipped calls, the peak count in the window, the first disable, and
the forecast at the end of the log (or ``--now``): errors held, budget left, and how long until
the recent pace would disable it. Re-enables are inferred from the log.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from . import EXIT_OK, UsageError
from ._output import add_format, emit, emit_json


def _names(args: argparse.Namespace) -> dict[int, str]:
    names: dict[int, str] = {}
    if args.names == "sample":
        from ..samples.attempts import SAMPLE_ROUTERS

        names.update({rid: name for name, rid in SAMPLE_ROUTERS.items()})
    elif args.names == "dialpad":
        from ..connection import connect

        if not (os.environ.get("DIALPAD_API_KEY") or "").strip():
            raise UsageError("--names dialpad reads your routers' names: set DIALPAD_API_KEY")
        with connect() as client:
            names.update({r.id: r.name for r in client.list_routers()})
    for item in args.name:
        rid, sep, name = item.partition("=")
        if not sep or not rid.strip().isdigit() or not name.strip():
            raise UsageError(f"--name {item!r}: expected ROUTER_ID=NAME, e.g. 7300000000000001=support")
        names[int(rid)] = name.strip()
    return names


def _run_health(args: argparse.Namespace) -> int:
    import pandas as pd

    from ..calls.dataset import is_dataset
    from ..charts.tables import show_table
    from ..health.attempts import read_attempts_csv, read_endpoint_log
    from ..health.budget import forecast
    from ..health.window import infer_patches, simulate, window_summary

    path = args.log if args.log is not None else args.attempts
    dataset = args.log is not None and is_dataset(path)
    if not dataset and not os.path.isfile(path):
        raise UsageError(f"no such file {path!r}")
    if not dataset and (args.start or args.end):
        raise UsageError("--start/--end filter a dataset (--log DATASET)")
    if args.log is not None:
        read = read_endpoint_log(args.log, router_id=args.router, start=args.start, end=args.end)
    else:
        read = read_attempts_csv(args.attempts)
    attempts = read.attempts
    if attempts.empty:
        raise UsageError(f"no attempts in {args.log or args.attempts} ({read})")
    names = _names(args)
    routers = sorted(int(r) for r in attempts["router_id"].dropna().unique())
    if args.router is not None and args.log is None:
        if args.router not in routers:
            raise UsageError(
                f"router {args.router} is not in the log (routers: {', '.join(map(str, routers))})"
            )
        routers = [args.router]
    patches = infer_patches(attempts)
    summary = window_summary(simulate(attempts, patches=patches))
    rows = []
    for rid in routers:
        fc = forecast(attempts, router_id=rid, patches=patches, now=args.now, router_name=names.get(rid))
        s = summary.loc[rid].to_dict()
        rows.append(
            {
                "router": names.get(rid, str(rid)),
                "router_id": rid,
                "calls": int(s["attempts"]),
                "requests": int(s["requests"]),
                "errors": int(s["errors"]),
                "disables": int(s["disables"]),
                "skipped": int(s["skipped"]),
                "peak_errors_in_window": int(s["max_error_count"]),
                "first_disable": s["first_disable"],
                "forecast_at": fc.now,
                "errors_in_window": fc.error_count,
                "budget_left": fc.budget_left,
                "outlook": fc.outlook,
                "forecast": fc.describe(),
            }
        )
    table = pd.DataFrame(rows)
    if args.format == "json":
        records = [
            {
                k: (None if v is pd.NaT else v.isoformat() if isinstance(v, pd.Timestamp) else v)
                for k, v in row.items()
            }
            for row in rows
        ]
        emit_json({"read": str(read).split("\n")[0], "routers": records})
        return EXIT_OK
    if args.format == "csv":
        emit(table.drop(columns=["forecast"]), "csv")
        return EXIT_OK
    print(str(read).split("\n")[0])
    shown = table[["router", "calls", "requests", "errors", "disables", "skipped", "peak_errors_in_window"]]
    shown = shown.assign(first_disable=table["first_disable"]).set_index("router")
    emit(shown, "table", timezone=args.timezone, missing={"first_disable": "not disabled"})
    print("\nForecast (errors of the last hour against the threshold, at the recent pace):")
    for row in rows:
        at = show_table(pd.DataFrame({"t": [row["forecast_at"]]}), timezone=args.timezone).text["t"].iloc[0]
        print(
            f"  {row['router']} at {at}: {row['errors_in_window']} errors in the window, "
            f"budget {row['budget_left']} left; {row['outlook']}"
        )
    return EXIT_OK


def add(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "health",
        help="errors in the rolling hour against Dialpad's auto-disable, per router, with a forecast",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
    )
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--attempts", metavar="CSV", help="an attempts CSV (e.g. data/attempts_sample.csv)")
    source.add_argument(
        "--log", metavar="JSONL",
        help="an endpoint kit log (what the endpoint saw), or a dataset that `dialpad-nb ingest` made of such logs",
    )  # fmt: skip
    p.add_argument(
        "--start", default=None, metavar="DATE", help="with --log DATASET: attempts from this time (UTC)"
    )
    p.add_argument(
        "--end", default=None, metavar="DATE", help="with --log DATASET: attempts before this time (UTC)"
    )
    p.add_argument(
        "--router", type=int, default=None, metavar="ID",
        help="only this router (with --log: the router the endpoint serves)",
    )  # fmt: skip
    p.add_argument(
        "--name", action="append", default=[], metavar="ID=NAME",
        help="name a router in the output (repeatable), e.g. --name 7300000000000001=support",
    )  # fmt: skip
    p.add_argument(
        "--names", choices=("sample", "dialpad"), default=None,
        help="router names from the sample data, or from your Dialpad (needs DIALPAD_API_KEY)",
    )  # fmt: skip
    p.add_argument(
        "--now", default=None, metavar="TIME", help="forecast at this time (ISO-8601; default: the log's end)"
    )
    p.add_argument(
        "--timezone", default=None, metavar="AREA/CITY", help="show times in this timezone (default: UTC)"
    )
    add_format(p)
    p.set_defaults(func=_run_health)
