"""Reading the endpoint kit's JSONL log: one line reader, one record check, one table.

:func:`iter_log` is the one place a log is split into records: it yields every non-blank
line with its 1-based number and either the checked record
(:func:`dialpad_nb.core.endpoint_log.check_record`) or why it is not one. The log table
(:func:`read_log`) and the health reader (:func:`dialpad_nb.health.read_endpoint_log`)
both read through it; ``read_calls`` applies the same record check on its fast path.

Given the path of a log's active file, every reader here follows it across its rotated
generations (:func:`dialpad_nb.core.endpoint_log.log_files`: oldest first, gzip included).
Event records (a matrix reload) are not requests: the readers skip them and count them in
``ReadResult.skipped``; :func:`read_log_events` lists them.
"""

from __future__ import annotations

import gzip
import json
import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any, TypeVar

import pandas as pd

from ..core.endpoint_log import BadLogRecord, LogEvent, LogRecord, check_record, log_files, open_generation
from ..core.errors import SourceChanging
from ..core.frames import ReadResult, rejects_frame

__all__ = [
    "LOG_EVENT_COLUMNS",
    "LOG_FRAME_COLUMNS",
    "LogSource",
    "iter_log",
    "log_sources",
    "read_log",
    "read_log_events",
]

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
    "source",
    "line",
)
"""Columns of :func:`read_log`'s table: the decision split into ``target_id``/``target_type``,
``time`` the UTC datetime of ``ts``, ``source`` and ``line`` where the record is (the file,
which for a rotated log may be a rotated generation)."""

LOG_EVENT_COLUMNS: tuple[str, ...] = (
    "ts",
    "time",
    "event",
    "ok",
    "trigger",
    "name",
    "sha256",
    "rules",
    "serving_sha256",
    "error",
    "pid",
    "action",
    "candidate",
    "share",
    "reason",
    "candidate_calls",
    "candidate_failures",
    "control_calls",
    "control_failures",
    "source",
    "line",
)
"""Columns of :func:`read_log_events`' table (one row per event record: a matrix reload, with
``ok``..``pid``; a canary change, with ``action``..``control_failures``; a column an event
does not have is missing)."""

_COUNTS = ("candidate_calls", "candidate_failures", "control_calls", "control_failures")

LogSource = str | os.PathLike | IO[Any] | Iterable[Mapping[str, Any]]
"""A log file (``.gz`` too), an open file, an ``EndpointLog`` (its ``records()``), or records."""


def _lines(source: Any) -> Iterator[tuple[int, Any, str]]:
    """``(line, decoded JSON or an exception, raw text)`` for every non-blank line."""
    if hasattr(source, "records") and callable(source.records):  # an EndpointLog: already decoded
        for i, rec in enumerate(source.records(), start=1):
            yield i, rec, ""
        return
    if isinstance(source, (str, os.PathLike)):
        with open_generation(source) as raw:
            magic = raw.read(2)
            raw.seek(0)
            fh: Any = gzip.GzipFile(fileobj=raw, mode="rb") if magic == b"\x1f\x8b" else raw
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


def log_sources(source: LogSource, name: str | None = None) -> list[tuple[str, Any]]:
    """``(label, source)`` for each file to read: a path is followed across its rotated generations
    (oldest first); anything else is one source labelled ``name`` (default ``"log"``)."""
    if isinstance(source, (str, os.PathLike)):
        files = log_files(source)
        if len(files) == 1 and name:
            return [(name, files[0])]
        return [(os.fspath(f), f) for f in files]
    return [(name or "log", source)]


T = TypeVar("T")
_SNAPSHOT_TRIES = 5


def _generations(source: str | os.PathLike) -> frozenset[str]:
    """The rotated generations of a log, by name without ``.gz`` (compressing one changes nothing)."""
    return frozenset(f.name.removesuffix(".gz") for f in log_files(source) if f != Path(source))


def read_whole(source: LogSource, name: str | None, build: Callable[[list[tuple[str, Any]]], T]) -> T:
    """``build(log_sources(source, name))`` on a snapshot of a rotated log that no rotation moved
    under it: a live endpoint may rotate between listing its files and reading them (the active
    file renamed away, or a generation read twice or not at all). The read is done again when a
    listed file vanished or the generations changed meanwhile; :class:`SourceChanging` after
    five tries. Anything but a path is read once."""
    if not isinstance(source, (str, os.PathLike)):
        return build(log_sources(source, name))
    for _ in range(_SNAPSHOT_TRIES):
        before = _generations(source)
        try:
            result = build(log_sources(source, name))
        except FileNotFoundError:
            if _generations(source) == before:
                raise  # not a rotation: the file is simply not there
            continue
        if _generations(source) == before:
            return result
    raise SourceChanging(f"{os.fspath(source)} kept rotating while it was being read; read it again")


def iter_log(source: LogSource) -> Iterator[tuple[int, LogRecord | LogEvent | BadLogRecord, str]]:
    """``(line, record, event or why not, raw text)`` for every non-blank line of an endpoint log
    (every generation of a rotated log in turn; ``line`` counts within each file)."""
    for _label, one in log_sources(source):
        yield from _iter_one(one)


def _iter_one(source: Any) -> Iterator[tuple[int, LogRecord | LogEvent | BadLogRecord, str]]:
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


def _row(rec: LogRecord, line: int, source: str) -> dict[str, Any]:
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
        "source": source,
        "line": line,
    }


def read_log(source: LogSource, *, name: str | None = None) -> ReadResult:
    """The endpoint kit's log as a table (:data:`LOG_FRAME_COLUMNS`) and the lines that are
    not log records (the one rejects frame). ``name`` labels the rows' and rejects' ``source``
    (default: the file name; a rotated log is read across its generations, each its own
    source). Event records are skipped and counted in ``skipped``."""
    return read_whole(source, name, lambda sources: _read_log(source, sources))


def scan_requests(
    sources: list[tuple[str, Any]], build: Callable[[LogRecord, int, str], T]
) -> tuple[list[T], list[pd.DataFrame], Counter[str]]:
    """``build(record, line, label)`` for every request record of every source, in order; a line
    that is not a log record, or whose record ``build`` refuses (:class:`BadLogRecord`), is a
    reject with its line and reason (one rejects frame per source); event records are skipped
    and counted by event."""
    built: list[T] = []
    rejects: list[pd.DataFrame] = []
    skipped: Counter[str] = Counter()
    for label, one in sources:
        bad: list[tuple[int, str, str, str]] = []
        for line, rec, raw in _iter_one(one):
            try:
                if isinstance(rec, BadLogRecord):
                    raise rec
                if isinstance(rec, LogEvent):
                    skipped[rec.event] += 1
                    continue
                built.append(build(rec, line, label))
            except BadLogRecord as exc:
                bad.append((line, raw, f"line {line}: {exc}", exc.kind))
        rejects.append(rejects_frame(bad, label))
    return built, rejects, skipped


def _read_log(source: LogSource, sources: list[tuple[str, Any]]) -> ReadResult:
    rows, rejects, skipped = scan_requests(sources, _row)
    columns = [c for c in LOG_FRAME_COLUMNS if c != "time"]
    df = pd.DataFrame(rows, columns=columns)
    df = df.astype(
        {
            "ts": "Int64",
            "call_id": "Int64",
            "target_id": "Int64",
            "status": "Int64",
            "latency_ms": "float64",
            "source": "string",
        }
    ).astype({"line": "int64"})
    df.insert(1, "time", pd.to_datetime(df["ts"], unit="ms", utc=True))
    files = tuple(label for label, _ in sources) if isinstance(source, (str, os.PathLike)) else ()
    return ReadResult(df, _concat_rejects(rejects), files=files, what="log records", skipped=dict(skipped))


def read_log_events(source: LogSource, *, name: str | None = None) -> pd.DataFrame:
    """The log's event records (matrix reloads: when, what triggered them, loaded or refused and
    why; canary changes: started, share, stopped and why, resumed) as a table (:data:`LOG_EVENT_COLUMNS`), oldest first; request records are not in it."""
    return read_whole(source, name, _read_log_events)


def _read_log_events(sources: list[tuple[str, Any]]) -> pd.DataFrame:
    rows: list[dict[str, Any]] = []
    for label, one in sources:
        for line, rec, _raw in _iter_one(one):
            if not isinstance(rec, LogEvent):
                continue
            row = {c: rec.get(c) for c in LOG_EVENT_COLUMNS if c not in ("time", "event", "source", "line")}
            for key in ("ts", "rules", "pid", *_COUNTS):
                value = row[key]
                if isinstance(value, bool) or not isinstance(value, int):
                    row[key] = None
            for key in (
                "trigger",
                "name",
                "sha256",
                "serving_sha256",
                "error",
                "action",
                "candidate",
                "reason",
            ):
                if not isinstance(row[key], str):
                    row[key] = None
            row["ok"] = row["ok"] if isinstance(row["ok"], bool) else None
            share = row["share"]
            row["share"] = (
                float(share) if isinstance(share, (int, float)) and not isinstance(share, bool) else None
            )
            rows.append({**row, "event": rec.event, "source": label, "line": line})
    columns = [c for c in LOG_EVENT_COLUMNS if c != "time"]
    df = pd.DataFrame(rows, columns=columns).astype(
        {
            "ts": "Int64",
            "rules": "Int64",
            "pid": "Int64",
            "ok": "boolean",
            "line": "int64",
            "share": "float64",
        }
        | dict.fromkeys(_COUNTS, "Int64")
    )
    for c in (
        "event",
        "trigger",
        "name",
        "sha256",
        "serving_sha256",
        "error",
        "action",
        "candidate",
        "reason",
        "source",
    ):
        df[c] = df[c].astype("string")
    df.insert(1, "time", pd.to_datetime(df["ts"], unit="ms", utc=True))
    return df


def _concat_rejects(frames: list[pd.DataFrame]) -> pd.DataFrame:
    frames = [f for f in frames if len(f)] or frames[:1]
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
