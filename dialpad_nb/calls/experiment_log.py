"""Reading the experiment part of an endpoint log: the canary side of each request, the
control's own result and every shadow's (log version 2, :mod:`dialpad_nb.core.endpoint_log`).

:func:`read_experiment` gives one row per routed request (:data:`EXPERIMENT_COLUMNS`: the call's
context as the endpoint checked it, what was answered, the canary side and who answered, the
control's own result) and, in ``.shadows``, one row per request and shadow
(:data:`SHADOW_RESULT_COLUMNS`, with the :func:`~dialpad_nb.core.endpoint_log.shadow_verdict`
against the control). It reads every line through :func:`~dialpad_nb.calls.iter_log` and
:func:`~dialpad_nb.core.endpoint_log.experiment_of`: a line that is not a record, a request the
endpoint refused (no payload), or an experiment part that is not what the kit writes is a
reject with its line and reason; events (reloads, canary changes) are skipped and counted.
Version-1 records read as requests without an experiment (no side, no shadows).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..core.clock import MAX_MS, MIN_MS
from ..core.endpoint_log import (
    BadLogRecord,
    LogRecord,
    experiment_of,
    logged_error,
    shadow_verdict,
)
from ..core.frames import ReadResult
from .endpoint_log import LogSource, _concat_rejects, read_whole, scan_requests

__all__ = ["EXPERIMENT_COLUMNS", "SHADOW_RESULT_COLUMNS", "ExperimentRead", "read_experiment"]

EXPERIMENT_DTYPES: dict[str, Any] = {
    "time": "datetime64[ms, UTC]",
    "call_id": "Int64",
    "date_started": "datetime64[ms, UTC]",
    "external_number": "string",
    "internal_number": "string",
    "contact_id": "string",
    "contact_type": "string",
    "status": "Int64",
    "outcome": "string",
    "latency_ms": "float64",
    "fallback": "boolean",
    "target_id": "Int64",
    "target_type": "string",
    "rule": "string",
    "side": "string",
    "answered_by": "string",
    "control_target_id": "Int64",
    "control_target_type": "string",
    "control_rule": "string",
    "control_outcome": "string",
    "control_error": "string",
    "control_ms": "float64",
    "source": "string",
    "line": "int64",
}
EXPERIMENT_COLUMNS: tuple[str, ...] = tuple(EXPERIMENT_DTYPES)
"""One row per routed request: ``time`` it was received; the call (``call_id``,
``date_started``, numbers, contact) as the endpoint checked it; what was answered (``status``,
``outcome``, ``latency_ms``, ``fallback``, ``target_*``, ``rule``); ``side`` (the canary arm:
``control`` or a candidate; missing without a canary) and ``answered_by`` (a failing candidate's
callers are answered by the control); the control's own result (``control_*``: its target, rule,
outcome among ``ok``/``no_match``/``timeout``/``error``/``busy``, error and duration); where the
record is (``source``, ``line``)."""

SHADOW_RESULT_DTYPES: dict[str, Any] = {
    "time": "datetime64[ms, UTC]",
    "call_id": "Int64",
    "shadow": "string",
    "target_id": "Int64",
    "target_type": "string",
    "rule": "string",
    "outcome": "string",
    "error": "string",
    "duration_ms": "float64",
    "verdict": "string",
    "source": "string",
    "line": "int64",
}
SHADOW_RESULT_COLUMNS: tuple[str, ...] = tuple(SHADOW_RESULT_DTYPES)
"""One row per request and shadow: the shadow's target (its fallback when no rule matched),
rule, outcome, error, duration, and its ``verdict`` against the control (``match``,
``mismatch``, ``timeout``, ``error``, ``busy``, ``control_failed``); ``source`` and ``line``
join it to its request row."""


@dataclass(frozen=True)
class ExperimentRead(ReadResult):
    """:func:`read_experiment`'s result: a :class:`~dialpad_nb.core.frames.ReadResult` of the
    requests (``frame``, ``rejects``) plus ``shadows``, one row per request and shadow."""

    shadows: pd.DataFrame = field(default_factory=lambda: _frame([], SHADOW_RESULT_DTYPES), repr=False)

    @property
    def summary(self) -> str:
        text = super().summary
        if len(self.shadows):
            names = ", ".join(sorted(self.shadows["shadow"].astype(str).unique()))
            text += f"; {len(self.shadows):,} shadow results ({names})"
        return text

    def __repr__(self) -> str:
        return self.summary


def read_experiment(source: LogSource, *, name: str | None = None) -> ExperimentRead:
    """The requests of an endpoint log with their canary side and the control's and every
    shadow's result (module docstring). ``source`` is what :func:`~dialpad_nb.calls.read_log`
    takes (a path, followed across rotated generations; an open file; an ``EndpointLog``;
    records); ``name`` labels ``source`` when it is not a path."""
    return read_whole(source, name, lambda sources: _read_experiment(source, sources))


def _read_experiment(source: LogSource, sources: list[tuple[str, Any]]) -> ExperimentRead:
    built, rejects, skipped = scan_requests(sources, _rows)
    rows = [row for row, _ in built]
    shadow_rows = [shadow for _, shadows in built for shadow in shadows]
    files = tuple(label for label, _ in sources) if isinstance(source, (str, os.PathLike)) else ()
    return ExperimentRead(
        _frame(rows, EXPERIMENT_DTYPES),
        _concat_rejects(rejects),
        files=files,
        what="requests",
        skipped=dict(skipped),
        shadows=_frame(shadow_rows, SHADOW_RESULT_DTYPES),
    )


def _rows(rec: LogRecord, line: int, source: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    payload = rec.payload
    if payload is None:
        raise BadLogRecord(logged_error(rec.raw), kind="logged error")
    if not isinstance(payload, Mapping):
        raise BadLogRecord(f"payload {payload!r} is not an object")
    ts = _ms(rec.get("ts"), "ts")
    if ts is None:
        raise BadLogRecord("ts is required")
    exp = experiment_of(rec)
    target = rec.decision or (None, None)
    control_target = exp.control.decision or (None, None)
    fallback = rec.get("fallback")
    latency = rec.get("latency_ms")
    row = {
        "time": ts,
        "call_id": _int(rec.get("call_id"), "call_id"),
        "date_started": _ms(payload.get("date_started"), "payload.date_started"),
        "external_number": _text(payload.get("external_number")),
        "internal_number": _text(payload.get("internal_number")),
        "contact_id": _text(payload.get("contact_id")),
        "contact_type": _text(payload.get("contact_type")),
        "status": _int(rec.get("status"), "status"),
        "outcome": _text(rec.get("outcome")),
        "latency_ms": float(latency)
        if isinstance(latency, (int, float)) and not isinstance(latency, bool)
        else None,
        "fallback": fallback if isinstance(fallback, bool) else None,
        "target_id": target[0],
        "target_type": target[1],
        "rule": rec.rule,
        "side": exp.side,
        "answered_by": exp.answered_by,
        "control_target_id": control_target[0],
        "control_target_type": control_target[1],
        "control_rule": exp.control.rule,
        "control_outcome": exp.control.outcome,
        "control_error": exp.control.error,
        "control_ms": exp.control.duration_ms,
        "source": source,
        "line": line,
    }
    shadows = []
    for sh in exp.shadows:
        st = sh.decision or (None, None)
        shadows.append(
            {
                "time": ts,
                "call_id": row["call_id"],
                "shadow": sh.name,
                "target_id": st[0],
                "target_type": st[1],
                "rule": sh.rule,
                "outcome": sh.outcome,
                "error": sh.error,
                "duration_ms": sh.duration_ms,
                "verdict": shadow_verdict(exp.control, sh),
                "source": source,
                "line": line,
            }
        )
    return row, shadows


def _int(value: Any, where: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not -(2**63) < value < 2**63:
        raise BadLogRecord(f"{where} {value!r} is not an integer")
    return value


def _ms(value: Any, where: str) -> int | None:
    ms = _int(value, where)
    if ms is not None and not MIN_MS <= ms <= MAX_MS:
        raise BadLogRecord(f"{where} {ms} is outside the years 1970-9999")
    return ms


def _text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else str(value)


def _frame(rows: list[dict[str, Any]], dtypes: Mapping[str, Any]) -> pd.DataFrame:
    cols: dict[str, pd.Series] = {}
    for name, dtype in dtypes.items():
        values = [r[name] for r in rows]
        if dtype.startswith("datetime64"):
            cols[name] = pd.to_datetime(pd.Series(values, dtype="Int64"), unit="ms", utc=True).astype(dtype)
        else:
            cols[name] = pd.Series(values, dtype=object).astype(dtype)
    return pd.DataFrame(cols)
