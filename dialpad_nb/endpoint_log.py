"""The routing endpoint's JSONL log: one record per request, read by replay and health.

Record (version 1; ``models.ENDPOINT_LOG_VERSION``)::

    {"v": 1,
     "ts": <ms since epoch when the request was received, from the endpoint's clock>,
     "call_id": <int | null>,
     "payload": <the routing request object | null>,
     "signed": <bool: the request carried a JWT>,
     "decision": {"target_id": int, "target_type": str} | null,   # what was answered
     "rule": <str | null: the rule that matched, when decide reports one>,
     "fallback": <bool: the answer is the endpoint's fallback>,
     "status": <HTTP status answered>,
     "latency_ms": <float: time from receipt to answer>,
     "outcome": "ok" | "fallback" | "unauthorized" | "bad_request" | "error",
     "error": <str | null: why, when not ok>}

The secret and the raw token are never written.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from .models import ENDPOINT_LOG_VERSION

__all__ = [
    "LOG_FIELDS",
    "LOG_OUTCOMES",
    "EndpointLog",
    "endpoint_log_frame",
    "make_record",
    "read_log_records",
    "side_by_side",
]

LOG_FIELDS: tuple[str, ...] = (
    "v",
    "ts",
    "call_id",
    "payload",
    "signed",
    "decision",
    "rule",
    "fallback",
    "status",
    "latency_ms",
    "outcome",
    "error",
)
LOG_OUTCOMES: tuple[str, ...] = ("ok", "fallback", "unauthorized", "bad_request", "error")


def make_record(
    *,
    ts: int,
    call_id: int | None,
    payload: Mapping[str, Any] | None,
    signed: bool,
    decision: Mapping[str, Any] | None,
    rule: str | None,
    fallback: bool,
    status: int,
    latency_ms: float,
    outcome: str,
    error: str | None,
) -> dict[str, Any]:
    """One log record with exactly :data:`LOG_FIELDS`, in order."""
    if outcome not in LOG_OUTCOMES:
        raise ValueError(f"outcome {outcome!r} is not one of {', '.join(LOG_OUTCOMES)}")
    return {
        "v": ENDPOINT_LOG_VERSION,
        "ts": int(ts),
        "call_id": call_id,
        "payload": dict(payload) if payload is not None else None,
        "signed": bool(signed),
        "decision": dict(decision) if decision is not None else None,
        "rule": rule,
        "fallback": bool(fallback),
        "status": int(status),
        "latency_ms": round(float(latency_ms), 3),
        "outcome": outcome,
        "error": error,
    }


class EndpointLog:
    """Append-only JSONL log, safe to append from many threads.

    With ``path`` each record is appended (and flushed) to the file; the last
    ``keep`` records are also held in memory for :meth:`records`."""

    def __init__(self, path: str | Path | None = None, *, keep: int = 10_000) -> None:
        self.path = Path(path) if path is not None else None
        self._recent: deque[dict[str, Any]] = deque(maxlen=keep)
        self._lock = threading.Condition()
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)

    def append(self, record: Mapping[str, Any]) -> None:
        line = json.dumps(record, separators=(",", ":"), ensure_ascii=False) + "\n"
        with self._lock:
            if self.path is not None:
                with self.path.open("a", encoding="utf-8") as fh:
                    fh.write(line)
            self._recent.append(dict(record))
            self._lock.notify_all()

    def records(self) -> list[dict[str, Any]]:
        """The most recent records held in memory (oldest first)."""
        with self._lock:
            return list(self._recent)

    def wait_for_call(self, call_id: int, timeout_s: float = 10.0) -> dict[str, Any]:
        """The record of ``call_id``, waiting (up to ``timeout_s``) until it is logged.

        A request whose caller gave up (Dialpad's deadline) is logged only when the
        endpoint answers; this waits for that. ``TimeoutError`` if it never comes."""

        def find() -> dict[str, Any] | None:
            return next((r for r in reversed(self._recent) if r.get("call_id") == call_id), None)

        with self._lock:
            if not self._lock.wait_for(lambda: find() is not None, timeout_s):
                raise TimeoutError(f"no log record for call {call_id} within {timeout_s:g} s")
            return dict(find())  # type: ignore[arg-type]

    def __len__(self) -> int:
        with self._lock:
            return len(self._recent)

    def __repr__(self) -> str:
        return f"EndpointLog(path={str(self.path) if self.path else None!r}, records={len(self)})"


def read_log_records(path: str | Path) -> list[dict[str, Any]]:
    """Every record of a JSONL log file. A line that is not a JSON object raises
    ``ValueError`` naming the file and line number (nothing is skipped silently)."""
    out = []
    p = Path(path)
    with p.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{p}:{lineno}: not JSON ({exc.msg})") from None
            if not isinstance(rec, dict):
                raise ValueError(f"{p}:{lineno}: expected a JSON object, got {type(rec).__name__}")
            out.append(rec)
    return out


FRAME_COLUMNS: tuple[str, ...] = (
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
)


def endpoint_log_frame(source: str | Path | Iterable[Mapping[str, Any]] | EndpointLog) -> pd.DataFrame:
    """The log as a flat DataFrame (decision split into ``target_id``/``target_type``,
    ``time`` as a UTC datetime). Columns: :data:`FRAME_COLUMNS`."""
    if isinstance(source, EndpointLog):
        records = source.records()
    elif isinstance(source, (str, Path)):
        records = read_log_records(source)
    else:
        records = list(source)
    rows = []
    for r in records:
        d = r.get("decision") or {}
        rows.append(
            {
                "ts": r.get("ts"),
                "call_id": r.get("call_id"),
                "signed": r.get("signed"),
                "target_id": d.get("target_id"),
                "target_type": d.get("target_type"),
                "rule": r.get("rule"),
                "fallback": r.get("fallback"),
                "status": r.get("status"),
                "latency_ms": r.get("latency_ms"),
                "outcome": r.get("outcome"),
                "error": r.get("error"),
            }
        )
    df = pd.DataFrame(rows, columns=[c for c in FRAME_COLUMNS if c != "time"])
    df["ts"] = df["ts"].astype("Int64")
    df.insert(1, "time", pd.to_datetime(df["ts"], unit="ms", utc=True))
    df["call_id"] = df["call_id"].astype("Int64")
    df["target_id"] = df["target_id"].astype("Int64")
    df["status"] = df["status"].astype("Int64")
    df["latency_ms"] = df["latency_ms"].astype("float64")
    return df


SIDE_BY_SIDE_COLUMNS: tuple[str, ...] = (
    "call_id",
    "time",
    "caller",
    "dialled",
    "sandbox_outcome",
    "target",
    "is_default",
    "error_count",
    "disabled_after",
    "endpoint_outcome",
    "rule",
    "fallback",
    "endpoint_status",
)


def side_by_side(
    attempts: pd.DataFrame,
    log: str | Path | Iterable[Mapping[str, Any]] | EndpointLog | pd.DataFrame,
    *,
    name_of: Callable[[int, str], str] | None = None,
) -> pd.DataFrame:
    """What the sandbox did with each call beside what the endpoint logged for it.

    ``attempts`` is ``SandboxControl.attempts()``; ``log`` the endpoint's log (or
    :func:`endpoint_log_frame` of it). Joined on ``call_id``: a call that made no
    request (router disabled) or whose request never reached the endpoint has
    empty endpoint columns. ``name_of(id, type)`` names targets (e.g.
    ``client.targets().name_of``). Timing columns are left out so the table is
    stable from run to run. Columns: :data:`SIDE_BY_SIDE_COLUMNS`."""
    logged = log if isinstance(log, pd.DataFrame) else endpoint_log_frame(log)
    logged = logged.dropna(subset=["call_id"]).drop_duplicates("call_id", keep="first")
    right = logged[["call_id", "outcome", "rule", "fallback", "status"]].rename(
        columns={"outcome": "endpoint_outcome", "status": "endpoint_status"}
    )
    left = attempts[
        ["call_id", "time", "external_number", "internal_number", "outcome", "target_id", "target_type"]
        + ["is_default", "error_count", "disabled_after"]
    ].rename(
        columns={"external_number": "caller", "internal_number": "dialled", "outcome": "sandbox_outcome"}
    )
    out = left.merge(right, on="call_id", how="left")

    def target(row: Any) -> str:
        if pd.isna(row["target_id"]):
            return ""
        tid, ttype = int(row["target_id"]), str(row["target_type"])
        return name_of(tid, ttype) if name_of else f"{ttype} {tid}"

    out["target"] = out.apply(target, axis=1) if len(out) else pd.Series(dtype="string")
    out["fallback"] = out["fallback"].astype("boolean")
    return out[list(SIDE_BY_SIDE_COLUMNS)].reset_index(drop=True)
