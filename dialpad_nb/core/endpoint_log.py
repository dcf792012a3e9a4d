"""The endpoint kit's JSONL log record: its format, how it is made, and the one check of a read record.

The kit (:mod:`dialpad_nb.endpoint`) writes one record per request; replay
(``read_calls``), health (``read_endpoint_log``) and the log table (``read_log``) read
them through :func:`check_record`, so a record means the same thing to all three.

Record (version :data:`ENDPOINT_LOG_VERSION`)::

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

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import ValidationError

__all__ = [
    "ENDPOINT_LOG_VERSION",
    "LOG_FIELDS",
    "LOG_OUTCOMES",
    "BadLogRecord",
    "LogRecord",
    "check_record",
    "logged_error",
    "make_record",
]

ENDPOINT_LOG_VERSION = 1
"""Version of the endpoint kit's JSONL log record."""

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
        raise ValidationError(f"{outcome!r} is not one of {', '.join(LOG_OUTCOMES)}", field="outcome")
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


class BadLogRecord(ValueError):
    """A decoded line that is not a usable log record; ``kind`` groups it in the rejects."""

    def __init__(self, reason: str, *, kind: str = "bad record") -> None:
        self.kind = kind
        super().__init__(reason)


@dataclass(frozen=True)
class LogRecord:
    """A checked log record. ``payload`` is as written (None when the endpoint refused the
    request: ``outcome``/``status``/``error`` say why); ``raw`` is the whole record."""

    raw: Mapping[str, Any]
    payload: Any
    decision: tuple[int, str] | None
    rule: str | None
    signed: bool

    def get(self, key: str, default: Any = None) -> Any:
        return self.raw.get(key, default)


def check_record(obj: Any, *, need_payload: bool = False) -> LogRecord:
    """The one check of a decoded log line; :class:`BadLogRecord` naming the field otherwise.

    Checks, in this order, what every reader relies on: a JSON object of this version;
    with ``need_payload`` (replay reads requests), a payload (a record without one is a
    request the endpoint refused: kind ``logged error``); a ``decision`` that is null or
    a target (positive ``target_id``, non-empty ``target_type``); a ``rule`` that is text
    or null. ``signed`` is true only when written ``true``. Readers check the other
    fields they use themselves."""
    if not isinstance(obj, Mapping):
        raise BadLogRecord(f"not a JSON object (got {type(obj).__name__})", kind="bad JSON")
    if obj.get("v") != ENDPOINT_LOG_VERSION:
        raise BadLogRecord(
            f"unsupported endpoint log version {obj.get('v')!r} (expected {ENDPOINT_LOG_VERSION})"
        )
    payload = obj.get("payload")
    if payload is None and need_payload:
        raise BadLogRecord(logged_error(obj), kind="logged error")
    decision = obj.get("decision")
    target = None
    if decision is not None:
        tid = decision.get("target_id") if isinstance(decision, Mapping) else None
        ttype = decision.get("target_type") if isinstance(decision, Mapping) else None
        if not (isinstance(tid, int) and not isinstance(tid, bool) and 0 < tid < 2**63) or not (
            isinstance(ttype, str) and ttype
        ):
            raise BadLogRecord(f"decision {decision!r} is not a target")
        target = (tid, ttype)
    rule = obj.get("rule")
    if rule is not None and not isinstance(rule, str):
        raise BadLogRecord(f"rule {rule!r} is not text")
    return LogRecord(obj, payload, target, rule, obj.get("signed") is True)


def logged_error(rec: Mapping[str, Any]) -> str:
    """Why a record without a payload has none, in words (``endpoint logged unauthorized (HTTP 401): ...``)."""
    outcome, status, error = rec.get("outcome"), rec.get("status"), rec.get("error")
    text = f"endpoint logged {outcome or 'an error'}"
    if status is not None:
        text += f" (HTTP {status})"
    return text + (f": {error}" if error else ": no payload")
