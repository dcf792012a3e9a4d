"""Dialpad's call record (``CallProto``) and its routing breadcrumbs: one definition for both sides.

The sandbox writes calls with these helpers (:mod:`dialpad_nb.sandbox.history`); the readers
(``read_calls`` for replay, :func:`dialpad_nb.health.from_dialpad_calls` for health) check them
with :func:`check_call` and classify a breadcrumb with :func:`routing_verdict`, so a record
means the same thing whoever reads it. Shapes: ``shared/dialpad/openapi-calls-events.json``;
what they mean: ``shared/dialpad/BEHAVIOUR.md`` ("Call history", "Call events"); the
assumptions we made where Dialpad is silent: :data:`dialpad_nb.core.policy.ASSUMPTIONS`
(keys ``breadcrumb_*``, ``no_breadcrumb_disabled``).

A routed call, as this module builds and reads it::

    {"call_id": 7000000000000001, "date_started": <ms>, "date_rang": <ms>,
     "date_connected": <ms>, "date_ended": <ms>, "duration": <ms>, "total_duration": <ms>,
     "direction": "inbound", "state": "hangup", "event_timestamp": <ms>,
     "external_number": "+1...", "internal_number": "+1...",
     "contact": {"id": null, "type": null, "name": "+1...", "phone": "+1...", "email": null},
     "target": {"id": "5002000000000202", "type": "callcenter", "name": "Support Tier 1", ...},
     "entry_point_target": {"id": "<router id>", "type": "callrouter", "name": "<router name>",
                            "phone": "<number dialled>", "email": null},
     "routing_breadcrumbs": [
         {"breadcrumb_type": "callrouter", "date": <ms>, "url": "<routing_url then>",
          "request": {<the six routing-request fields>},
          "response": {<the endpoint's JSON answer>}
                      | {"error": "timeout|connect_error|http_status|invalid_body|unknown_target",
                         "status": <int|null>, "latency_ms": <int|null>},
          "target_id": <int>, "target_type": "<type>"}]}

Contact objects carry ``id`` as a *string* (the spec's ``CallContactProto``); ``call_id``,
times and breadcrumb ``target_id`` are integers (strings are accepted when read).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "BREADCRUMB_ERRORS",
    "CALL_STATES",
    "EVENT_STATES",
    "GROUP_TARGET_TYPES",
    "OUTCOME_OF_ERROR",
    "BadCallRecord",
    "RoutedCall",
    "RoutingVerdict",
    "call_event",
    "call_proto",
    "check_call",
    "contact",
    "error_response",
    "is_call_record",
    "routing_breadcrumb",
    "routing_verdict",
    "simulated_timeline",
]

CALL_STATES: tuple[str, ...] = ("calling", "ringing", "connected", "hangup")
"""The states the sandbox emits for every call, in the order they happen."""

EVENT_STATES: tuple[str, ...] = (
    "admin",
    "admin_recording",
    "ai_playbook",
    "all",
    "barge",
    "blocked",
    "call_transcription",
    "calling",
    "connected",
    "csat",
    "dispositions",
    "eavesdrop",
    "hangup",
    "hold",
    "merged",
    "missed",
    "monitor",
    "parked",
    "pcsat",
    "postcall",
    "preanswer",
    "queued",
    "recap_action_items",
    "recap_outcome",
    "recap_purposes",
    "recap_summary",
    "recording",
    "ringing",
    "takeover",
    "transcription",
    "voicemail",
    "voicemail_uploaded",
)
"""Dialpad's ``call_states`` enum of a call-event subscription (``all`` = every state)."""

GROUP_TARGET_TYPES: frozenset[str] = frozenset({"office", "department", "callcenter"})
"""Targets whose calls are "group calls" (a subscription's ``group_calls_only``; assumption
``group_calls_only``)."""

BREADCRUMB_ERRORS: dict[str, str] = {
    "timeout": "timeout",
    "connect_error": "connect_error",
    "http_status": "http_status",
    "invalid_response": "invalid_body",
    "unknown_target": "unknown_target",
}
"""Attempt outcome (``policy.OUTCOMES``) -> the ``error`` a breadcrumb's response carries."""

OUTCOME_OF_ERROR: dict[str, str] = {v: k for k, v in BREADCRUMB_ERRORS.items()}
"""A breadcrumb response's ``error`` -> the attempt outcome."""

_CALL_ONLY_KEYS = frozenset(
    {"routing_breadcrumbs", "entry_point_target", "date_ended", "date_rang", "date_connected", "direction"}
)


# --------------------------------------------------------------------------- writing


def contact(
    target_id: Any = None,
    target_type: str | None = None,
    *,
    name: str | None = None,
    phone: str | None = None,
    email: str | None = None,
) -> dict[str, Any]:
    """A ``CallContactProto`` (``id`` is text, as in the spec)."""
    return {
        "id": None if target_id is None else str(target_id),
        "type": target_type,
        "name": name,
        "phone": phone,
        "email": email,
    }


def error_response(outcome: str, *, status: int | None, latency_ms: float | None) -> dict[str, Any]:
    """The breadcrumb ``response`` of a failed routing request (assumption ``breadcrumb_error``)."""
    return {
        "error": BREADCRUMB_ERRORS[outcome],
        "status": status,
        "latency_ms": None if latency_ms is None else int(round(latency_ms)),
    }


def routing_breadcrumb(
    *,
    date: int,
    url: str,
    request: Mapping[str, Any],
    response: Mapping[str, Any],
    target_id: int,
    target_type: str,
) -> dict[str, Any]:
    """One ``ApiCallRouterBreadcrumb``: the request Dialpad sent, the answer, the target used."""
    return {
        "breadcrumb_type": "callrouter",
        "date": int(date),
        "url": url,
        "request": dict(request),
        "response": dict(response),
        "target_id": int(target_id),
        "target_type": target_type,
    }


def simulated_timeline(seed: int, call_id: int, date_started: int) -> dict[str, int]:
    """Deterministic times of a sandbox call (the same for the same seed and call id, whatever
    order calls are placed in): ringing 0.2-1.5 s after it started, answered 2-20 s later,
    20 s to 10 min of talk."""
    digest = hashlib.blake2b(f"dialpad_nb-call:{seed}:{call_id}".encode(), digest_size=12).digest()
    a, b, c = (int.from_bytes(digest[i : i + 4], "big") / 2**32 for i in (0, 4, 8))
    rang = date_started + 200 + int(a * 1_300)
    connected = rang + 2_000 + int(b * 18_000)
    ended = connected + 20_000 + int(c * 580_000)
    return {"date_rang": rang, "date_connected": connected, "date_ended": ended}


def call_proto(
    *,
    call_id: int,
    date_started: int,
    timeline: Mapping[str, int],
    external_number: str,
    internal_number: str,
    target: Mapping[str, Any],
    entry_point: Mapping[str, Any],
    breadcrumbs: Sequence[Mapping[str, Any]],
) -> dict[str, Any]:
    """A concluded inbound call (state ``hangup``) as ``call.list`` returns it."""
    rang, connected, ended = timeline["date_rang"], timeline["date_connected"], timeline["date_ended"]
    return {
        "call_id": int(call_id),
        "date_started": int(date_started),
        "date_rang": rang,
        "date_connected": connected,
        "date_ended": ended,
        "duration": float(ended - connected),
        "total_duration": float(ended - date_started),
        "direction": "inbound",
        "state": "hangup",
        "event_timestamp": ended,
        "external_number": external_number,
        "internal_number": internal_number,
        "contact": contact(name=external_number, phone=external_number),
        "target": dict(target),
        "entry_point_target": dict(entry_point),
        "entry_point_call_id": None,
        "group_id": None,
        "is_transferred": False,
        "was_recorded": False,
        "labels": [],
        "routing_breadcrumbs": [dict(b) for b in breadcrumbs],
    }


_LATER = {
    "calling": ("date_rang", "date_connected", "date_ended", "duration", "total_duration"),
    "ringing": ("date_connected", "date_ended", "duration", "total_duration"),
    "connected": ("date_ended", "duration", "total_duration"),
    "hangup": (),
}
_AT = {
    "calling": "date_started",
    "ringing": "date_rang",
    "connected": "date_connected",
    "hangup": "date_ended",
}


def call_event(call: Mapping[str, Any], state: str) -> dict[str, Any]:
    """The event Dialpad POSTs when ``call`` reaches ``state`` (one of :data:`CALL_STATES`): the
    call with ``state``, ``event_timestamp`` and only the times reached by then."""
    out = dict(call)
    for key in _LATER[state]:
        out[key] = None
    out["state"] = state
    out["event_timestamp"] = call[_AT[state]]
    return out


# --------------------------------------------------------------------------- reading


class BadCallRecord(ValueError):
    """A record that cannot be used as a routed call; ``kind`` groups it in the rejects
    (``bad record``, ``not routed``, ...). The message is the reason, naming the field."""

    def __init__(self, reason: str, *, kind: str = "bad record") -> None:
        self.kind = kind
        super().__init__(reason)


@dataclass(frozen=True)
class RoutedCall:
    """A checked call record. ``breadcrumb`` is its first call-router breadcrumb (None when no
    request was made); ``target`` what Dialpad used (the breadcrumb's, else the call's)."""

    raw: Mapping[str, Any]
    call_id: int
    date_started: int
    router_id: int | None
    router_name: str | None
    breadcrumb: Mapping[str, Any] | None
    target: tuple[int, str] | None
    state: str | None
    event_timestamp: int | None

    @property
    def request(self) -> Any:
        """The routing request the breadcrumb recorded (None without a breadcrumb)."""
        return None if self.breadcrumb is None else self.breadcrumb.get("request")


def is_call_record(obj: Any) -> bool:
    """Whether a decoded JSON value looks like a ``CallProto``: it has a key only a call record
    has (a routing request or an endpoint-log record never does), even if ``call_id`` is missing
    (then it is a call record to reject, not a routing request)."""
    return isinstance(obj, Mapping) and not _CALL_ONLY_KEYS.isdisjoint(obj)


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit() and value.strip().isascii():
        return int(value.strip())
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _id(value: Any, field: str) -> int:
    out = _int(value)
    if out is None or not 0 < out < 2**63:
        raise BadCallRecord(f"{field} {value!r} is not an integer id")
    return out


def _time(value: Any, field: str) -> int:
    out = _int(value)
    if out is None or not 0 <= out <= 253_402_300_799_999:
        raise BadCallRecord(f"{field} {value!r} is not milliseconds since the epoch (years 1970-9999)")
    return out


def _target(obj: Any, id_key: str, type_key: str, where: str) -> tuple[int, str] | None:
    if not isinstance(obj, Mapping):
        return None
    tid, ttype = obj.get(id_key), obj.get(type_key)
    if tid in (None, "") and ttype in (None, ""):
        return None
    if not isinstance(ttype, str) or not ttype:
        raise BadCallRecord(f"{where}.{type_key} {ttype!r} is not a target type")
    return _id(tid, f"{where}.{id_key}"), ttype


def check_call(obj: Any) -> RoutedCall:
    """The one check of a call record; :class:`BadCallRecord` naming the field otherwise.

    A call came through a router when its ``entry_point_target`` is a ``callrouter`` or it has
    a call-router breadcrumb; any other call is refused with kind ``not routed``."""
    if not isinstance(obj, Mapping):
        raise BadCallRecord(f"not a JSON object (got {type(obj).__name__})", kind="bad JSON")
    if obj.get("call_id") in (None, ""):
        raise BadCallRecord("call_id is required")
    call_id = _id(obj["call_id"], "call_id")
    if obj.get("date_started") in (None, ""):
        raise BadCallRecord("date_started is required")
    started = _time(obj["date_started"], "date_started")
    entry = obj.get("entry_point_target")
    if entry is not None and not isinstance(entry, Mapping):
        raise BadCallRecord(f"entry_point_target {entry!r} is not an object")
    router_id = router_name = None
    if entry is not None and entry.get("type") == "callrouter":
        router_id = _id(entry.get("id"), "entry_point_target.id")
        name = entry.get("name")
        router_name = name if isinstance(name, str) and name else None
    crumbs = obj.get("routing_breadcrumbs")
    if crumbs is not None and not isinstance(crumbs, list):
        raise BadCallRecord(f"routing_breadcrumbs {type(crumbs).__name__} is not a list")
    breadcrumb = None
    where = "routing_breadcrumbs"
    for i, crumb in enumerate(crumbs or ()):
        if not isinstance(crumb, Mapping):
            raise BadCallRecord(f"routing_breadcrumbs[{i}] is not an object")
        if crumb.get("breadcrumb_type") in (None, "callrouter"):
            breadcrumb, where = crumb, f"routing_breadcrumbs[{i}]"
            if crumb.get("date") is not None:
                _time(crumb["date"], f"routing_breadcrumbs[{i}].date")
            break
    if router_id is None and breadcrumb is None:
        kind = entry.get("type") if isinstance(entry, Mapping) else None
        came = f"its entry point is a {kind}" if kind else "it has no entry point"
        raise BadCallRecord(
            f"call {call_id} did not come through a call router ({came} and no routing breadcrumb)",
            kind="not routed",
        )
    target = None
    if breadcrumb is not None:
        target = _target(breadcrumb, "target_id", "target_type", where)
    if target is None:
        target = _target(obj.get("target"), "id", "type", "target")
    state = obj.get("state") if isinstance(obj.get("state"), str) else None
    stamp = obj.get("event_timestamp")
    return RoutedCall(
        raw=obj,
        call_id=call_id,
        date_started=started,
        router_id=router_id,
        router_name=router_name,
        breadcrumb=breadcrumb,
        target=target,
        state=state,
        event_timestamp=None if stamp is None else _int(stamp),
    )


@dataclass(frozen=True)
class RoutingVerdict:
    """What a breadcrumb says about the routing request (assumptions ``breadcrumb_*``)."""

    outcome: str
    """``ok``, an error outcome (``timeout``, ``http_status``, ...) or ``skipped_disabled``."""
    http_status: int | None
    latency_ms: float | None


def routing_verdict(call: RoutedCall) -> RoutingVerdict:
    """``ok`` / the error / ``skipped_disabled`` of one checked call (assumptions
    ``breadcrumb_error``, ``breadcrumb_unknown_error``, ``breadcrumb_latency``,
    ``no_breadcrumb_disabled``). :class:`BadCallRecord` when the breadcrumb has no response."""
    crumb = call.breadcrumb
    if crumb is None:
        return RoutingVerdict("skipped_disabled", None, None)
    response = crumb.get("response")
    if not isinstance(response, Mapping):
        raise BadCallRecord(
            f"routing breadcrumb of call {call.call_id} has no response object: cannot tell whether "
            "the request failed"
        )
    error = response.get("error")
    if error is None:
        return RoutingVerdict("ok", None, None)
    status = _int(response.get("status"))
    latency = response.get("latency_ms")
    latency_ms = (
        float(latency)
        if isinstance(latency, (int, float)) and not isinstance(latency, bool) and latency >= 0
        else None
    )
    outcome = OUTCOME_OF_ERROR.get(error) if isinstance(error, str) else None
    if outcome is None:  # an error we do not know still counts (assumption breadcrumb_unknown_error)
        outcome = "http_status" if status is not None and not 200 <= status < 300 else "invalid_response"
    return RoutingVerdict(outcome, status, latency_ms)
