"""``dialpad-nb ingest``: read call logs once into a Parquet dataset partitioned by day.

Files already in the dataset (same content, whatever their name) are skipped, so signed lines are
verified once. Each file goes in whole or not at all. An endpoint log's attempts are stored too
(read them with ``read_endpoint_log(DATASET)`` or ``dialpad-nb health --log DATASET``); a file
ingested before that is read again for them. Read it back with ``read_calls(DATASET)``
or ``dialpad-nb replay --calls DATASET``.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from . import EXIT_OK, UsageError
from ._output import emit_json


def _run_ingest(args: argparse.Namespace) -> int:
    from ..calls.dataset import ingest
    from ..health.dataset_attempts import endpoint_attempts

    secret = None
    if args.secret_env:
        secret = os.environ.get(args.secret_env)
        if not secret:
            raise UsageError(f"environment variable {args.secret_env} is not set")
    report = ingest(
        args.logs, args.to, secret, router_id=args.router_id, attempts=endpoint_attempts, workers=args.workers
    )
    if args.format == "json":
        emit_json(
            {
                "summary": report.summary,
                "added": list(report.added),
                "skipped": list(report.skipped),
                "calls": report.calls,
                "rejects": report.rejects,
            }
        )
    else:
        print(report.summary)
    return EXIT_OK


def add(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "ingest",
        help="read call logs once into a Parquet dataset by day (incremental: known files are skipped)",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
    )
    p.add_argument("logs", nargs="+", metavar="LOGS", help="call logs: files, folders or globs")
    p.add_argument("--to", required=True, metavar="DATASET", help="the dataset folder (created if missing)")
    p.add_argument(
        "--secret-env", metavar="VAR", default=None,
        help="environment variable holding the router secret, to verify signed lines (never a flag: it would show in ps)",
    )  # fmt: skip
    p.add_argument(
        "--router-id", type=int, default=None, metavar="ID",
        help="the router these logs belong to (stamped on calls, to filter by router later)",
    )  # fmt: skip
    p.add_argument(
        "--workers", type=int, default=None, metavar="N",
        help="processes reading files at once (default: one per core for several files totalling 256 MiB or more)",
    )  # fmt: skip
    p.add_argument("--format", choices=("table", "json"), default="table", help="table (default) or json")
    p.set_defaults(func=_run_ingest)
