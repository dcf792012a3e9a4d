"""The event receiver's JSONL log record: its format, how it is made, and the one check of a read record.

The receiver kit (:mod:`dialpad_nb.endpoint.receiver`) writes one record per call event it
accepts, and one per request it refuses; ``read_calls`` and
:func:`dialpad_nb.health.from_dialpad_calls` read them through :func:`check_event_record`.

Record (version :data:`EVENT_LOG_VERSION`)::

    {"kind": "call_event", "v": 1,
     "ts": <ms since epoch when the event was received, from the receiver's clock>,
     "call_id": <int | null>, "state": <str | null>, "event_timestamp": <int | null>,
     "signed": <bool: the event came as a verified JWT>,
     "outcome": "ok" | "unauthorized" | "bad_request",
     "error": <str | null: why it was refused>,
     "event": <the CallProto event | null when refused>}

``kind`` comes first so a receiver log is never mistaken for the routing endpoint's log
(whose records start with ``"v"``). Repeats of ``(call_id, state)`` are not written (the
receiver counts them). The secret and the raw token are never written.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .history import BadCallRecord

__all__ = [
    "EVENT_LOG_KIND",
    "EVENT_LOG_OUTCOMES",
    "EVENT_LOG_VERSION",
    "check_event_record",
    "is_event_record",
    "make_event_record",
]

EVENT_LOG_KIND = "call_event"
EVENT_LOG_VERSION = 1
EVENT_LOG_OUTCOMES: tuple[str, ...] = ("ok", "unauthorized", "bad_request")


def make_event_record(
    *,
    ts: int,
    event: Mapping[str, Any] | None,
    signed: bool,
    outcome: str,
    error: str | None = None,
    call_id: int | None = None,
    state: str | None = None,
) -> dict[str, Any]:
    """One receiver log record (keys in the documented order)."""
    if event is not None:
        call_id = event.get("call_id") if call_id is None else call_id
        state = event.get("state") if state is None else state
    return {
        "kind": EVENT_LOG_KIND,
        "v": EVENT_LOG_VERSION,
        "ts": int(ts),
        "call_id": call_id,
        "state": state,
        "event_timestamp": None if event is None else event.get("event_timestamp"),
        "signed": bool(signed),
        "outcome": outcome,
        "error": error,
        "event": None if event is None else dict(event),
    }


def is_event_record(obj: Any) -> bool:
    """Whether a decoded JSON value is a receiver log record (of any version)."""
    return isinstance(obj, Mapping) and obj.get("kind") == EVENT_LOG_KIND


def check_event_record(obj: Any) -> Mapping[str, Any]:
    """The event (a ``CallProto``) a receiver log record holds; :class:`BadCallRecord` otherwise
    (kind ``logged error`` for a request the receiver refused)."""
    if not is_event_record(obj):
        raise BadCallRecord("not a receiver log record")
    if obj.get("v") != EVENT_LOG_VERSION:
        raise BadCallRecord(
            f"unsupported receiver log version {obj.get('v')!r} (expected {EVENT_LOG_VERSION})"
        )
    event = obj.get("event")
    if event is None:
        outcome, error = obj.get("outcome"), obj.get("error")
        raise BadCallRecord(
            f"receiver logged {outcome or 'an error'}: {error or 'no event'}", kind="logged error"
        )
    if not isinstance(event, Mapping):
        raise BadCallRecord(f"event {type(event).__name__} is not an object")
    return event
