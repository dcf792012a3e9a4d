"""Attempts from Dialpad's own record: call history or call events -> the attempts frame.

:func:`from_dialpad_calls` reads the same sources as ``read_calls`` does for call history
(:mod:`dialpad_nb.calls.history`: the ``client.calls()`` frame, ``CallProto`` JSON/JSONL,
saved ``call.list`` pages, the event receiver's log or its records) and maps each call that
came in through a router to one attempt (``health.ATTEMPT_COLUMNS``), so the window
analytics, forecast, what-if and charts work on a live router unchanged.

The mapping (assumptions in ``core.policy.ASSUMPTIONS``, the one place):

================  ==========================================================================
attempt column    from the call record
================  ==========================================================================
time              ``date_started``
call_id           ``call_id``
router_id         ``entry_point_target.id`` when it is a ``callrouter``
outcome           the first call-router breadcrumb: ``ok`` unless its ``response`` has
                  ``error`` (``breadcrumb_error``): ``timeout``, ``connect_error``,
                  ``http_status``, ``invalid_body`` → ``invalid_response``,
                  ``unknown_target``; an unknown name → ``http_status`` if its status is not
                  2xx, else ``invalid_response`` (``breadcrumb_unknown_error``). No
                  breadcrumb → ``skipped_disabled`` (``no_breadcrumb_disabled``)
latency_ms        the error response's ``latency_ms``; NaN otherwise: Dialpad records no
                  latency for a good answer (``breadcrumb_latency``)
http_status       the error response's ``status``; empty for a good answer
target_id/_type   the breadcrumb's target (what Dialpad used), else the call's ``target``
is_default        True for errors and skipped calls (the default target, by Dialpad's rule);
                  unknown (empty) for a good answer
error_count       empty: Dialpad's record does not carry the count (``simulate`` computes it)
source            ``dialpad_calls``
================  ==========================================================================

A call that did not come through a router, a malformed record, or a breadcrumb without a
response (nothing says whether the request failed) is a reject with its line and reason;
accepted + rejected = records.
"""

from __future__ import annotations

from typing import Any

from ..calls.history import iter_call_records
from ..core.frames import RAW_LIMIT, ReadResult, rejects_frame
from ..core.history import BadCallRecord, RoutedCall, routing_verdict
from ..core.policy import ERROR_OUTCOMES
from .attempts import attempts_from_records

__all__ = ["from_dialpad_calls"]

SOURCE = "dialpad_calls"


def _attempt(call: RoutedCall) -> dict[str, Any]:
    verdict = routing_verdict(call)
    target = call.target
    error_or_skip = verdict.outcome in ERROR_OUTCOMES or verdict.outcome == "skipped_disabled"
    return {
        "time": call.date_started,
        "call_id": call.call_id,
        "router_id": call.router_id,
        "latency_ms": verdict.latency_ms,
        "outcome": verdict.outcome,
        "http_status": verdict.http_status,
        "target_id": None if target is None else target[0],
        "target_type": None if target is None else target[1],
        "is_default": True if error_or_skip else None,
        "error_count": None,
    }


def from_dialpad_calls(source: Any, *, router_id: int | None = None) -> ReadResult:
    """Attempts (``ATTEMPT_COLUMNS``, sorted by time) from Dialpad's call history or call events.

    ``source``: ``client.calls(...)``, a list of call records / pages / receiver records, a
    ``ReceiverLog``, or a file of them. ``router_id``: keep only the calls that came in through
    this router (the others are not records of it and are not counted). See the module
    docstring for the mapping; ``simulate(attempts)`` then recomputes the error window."""
    label, items = iter_call_records(source)
    good: list[dict[str, Any]] = []
    bad: list[tuple[int, str, str, str]] = []
    seen: dict[int, str] = {}
    for item in items:
        call = item.call
        if isinstance(call, RoutedCall) and router_id is not None and call.router_id != router_id:
            continue
        try:
            if isinstance(call, BadCallRecord):
                raise call
            if call.call_id in seen:
                raise BadCallRecord(
                    f"duplicate call_id {call.call_id} (first at {seen[call.call_id]})", kind="duplicate"
                )
            row = _attempt(call)
        except BadCallRecord as exc:
            bad.append((item.line, item.raw[:RAW_LIMIT], f"{item.where}: {exc}", exc.kind))
            continue
        seen[call.call_id] = item.where
        good.append(row)
    files = (label,) if label not in ("records", "receiver log", "call.list", "calls frame") else ()
    return ReadResult(
        attempts_from_records(good, source=SOURCE), rejects_frame(bad, label), files=files, what="attempts"
    )
