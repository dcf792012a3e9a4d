"""The sandbox's own control API, mounted at ``/sandbox/v1`` beside Dialpad's ``/api/v2``.

Same bearer key, never mixed with Dialpad's routes. Sandbox-only insights and
levers live here: the simulated clock now; calls, attempts, the outbox and
router error counts are added by the call dispatch.

``routes`` is the list mounted by :func:`~dialpad_nb.sandbox.app.create_app`
(paths here are relative to ``/sandbox/v1``). Use the helpers of
:mod:`dialpad_nb.sandbox.api` (``ApiError``, ``read_json``, ``sandbox_state``,
``encode_cursor``/``decode_cursor``) so errors and paging look the same everywhere.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ..clock import SimulatedClock, ms_to_datetime, parse_time_ms
from .api import ApiError, read_json, read_object, sandbox_state

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
        raise ApiError(400, "the sandbox runs on the system clock; only a simulated clock can be set")
    if len(data) != 1:
        raise ApiError(400, "give exactly one of 'now' (ms since epoch or ISO time) or 'advance_seconds'")
    if "now" in data:
        try:
            target = parse_time_ms(data["now"])
        except (TypeError, ValueError) as exc:
            raise ApiError(400, f"now: {exc}") from None
        try:
            now = clock.set(target)
        except ValueError as exc:
            raise ApiError(400, f"now: {exc}") from None
    else:
        seconds = data["advance_seconds"]
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
            raise ApiError(400, f"advance_seconds: must be a number, got {seconds!r}")
        try:
            now = clock.advance(seconds)
        except ValueError as exc:
            raise ApiError(400, f"advance_seconds: {exc}") from None
    state.store.note_time(now)
    return JSONResponse(clock_json(now, simulated=True))


routes: list[Route] = [
    Route("/clock", get_clock, methods=["GET"]),
    Route("/clock", set_clock, methods=["POST"]),
]
"""Routes under ``/sandbox/v1`` (the call dispatch appends its own)."""
