"""``dialpad-nb generate-calls``: a seeded call log for replay and benchmarks."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def _run_generate_calls(args: argparse.Namespace) -> int:
    import os

    from ..samples import generate as datagen

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
            secret=secret, bad_lines=args.bad_lines, start=args.start, days=args.days, progress=args.progress,
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


def add(subparsers: Any) -> None:
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
    p.add_argument(
        "--no-progress", dest="progress", action="store_false", help="no progress bars (they go to stderr)"
    )
    p.set_defaults(func=_run_generate_calls)
