"""``dialpad-nb replay``: replay logged calls through a candidate matrix, offline.

Prints what was read, the comparison's summary (and anything a reader must know, such as hours
read in UTC for want of a timezone), the per-target table, and writes every call whose target
changes to a CSV.
"""

from __future__ import annotations

import argparse
import os
import warnings
from typing import Any

from . import EXIT_OK, UsageError
from ._output import emit_json


def _directory(which: str | None) -> Any:
    if which is None:
        return None
    if which == "sample":
        from ..samples.company import all_targets

        return all_targets()
    from ..connection import connect

    if not (os.environ.get("DIALPAD_API_KEY") or "").strip():
        raise UsageError("--directory dialpad reads your company's targets: set DIALPAD_API_KEY")
    with connect() as client:
        return client.targets()


def _run_replay(args: argparse.Namespace) -> int:
    from ..calls.read import read_calls
    from ..rules.comparison import compare
    from ..rules.enrich import Enrichment
    from ..rules.ruleset import load_matrix

    secret = None
    if args.secret_env:
        secret = os.environ.get(args.secret_env)
        if not secret:
            raise UsageError(f"environment variable {args.secret_env} is not set")
    directory = _directory(args.directory)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # what they say is printed below, once, in the summary
        source = args.calls[0] if len(args.calls) == 1 else args.calls  # one path: maybe a dataset
        read = read_calls(source, secret=secret, progress=None if args.progress else False)
        crm = Enrichment.from_csv(args.crm) if args.crm else None
        kw = {"timezone": args.timezone, "directory": directory}
        candidate = load_matrix(args.candidate, **kw).with_enrichment(crm)
        baseline: Any = (
            "logged" if args.baseline == "logged" else load_matrix(args.baseline, **kw).with_enrichment(crm)
        )
        result = compare(
            read.calls, candidate, baseline=baseline, capacity=args.capacity, directory=directory
        )
    summary = result.summary
    notes = [*read.notes, *summary.notes]
    for rules in (candidate, baseline):
        for w in getattr(rules, "warnings", ()):
            notes.append(f"{rules.name}: {w.message}")
    changes = result.changes[
        [
            "call_id",
            "date_started",
            "date_started_local",
            "before_name",
            "before_rule",
            "after_name",
            "after_rule",
        ]
    ]
    if args.changes != "-":
        changes.to_csv(args.changes, index=False, date_format="%Y-%m-%dT%H:%M:%S.%f%z")
    if args.format == "json":
        emit_json(
            {
                "read": str(read).split("\n")[0],
                "summary": str(summary),
                "headline": summary.headline(),
                "notes": notes,
                "per_target": summary.per_target_display().reset_index().to_dict("records"),
                "changes_csv": None if args.changes == "-" else args.changes,
            }
        )
    else:
        print(str(read).split("\n")[0])
        print(summary)
        for note in notes:
            print(f"warning: {note}")
        print(f"\nPer target (hours and days read in {summary.timezone}):")
        print(summary.per_target_display().to_string())
        if args.changes != "-":
            print(f"\nwrote {len(changes):,} changed calls to {args.changes}")
    return EXIT_OK


def add(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "replay",
        help="replay logged calls through a candidate matrix and write the calls that change",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
    )
    p.add_argument(
        "--calls", required=True, nargs="+", metavar="PATH",
        help="call logs: files, folders or globs (JSONL, JWT lines, endpoint logs, CSV, Parquet, .gz), or a dataset from ingest",
    )  # fmt: skip
    p.add_argument("--candidate", required=True, metavar="CSV", help="the candidate routing matrix")
    p.add_argument(
        "--baseline", default="logged", metavar="CSV|logged",
        help="the matrix to compare with (e.g. the current one), or 'logged': the decisions in the log (default)",
    )  # fmt: skip
    p.add_argument(
        "--timezone", default=None, metavar="AREA/CITY",
        help="where matrix hours and days are read, e.g. America/Los_Angeles (default: UTC, and a warning)",
    )  # fmt: skip
    p.add_argument("--crm", metavar="CSV", default=None, help="CRM export for crm.* conditions")
    p.add_argument("--capacity", metavar="CSV", default=None, help="calls per hour each target can take")
    p.add_argument(
        "--secret-env", metavar="VAR", default=None,
        help="environment variable holding the router secret, to verify signed lines (never a flag: it would show in ps)",
    )  # fmt: skip
    p.add_argument(
        "--directory", choices=("sample", "dialpad"), default=None,
        help="name targets and check ids: the sample company, or your Dialpad's (needs DIALPAD_API_KEY)",
    )  # fmt: skip
    p.add_argument(
        "--changes", default="changes.csv", metavar="CSV",
        help="where to write the calls whose target changes (default: changes.csv; '-' for none)",
    )  # fmt: skip
    p.add_argument(
        "--no-progress", dest="progress", action="store_false", help="no progress bar on long reads"
    )
    p.add_argument("--format", choices=("table", "json"), default="table", help="table (default) or json")
    p.set_defaults(func=_run_replay)
