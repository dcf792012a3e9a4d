"""Reading the endpoint kit's JSONL log: one line reader, one record check, one table.

:func:`iter_log` is the one place a log is split into records: it yields every non-blank
line with its 1-based number and either the checked record
(:func:`dialpad_nb.core.endpoint_log.check_record`) or why it is not one. The log table
(:func:`read_log`) and the health reader (:func:`dialpad_nb.health.read_endpoint_log`)
both read through it; ``read_calls`` applies the same record check on its fast path.
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

import pandas as pd

from ..core.endpoint_log import BadLogRecord, LogRecord, check_record
from ..core.frames import ReadResult, rejects_frame

__all__ = ["LOG_FRAME_COLUMNS", "LogSource", "iter_log", "read_log"]

LOG_FRAME_COLUMNS: tuple[str, ...] = (
    "ts",
    "time",
    "call_id",
    "signed",
    "target_id",
    "target_type",
    "rule",
    "fallback",
    "status",
    "latency_ms",
    "outcome",
    "error",
    "line",
)
"""Columns of :func:`read_log`'s table: the decision split into ``target_id``/``target_type``,
``time`` the UTC datetime of ``ts``, ``line`` where the record is in the log."""

LogSource = str | os.PathLike | IO[Any] | Iterable[Mapping[str, Any]]
"""A log file (``.gz`` too), an open file, an ``EndpointLog`` (its ``records()``), or records."""


def _lines(source: Any) -> Iterator[tuple[int, Any, str]]:
    """``(line, decoded JSON or an exception, raw text)`` for every non-blank line."""
    if hasattr(source, "records") and callable(source.records):  # an EndpointLog: already decoded
        for i, rec in enumerate(source.records(), start=1):
            yield i, rec, ""
        return
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        with path.open("rb") as f:
            magic = f.read(2)
        opener = gzip.open if magic == b"\x1f\x8b" else open
        with opener(path, "rb") as fh:
            yield from _decode(fh)
        return
    if hasattr(source, "read"):
        yield from _decode(source)
        return
    for i, rec in enumerate(source, start=1):
        yield i, rec, ""


def _decode(lines: Iterable[bytes | str]) -> Iterator[tuple[int, Any, str]]:
    for number, line in enumerate(lines, start=1):
        text = line.decode("utf-8", "replace") if isinstance(line, bytes) else line
        if not text.strip():
            continue
        try:
            obj: Any = json.loads(line)
        except (ValueError, RecursionError) as exc:  # JSONDecodeError, bad UTF-8, too deep
            obj = exc
        yield number, obj, text.rstrip("\r\n")


def iter_log(source: LogSource) -> Iterator[tuple[int, LogRecord | BadLogRecord, str]]:
    """``(line, record or why not, raw text)`` for every non-blank line of an endpoint log."""
    for number, obj, raw in _lines(source):
        if isinstance(obj, Exception):
            reason = getattr(obj, "msg", None) or type(obj).__name__
            yield number, BadLogRecord(f"not JSON: {reason}", kind="bad JSON"), raw
            continue
        try:
            yield number, check_record(obj), raw or _text(obj)
        except BadLogRecord as exc:
            yield number, exc, raw or _text(obj)


def _text(obj: Any) -> str:
    try:
        return json.dumps(obj, default=str)
    except (TypeError, ValueError):
        return repr(obj)


def _opt_int(rec: LogRecord, name: str) -> int | None:
    value = rec.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadLogRecord(f"{name} {value!r} is not an integer")
    return value


def _opt_number(rec: LogRecord, name: str) -> float | None:
    value = rec.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        raise BadLogRecord(f"{name} {value!r} is not a number")
    return float(value)


def _opt_text(rec: LogRecord, name: str) -> str | None:
    value = rec.get(name)
    if value is not None and not isinstance(value, str):
        raise BadLogRecord(f"{name} {value!r} is not text")
    return value


def _row(rec: LogRecord, line: int) -> dict[str, Any]:
    target = rec.decision or (None, None)
    fallback = rec.get("fallback")
    if fallback is not None and not isinstance(fallback, bool):
        raise BadLogRecord(f"fallback {fallback!r} is not true or false")
    return {
        "ts": _opt_int(rec, "ts"),
        "call_id": _opt_int(rec, "call_id"),
        "signed": rec.signed,
        "target_id": target[0],
        "target_type": target[1],
        "rule": rec.rule,
        "fallback": fallback,
        "status": _opt_int(rec, "status"),
        "latency_ms": _opt_number(rec, "latency_ms"),
        "outcome": _opt_text(rec, "outcome"),
        "error": _opt_text(rec, "error"),
        "line": line,
    }


def read_log(source: LogSource, *, name: str | None = None) -> ReadResult:
    """The endpoint kit's log as a table (:data:`LOG_FRAME_COLUMNS`) and the lines that are
    not log records (the one rejects frame). ``name`` labels the rejects' ``source``
    (default: the file name)."""
    label = name or (os.fspath(source) if isinstance(source, (str, os.PathLike)) else "log")
    rows: list[dict[str, Any]] = []
    bad: list[tuple[int, str, str, str]] = []
    for line, rec, raw in iter_log(source):
        try:
            if isinstance(rec, BadLogRecord):
                raise rec
            rows.append(_row(rec, line))
        except BadLogRecord as exc:
            bad.append((line, raw, f"line {line}: {exc}", exc.kind))
    columns = [c for c in LOG_FRAME_COLUMNS if c != "time"]
    df = pd.DataFrame(rows, columns=columns)
    df = df.astype(
        {"ts": "Int64", "call_id": "Int64", "target_id": "Int64", "status": "Int64", "latency_ms": "float64"}
    ).astype({"line": "int64"})
    df.insert(1, "time", pd.to_datetime(df["ts"], unit="ms", utc=True))
    files = (label,) if isinstance(source, (str, os.PathLike)) else ()
    return ReadResult(df, rejects_frame(bad, label), files=files, what="log records")
