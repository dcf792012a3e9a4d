"""How subcommands print: a table for people, or JSON / CSV for scripts."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from typing import Any, TextIO

FORMATS = ("table", "json", "csv")


def add_format(parser: Any, default: str = "table") -> None:
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default=default,
        help=f"table (for people), json or csv (for scripts); default: {default}",
    )


def emit(
    frame: Any,
    fmt: str,
    *,
    out: TextIO | None = None,
    timezone: str | None = None,
    missing: Mapping[str, str] | None = None,
) -> None:
    """Print a DataFrame: formatted for people (names, times with their zone, no NaN), or as
    JSON records / CSV with the raw values (ids and ISO times) for scripts."""
    out = out or sys.stdout
    if fmt == "json":
        out.write(frame.to_json(orient="records", date_format="iso", indent=2) + "\n")
    elif fmt == "csv":
        frame.to_csv(out, index=False)
    else:
        from ..charts.tables import show_table

        out.write(repr(show_table(frame, timezone=timezone, missing=missing)) + "\n")


def emit_json(data: Any, out: TextIO | None = None) -> None:
    (out or sys.stdout).write(json.dumps(data, indent=2, default=str) + "\n")
