"""Dialpad's call history in the sandbox: every dispatched call becomes a concluded ``CallProto``.

* :func:`record_call` is the dispatch hook (:class:`~dialpad_nb.sandbox.dispatch.Dispatcher`'s
  ``on_call``): inside the attempt's transaction it stores the call (``calls`` table) with one
  routing breadcrumb per routing request (none when the router was disabled), and queues one
  delivery per subscribed call state (:mod:`.delivery` sends them, never on dispatch's time);
* ``GET /api/v2/call`` (``call.list``): concluded calls, most recent first (``date_started``,
  then the order they were placed), filtered on ``started_after`` / ``started_before``
  (exclusive) and ``target_id`` + ``target_type`` (the entry point, i.e. the router, *or* the
  final target), paged with a cursor;
* ``GET /api/v2/call/{id}`` (``call.get_call_info``): one call, 404 naming the id.

Shapes: :mod:`dialpad_nb.core.history`. Names come from the company directory (routers from
the store), times from the sandbox clock; ring, answer and hang-up times are simulated from
the database's seed and the call id (assumption ``sandbox_calls_concluded``).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ..core.history import (
    CALL_STATES,
    GROUP_TARGET_TYPES,
    call_event,
    call_proto,
    contact,
    error_response,
    routing_breadcrumb,
    simulated_timeline,
)
from ..core.models import TARGET_TYPES
from .http import ErrorAnswer, path_id, query_id, sandbox_state

if TYPE_CHECKING:
    from ..core.models import RoutingRequest
    from ..core.protocol import RouteResult
    from .app import SandboxState
    from .store import SandboxStore

__all__ = ["call_json", "get_stored_call", "list_stored_calls", "record_call", "routes"]


# --------------------------------------------------------------------------- writing (the dispatch hook)

MAX_ANSWER_CHARS = 4096
"""A good answer longer than this (as JSON) is recorded as its decision only, so an endpoint
cannot bloat every call record."""


def _target_contact(state: SandboxState, target_id: int, target_type: str) -> dict[str, Any]:
    """The call's ``target``: named from the directory (a router from the store)."""
    if target_type == "callrouter":
        router = state.store.get_router(target_id)
        phone = (router or {}).get("phone_numbers") or [None]
        return contact(target_id, target_type, name=(router or {}).get("name"), phone=phone[0])
    entry = state.directory.find(target_id, target_type)
    phone = None
    if target_type == "office":
        office = next((o for o in state.company.offices if o["id"] == target_id), None)
        phone = ((office or {}).get("phone_numbers") or [None])[0]
    return contact(
        target_id,
        target_type,
        name=entry.name if entry is not None else None,
        phone=phone,
        email=entry.email if entry is not None else None,
    )


def record_call(
    state: SandboxState,
    *,
    router: Mapping[str, Any],
    record: Mapping[str, Any],
    request: RoutingRequest | None,
    result: RouteResult | None,
) -> None:
    """Store the concluded call of one dispatch attempt and queue its events (called by dispatch
    inside the attempt's transaction, so the attempt, the call and its deliveries commit together)."""
    store = state.store
    call_id, now = int(record["call_id"]), int(record["at_ms"])
    crumbs = []
    if request is not None:
        if result is not None and result.outcome == "ok":
            answer = result.answer
            response = result.decision.to_json()  # type: ignore[union-attr]
            if isinstance(answer, Mapping) and len(_dumps(answer)) <= MAX_ANSWER_CHARS:
                response = dict(answer)  # the endpoint's answer as it came (a huge one: just the decision)
        else:
            outcome = "connect_error" if result is None else result.outcome
            response = error_response(
                outcome,
                status=None if result is None else result.http_status,
                latency_ms=None if result is None else result.latency_ms,
            )
        crumbs.append(
            routing_breadcrumb(
                date=now,
                url=router["routing_url"],
                request=request.to_json(),
                response=response,
                target_id=int(record["target_id"]),
                target_type=record["target_type"],
            )
        )
    target = _target_contact(state, int(record["target_id"]), record["target_type"])
    entry = contact(router["id"], "callrouter", name=router["name"], phone=record["internal_number"])
    call = call_proto(
        call_id=call_id,
        date_started=now,
        timeline=simulated_timeline(store.seed, call_id, now),
        external_number=record["external_number"],
        internal_number=record["internal_number"],
        target=target,
        entry_point=entry,
        breadcrumbs=crumbs,
    )
    with store.transaction() as conn:
        conn.execute(
            "INSERT INTO calls(call_id, date_started, router_id, target_id, target_type, record)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (call_id, now, int(router["id"]), int(record["target_id"]), record["target_type"], _dumps(call)),
        )
        queued = _queue_events(state, conn, call, int(router["id"]), now)
    if queued:
        from .delivery import deliverer

        deliverer(state).wake()


def _queue_events(state: SandboxState, conn: Any, call: Mapping[str, Any], router_id: int, now: int) -> int:
    """One ``deliveries`` row per (matching subscription, subscribed state); the count."""
    target = call["target"]
    final = (int(target["id"]), target["type"])
    rows = conn.execute(
        "SELECT id, webhook_id, call_states, group_calls_only, target_id, target_type"
        " FROM call_subscriptions WHERE enabled = 1 ORDER BY seq"
    ).fetchall()
    count = 0
    for sub in rows:
        if sub["target_type"] is not None:
            wanted = (int(sub["target_id"]), sub["target_type"])
            if wanted != (router_id, "callrouter") and wanted != final:
                continue
        if sub["group_calls_only"] and final[1] not in GROUP_TARGET_TYPES:
            continue
        states = json.loads(sub["call_states"])
        for call_state in CALL_STATES:
            if "all" not in states and call_state not in states:
                continue
            event = call_json(state, call_event(call, call_state))
            conn.execute(
                "INSERT INTO deliveries(created_ms, subscription_id, webhook_id, call_id, state, event)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (now, sub["id"], sub["webhook_id"], call["call_id"], call_state, _dumps(event)),
            )
            count += 1
    return count


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


# --------------------------------------------------------------------------- reading


def call_json(state: SandboxState, call: Mapping[str, Any]) -> dict[str, Any]:
    """A stored call as the API emits it (``call_id`` and breadcrumb ``target_id`` as strings
    with ``id_format="string"``; contact ids are always strings, as in the spec)."""
    out = dict(call)
    if state.id_format == "int":
        return out
    out["call_id"] = state.out_id(out.get("call_id"))
    out["routing_breadcrumbs"] = [
        {**b, "target_id": state.out_id(b.get("target_id"))} for b in out.get("routing_breadcrumbs") or ()
    ]
    return out


def get_stored_call(store: SandboxStore, call_id: int) -> dict[str, Any] | None:
    with store.transaction() as conn:
        row = conn.execute("SELECT record FROM calls WHERE call_id = ?", (int(call_id),)).fetchone()
    return None if row is None else json.loads(row[0])


def list_stored_calls(
    store: SandboxStore,
    *,
    started_after: int | None = None,
    started_before: int | None = None,
    target: tuple[int, str] | None = None,
    before: tuple[int, int] | None = None,
    limit: int = 20,
) -> list[dict[str, Any]]:
    """Stored calls, most recent first: ``{"seq", "date_started", "record"}`` rows (record as JSON
    text). ``before`` is the keyset position ``(date_started, seq)`` to continue after."""
    # Each branch walks one index backwards from the cursor and stops at ``limit`` rows, so a page
    # costs the same on the first page and the thousandth (an OR across indexes would sort them all).
    common = ""
    common_args: list[Any] = []
    if started_after is not None:
        common += " AND date_started > ?"
        common_args.append(int(started_after))
    if started_before is not None:
        common += " AND date_started < ?"
        common_args.append(int(started_before))
    if before is not None:
        common += " AND (date_started, seq) < (?, ?)"
        common_args += [before[0], before[1]]
    if target is None:
        branches: list[tuple[str, list[Any]]] = [("1 = 1", [])]
    elif target[1] == "callrouter":  # came in through the router, or was routed to it
        branches = [
            ("router_id = ?", [target[0]]),
            ("target_type = 'callrouter' AND target_id = ?", [target[0]]),
        ]
    else:
        branches = [("target_type = ? AND target_id = ?", [target[1], target[0]])]
    order = " ORDER BY date_started DESC, seq DESC LIMIT ?"
    parts, args = [], []
    for where, where_args in branches:
        parts.append(
            f"SELECT * FROM (SELECT seq, date_started, record FROM calls WHERE {where}{common}{order})"
        )
        args += [*where_args, *common_args, int(limit)]
    sql = " UNION ".join(parts) + order if len(parts) > 1 else parts[0]
    if len(parts) > 1:
        args.append(int(limit))
    with store.transaction() as conn:
        return [dict(r) for r in conn.execute(sql, args).fetchall()]


# --------------------------------------------------------------------------- routes

_CURSOR_KIND = "call"


def _encode(position: tuple[int, int]) -> str:
    text = f"{_CURSOR_KIND}:{position[0]}:{position[1]}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _decode(cursor: str | None) -> tuple[int, int] | None:
    if cursor in (None, ""):
        return None
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, started, seq = text.split(":")
        if kind == _CURSOR_KIND and started.isdigit() and seq.isdigit():
            return int(started), int(seq)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise ErrorAnswer(400, f"cursor: {cursor!r} is not a cursor of this call list")


def _query_ms(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return None
    text = raw.strip()
    if not (text.isdigit() and text.isascii()) or int(text) > 253_402_300_799_999:
        raise ErrorAnswer(400, f"{name}: {raw!r} is not a time in ms since the epoch (UTC)")
    return int(text)


def _query_target(request: Request) -> tuple[int, str] | None:
    target_type = request.query_params.get("target_type") or None
    target_id = query_id(request, "target_id")
    if target_type is None and target_id is None:
        return None
    if target_type is None or target_id is None:
        raise ErrorAnswer(400, "target_id and target_type: give both (a router: target_type=callrouter)")
    if target_type not in TARGET_TYPES:
        raise ErrorAnswer(
            400,
            f"target_type: {target_type!r} is not a target type; expected one of {', '.join(TARGET_TYPES)}",
        )
    return target_id, target_type


async def list_calls(request: Request) -> JSONResponse:
    """``GET /api/v2/call``: concluded calls, most recent first, cursor-paged."""
    state = sandbox_state(request)
    before = _decode(request.query_params.get("cursor"))
    rows = list_stored_calls(
        state.store,
        started_after=_query_ms(request, "started_after"),
        started_before=_query_ms(request, "started_before"),
        target=_query_target(request),
        before=before,
        limit=state.page_size + 1,
    )
    page = rows[: state.page_size]
    body: dict[str, Any] = {"items": [call_json(state, json.loads(r["record"])) for r in page]}
    if len(rows) > state.page_size:
        body["cursor"] = _encode((page[-1]["date_started"], page[-1]["seq"]))
    return JSONResponse(body)


async def get_call(request: Request) -> JSONResponse:
    """``GET /api/v2/call/{id}``: one call; 404 naming the id."""
    state = sandbox_state(request)
    call_id = path_id(request, "call")
    call = get_stored_call(state.store, call_id)
    if call is None:
        raise ErrorAnswer(404, f"no call with id {call_id}")
    return JSONResponse(call_json(state, call))


routes: list[Route] = [
    Route("/api/v2/call", list_calls, methods=["GET"]),
    Route("/api/v2/call/{id}", get_call, methods=["GET"]),
]
"""The call-history routes, mounted by :func:`~dialpad_nb.sandbox.app.create_app`."""
