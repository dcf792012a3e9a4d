"""The sandbox's own control API, mounted at ``/sandbox/v1`` beside Dialpad's ``/api/v2``.

Same bearer key, never mixed with Dialpad's routes. Sandbox-only insights and levers:

* ``GET/POST /clock`` — the simulated clock (``{"now"}`` or ``{"advance_seconds"}``);
* ``POST /calls`` ``{"to", "from", "at"?, "call_id"?}`` → one attempt record
  (:data:`~dialpad_nb.core.protocol.ATTEMPT_KEYS`); ``{"calls": [...], "concurrency"?}``,
  a bare list, or ``POST /calls:batch`` → the records in order (validated first: one bad
  call places none). 400 names the field (``calls[3].to``), 404 when ``to`` is not a
  router's number. ``at`` (ms or ISO) moves the simulated clock forward; an ``at``
  earlier than the clock's now is a 400 (the clock is monotonic; no clamping);
* ``GET /attempts?router_id=&cursor=&limit=`` → ``{"items", "cursor"?}`` (oldest first);
* ``GET /outbox?router_id=`` → ``{"items": [{"id", "at", "router_id", "to", "subject", "body"}]}``;
* ``GET /routers/{id}/errors`` → ``{"router_id", "error_count", "window_s", "threshold",
  "enabled", "error_times"}`` (errors inside the window now).

Ids in these sandbox-only bodies are always JSON integers (``id_format`` applies to
Dialpad's ``/api/v2`` only).

``routes`` is the list mounted by :func:`~dialpad_nb.sandbox.app.create_app`
(paths here are relative to ``/sandbox/v1``). Use the helpers of
:mod:`dialpad_nb.sandbox.http` (``ErrorAnswer``, ``read_json``, ``sandbox_state``,
``encode_cursor``/``decode_cursor``) so errors and paging look the same everywhere.
"""

from __future__ import annotations

import functools
import threading
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ..core.clock import SimulatedClock, ms_to_datetime, to_ms
from ..core.errors import ValidationError
from ..core.models import parse_id
from .delivery import dispatch_activity
from .dispatch import Dispatcher, NumberNotAssigned, attempt_json
from .history import record_call
from .http import ErrorAnswer, decode_cursor, encode_cursor, read_json, read_object, sandbox_state

__all__ = ["routes"]


def clock_json(now_ms: int, *, simulated: bool) -> dict[str, Any]:
    return {"now": now_ms, "iso": ms_to_datetime(now_ms).isoformat(), "simulated": simulated}


async def get_clock(request: Request) -> JSONResponse:
    """``GET /sandbox/v1/clock`` → ``{"now": ms, "iso": ..., "simulated": bool}``."""
    state = sandbox_state(request)
    return JSONResponse(clock_json(state.now_ms(), simulated=state.simulated))


async def set_clock(request: Request) -> JSONResponse:
    """``POST /sandbox/v1/clock`` with ``{"now": ms | ISO}`` or ``{"advance_seconds": n}``.

    Simulated clock only; never backwards (400 otherwise)."""
    state = sandbox_state(request)
    data = read_object(await read_json(request), ("now", "advance_seconds"))
    clock = state.clock
    if not isinstance(clock, SimulatedClock):
        raise ErrorAnswer(400, "the sandbox runs on the system clock; only a simulated clock can be set")
    if len(data) != 1:
        raise ErrorAnswer(400, "give exactly one of 'now' (ms since epoch or ISO time) or 'advance_seconds'")
    try:
        # the clock refuses times outside the years 1970-9999 (ValidationError naming the field)
        now = (
            clock.set(to_ms(data["now"], field="now"))
            if "now" in data
            else clock.advance(data["advance_seconds"])
        )
    except ValidationError as exc:
        raise ErrorAnswer(400, str(exc)) from None
    state.store.note_time(now)
    return JSONResponse(clock_json(now, simulated=True))


# --------------------------------------------------------------------------- calls (dispatch)

_DISPATCHER_KEY = "dispatcher"
_dispatcher_guard = threading.Lock()
CALL_FIELDS = ("to", "from", "at", "call_id")
MAX_ATTEMPTS_PAGE = 1000


def dispatcher(state: Any) -> Dispatcher:
    """The sandbox's :class:`Dispatcher`, made on first use (closed at the app's shutdown)."""
    with _dispatcher_guard:
        d = state.extras.get(_DISPATCHER_KEY)
        if d is None:
            d = Dispatcher(
                state.store,
                state.clock,
                policy=state.policy,
                deadline_s=state.routing_deadline_s,
                transport=state.transport,
                directory=state.directory,
                allow_remote_routing=state.allow_remote_routing,
                on_call=functools.partial(record_call, state),
            )
            state.extras[_DISPATCHER_KEY] = d
            state.exit_stack.callback(d.close)
        return d


async def _dispatch(state: Any, fn, *args, **kwargs) -> Any:
    """Run a (blocking) dispatch call in a worker thread; map its refusals to API errors.
    Event delivery gives way while it runs (:class:`~dialpad_nb.sandbox.delivery.DispatchActivity`)."""
    try:
        with dispatch_activity(state):
            return await run_in_threadpool(fn, *args, **kwargs)
    except ValidationError as exc:
        raise ErrorAnswer(400, str(exc)) from None
    except NumberNotAssigned as exc:
        raise ErrorAnswer(404, str(exc)) from None


async def place_calls(request: Request) -> JSONResponse:
    """``POST /sandbox/v1/calls`` ``{"to", "from", "at"?, "call_id"?}`` → the attempt record;
    ``{"calls": [...], "concurrency"?: n}`` (or ``POST /calls:batch``) → the records, in order.

    400 names the bad field (``calls[i].to``...), 404 if ``to`` is not a router's number.
    ``at`` (ms or ISO) moves the simulated clock forward; earlier than now is a 400."""
    state = sandbox_state(request)
    body = await read_json(request)
    d = dispatcher(state)
    batch = (
        request.url.path.endswith(":batch")
        or isinstance(body, list)
        or (isinstance(body, dict) and "calls" in body)
    )
    if not batch:
        call = read_object(body, CALL_FIELDS)
        return JSONResponse(
            await _dispatch(
                state,
                d.place_call,
                call.get("to"),
                call.get("from"),
                at=call.get("at"),
                call_id=call.get("call_id"),
            )
        )
    if isinstance(body, list):
        body = {"calls": body}
    data = read_object(body, ("calls", "concurrency"))
    calls = data.get("calls")
    if not isinstance(calls, list):
        raise ErrorAnswer(400, "calls: must be a list of {to, from, at?, call_id?} objects")
    for i, c in enumerate(calls):
        read_object(c, CALL_FIELDS, what=f"calls[{i}]")
    concurrency = data.get("concurrency", 1)
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or not 1 <= concurrency <= 64:
        raise ErrorAnswer(400, f"concurrency: must be an integer from 1 to 64, got {concurrency!r}")
    return JSONResponse(await _dispatch(state, d.place_calls, calls, concurrency=concurrency))


async def list_attempts(request: Request) -> JSONResponse:
    """``GET /sandbox/v1/attempts?router_id=&cursor=&limit=`` → ``{"items", "cursor"?}`` in order."""
    state = sandbox_state(request)
    q = request.query_params
    try:
        router_id = parse_id(q["router_id"], field="router_id") if q.get("router_id") else None
    except ValidationError as exc:
        raise ErrorAnswer(400, str(exc)) from None
    limit_raw = q.get("limit")
    limit = state.page_size
    if limit_raw not in (None, ""):
        if not (limit_raw.isascii() and limit_raw.isdigit() and len(limit_raw) <= 6) or not (
            1 <= int(limit_raw) <= MAX_ATTEMPTS_PAGE
        ):
            shown = limit_raw if len(limit_raw) <= 20 else limit_raw[:20] + "…"
            raise ErrorAnswer(400, f"limit: must be an integer from 1 to {MAX_ATTEMPTS_PAGE}, got {shown!r}")
        limit = int(limit_raw)
    after = decode_cursor("attempts", q.get("cursor"))
    rows = state.store.list_attempts(router_id=router_id, after_id=after, limit=limit + 1)
    page = rows[:limit]
    body: dict[str, Any] = {"items": [attempt_json(r) for r in page]}
    if len(rows) > limit:
        body["cursor"] = encode_cursor("attempts", page[-1]["attempt_id"])
    return JSONResponse(body)


def _email_json(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "at": row["at_ms"],
        "router_id": row["router_id"],
        "to": row["to_addr"],
        "subject": row["subject"],
        "body": row["body"],
    }


async def list_outbox(request: Request) -> JSONResponse:
    """``GET /sandbox/v1/outbox?router_id=`` → ``{"items": [{"id", "at", "router_id", "to", "subject", "body"}]}``."""
    state = sandbox_state(request)
    raw = request.query_params.get("router_id")
    try:
        router_id = parse_id(raw, field="router_id") if raw else None
    except ValidationError as exc:
        raise ErrorAnswer(400, str(exc)) from None
    return JSONResponse({"items": [_email_json(r) for r in state.store.list_outbox(router_id=router_id)]})


async def router_errors(request: Request) -> JSONResponse:
    """``GET /sandbox/v1/routers/{id}/errors`` → the error count in the window now."""
    state = sandbox_state(request)
    raw = request.path_params["router_id"]
    try:
        router_id = parse_id(raw, field="router_id")
    except ValidationError as exc:
        raise ErrorAnswer(400, str(exc)) from None
    try:
        return JSONResponse(dispatcher(state).router_errors(router_id))
    except LookupError as exc:
        raise ErrorAnswer(404, str(exc)) from None


routes: list[Route] = [
    Route("/clock", get_clock, methods=["GET"]),
    Route("/clock", set_clock, methods=["POST"]),
    Route("/calls", place_calls, methods=["POST"]),
    Route("/calls:batch", place_calls, methods=["POST"]),
    Route("/attempts", list_attempts, methods=["GET"]),
    Route("/outbox", list_outbox, methods=["GET"]),
    Route("/routers/{router_id}/errors", router_errors, methods=["GET"]),
]
"""Routes under ``/sandbox/v1`` (the call dispatch appends its own)."""
