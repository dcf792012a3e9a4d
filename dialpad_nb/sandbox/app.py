"""The sandbox as one declared Starlette app: Dialpad's ``/api/v2`` and the sandbox's ``/sandbox/v1``.

Everything a route needs is one object, ``app.state.sandbox`` (a :class:`SandboxState`):
the SQLite store, the clock, Dialpad's policy numbers, the company and its directory and the
settings. The lifespan opens the store (and closes it, with anything a route put
on :attr:`SandboxState.exit_stack`); the store also opens itself on first use, so
``TestClient(app)`` works without ``with`` too.

Both API families share one bearer key (``Authorization: Bearer <key>`` or
``?apikey=<key>``, compared in constant time); every error answer, 404 and 405
included, has Dialpad's shape ``{"error": {"code", "message"}}``.
"""

from __future__ import annotations

import hmac
import logging
import math
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount
from starlette.types import ASGIApp, Receive, Scope, Send

from ..core.clock import Clock, SimulatedClock, SystemClock
from ..core.directory import Directory
from ..core.errors import ValidationError
from ..core.pacing import RateLimiter, endpoint_key
from ..core.policy import DIALPAD, EVENT_DELIVERY, KEY_SCOPES, EventDelivery, Policy, key_need
from ..samples.company import COMPANY, Company
from . import control, delivery, events, history, rest
from .http import ID_KEYS, ErrorAnswer, error_body, error_response, too_large_message
from .store import SandboxStore

__all__ = ["KeyScopes", "RateLimits", "SandboxState", "ServerErrorGuard", "create_app"]

log = logging.getLogger("dialpad_nb.sandbox")

RESERVED_POOL: tuple[str, ...] = ("+14155551001", "+14155551002", "+14155551003", "+14155551004")
"""The company's reserved (unassigned) numbers in a new sandbox database."""

MAX_BODY_BYTES = 16 * 1024 * 1024
"""Largest request body accepted (Dialpad documents 413 for larger ones)."""


@dataclass(eq=False)
class SandboxState:
    """Everything the sandbox's routes share (``app.state.sandbox``).

    The dispatch code reads ``store``, ``clock``, ``policy``, ``company``, ``directory``,
    ``routing_deadline_s`` and ``transport`` (an optional ``httpx.AsyncBaseTransport``
    for outgoing routing requests, for tests) from here. ``exit_stack`` is entered
    by the app's lifespan: put long-lived async resources on it (e.g. an
    ``httpx.AsyncClient``) and they are closed at shutdown. ``extras`` is free
    space for such resources."""

    store: SandboxStore
    clock: Clock
    policy: Policy
    api_key: str = field(repr=False)
    company: Company
    directory: Directory
    page_size: int = 20
    id_format: Literal["int", "string"] = "int"
    routing_deadline_s: float = DIALPAD.deadline_s
    transport: Any = None
    allow_remote_routing: bool = False
    max_body_bytes: int = MAX_BODY_BYTES
    rate_limits: bool = False
    allow_remote_events: bool = False
    event_delivery: EventDelivery = EVENT_DELIVERY
    event_transport: Any = None
    deliver_in_background: bool = True
    as_account: bool = False
    without_scopes: frozenset[str] = frozenset()
    exit_stack: AsyncExitStack = field(default_factory=AsyncExitStack, repr=False)
    extras: dict[str, Any] = field(default_factory=dict, repr=False)

    def now_ms(self) -> int:
        return self.clock.now_ms()

    @property
    def simulated(self) -> bool:
        """True when the clock can be moved (``/sandbox/v1/clock``)."""
        return isinstance(self.clock, SimulatedClock)

    def check_api_key(self, presented: str | None) -> bool:
        """Constant-time comparison with the sandbox's key."""
        if not presented:
            return False
        return hmac.compare_digest(presented.encode(), self.api_key.encode())

    def out_id(self, value: Any) -> Any:
        """An id as the API emits it: an int, or a decimal string with ``id_format="string"``."""
        if value is None or self.id_format == "int":
            return value
        return str(value)

    def ids_out(self, obj: dict[str, Any]) -> dict[str, Any]:
        """``obj`` with every id-valued key passed through :meth:`out_id` (a new dict)."""
        if self.id_format == "int":
            return obj
        return {k: (self.out_id(v) if k in ID_KEYS else v) for k, v in obj.items()}

    def has_target(self, target_id: int, target_type: str) -> bool:
        """Whether a routing target exists in the company: a directory entry, or a call router."""
        if target_type == "callrouter":
            return self.store.get_router(target_id) is not None
        return self.directory.has_target(target_id, target_type)


class ApiKeyAuth:
    """Pure ASGI middleware: 401 in Dialpad's shape unless the request carries the key
    (and 413 for a declared ``Content-Length`` over ``max_body_bytes``)."""

    def __init__(self, app: ASGIApp, *, state: SandboxState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        presented = None
        for name, value in scope.get("headers", ()):
            if name == b"authorization":
                scheme, _, token = value.decode("latin-1").partition(" ")
                if scheme.lower() == "bearer":
                    presented = token.strip()
                break
        if presented is None:
            query = scope.get("query_string", b"").decode("latin-1")
            presented = dict(parse_qsl(query)).get("apikey")
        length = dict(scope.get("headers", ())).get(b"content-length", b"")
        if length.isdigit() and int(length) > self.state.max_body_bytes:
            response = error_response(413, too_large_message(self.state.max_body_bytes))
            await response(scope, receive, send)
            return
        if not self.state.check_api_key(presented):
            message = (
                "invalid API key"
                if presented
                else "missing API key: send 'Authorization: Bearer <key>' or '?apikey=<key>'"
            )
            response = error_response(401, message, headers={"WWW-Authenticate": "Bearer"})
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ErrorAnswer)
    return error_response(exc.status, exc.message, exc.headers)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        message = f"no such endpoint: {request.url.path}"
    elif exc.status_code == 405:
        message = f"method {request.method} is not allowed on {request.url.path}"
    else:
        message = str(exc.detail)
    return error_response(exc.status_code, message, exc.headers)


class ServerErrorGuard:
    """Pure ASGI middleware, outermost of ours: an exception no route handled becomes Dialpad's 500
    and ONE log line with the method, the route's template and the exception's type.

    Never the exception's text, its traceback or the raw path: all may carry the request's
    text (Starlette's own handler re-raises, and uvicorn would then log the whole traceback)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_tracked(message: Any) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, send_tracked)
        except Exception as exc:
            route = getattr(scope.get("route"), "path", None) or "(no route)"
            log.error("sandbox error on %s %s: %s", scope.get("method"), route, type(exc).__name__)
            if not started:
                body = error_body(500, f"internal sandbox error ({type(exc).__name__})")
                await JSONResponse(body, status_code=500)(scope, receive, send)


class RateLimits:
    """Pure ASGI middleware: Dialpad's API rate limits on ``/api/v2`` (``create_app(rate_limits=True)``).

    Over a limit: 429 in Dialpad's shape with ``Retry-After`` (whole seconds, at least 1). Only
    authenticated requests count (the limit is per company, and the sandbox serves one)."""

    def __init__(self, app: ASGIApp, *, limiter: RateLimiter) -> None:
        self.app = app
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith("/api/"):
            await self.app(scope, receive, send)
            return
        wait = self.limiter.admit(endpoint_key(scope.get("method", "GET"), path))
        if wait > 0:
            seconds = max(1, math.ceil(wait))
            p = self.limiter.policy
            message = (
                f"rate limit exceeded: Dialpad allows {p.company_requests_per_s:g} requests per second per "
                f"company and {p.endpoint_requests_per_min:g} per minute per endpoint; retry in {seconds} s"
            )
            response = error_response(429, message, headers={"Retry-After": str(seconds)})
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


class KeyScopes:
    """Pure ASGI middleware, inside :class:`ApiKeyAuth`: a key without a scope an operation needs
    (``create_app(without_scopes=...)``) is answered 403 in Dialpad's shape, as Dialpad would."""

    def __init__(self, app: ASGIApp, *, without: frozenset[str]) -> None:
        self.app = app
        self.without = without

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            need = key_need(endpoint_key(scope.get("method", "GET"), scope.get("path", "")))
            if need is not None and need.scope in self.without:
                await error_response(403, "Forbidden")(scope, receive, send)
                return
        await self.app(scope, receive, send)


def create_app(
    *,
    db_path: str | Path = ":memory:",
    api_key: str,
    clock: Clock | None = None,
    policy: Policy = DIALPAD,
    seed: int = 0,
    page_size: int = 20,
    id_format: Literal["int", "string"] = "int",
    routing_deadline_s: float | None = None,
    transport: Any = None,
    allow_remote_routing: bool = False,
    company: Company = COMPANY,
    max_body_bytes: int = MAX_BODY_BYTES,
    rate_limits: bool = False,
    rate_clock: Callable[[], float] = time.monotonic,
    allow_remote_events: bool = False,
    event_delivery: EventDelivery = EVENT_DELIVERY,
    event_transport: Any = None,
    deliver_in_background: bool = True,
    as_account: bool = False,
    without_scopes: Iterable[str] = (),
) -> Starlette:
    """The sandbox app.

    ``db_path``: SQLite file (created if missing; routers, numbers, attempts survive a
    restart) or ``":memory:"``. ``api_key``: the bearer key every request must carry.
    ``clock``: defaults to a fresh :class:`SimulatedClock` (fixed start); a simulated
    clock is moved forward at start-up to the latest time the database has seen.
    ``seed``: router ids are minted deterministically from it (a new database only).
    ``page_size``: items per page of every list. ``id_format``: ``"int"`` emits ids as
    JSON integers (the schema's int64), ``"string"`` as decimal strings (as Dialpad's
    own examples do). ``routing_deadline_s`` (default ``policy.deadline_s``) and
    ``transport`` are for the call dispatch; routing requests go only to loopback URLs
    unless ``allow_remote_routing`` is true. ``company``: the company served (default: the
    sample company, :data:`dialpad_nb.samples.company.COMPANY`). A request body over ``max_body_bytes`` is answered 413.
    ``rate_limits``: enforce Dialpad's API rate limits (``policy.company_requests_per_s``,
    ``policy.endpoint_requests_per_min``) on ``/api/v2`` with 429 + ``Retry-After``; off by default so
    tests and bulk scripts run fast. ``rate_clock`` is the limiter's monotonic time in seconds (tests).

    Call events (:mod:`.delivery`) go to loopback hooks only unless ``allow_remote_events``;
    ``event_delivery`` is the retry schedule, ``event_transport`` an optional httpx transport
    (tests); ``deliver_in_background=False`` leaves queued events for
    ``delivery.deliverer(state).run_due()`` (tests that drive retries without waiting).

    ``as_account=True`` is a stand-in for a Dialpad account: no control API (every ``/sandbox/v1``
    path, the clock's included, is a 404 like any path Dialpad does not have), so nothing can place
    calls or move time; ``clock`` defaults to the system clock. Feed it traffic first with a normal
    sandbox on the same ``db_path``. ``without_scopes`` (e.g. ``{"calls:list"}``) simulates a key
    without those scopes: the operations that need one answer 403.
    """
    if not isinstance(api_key, str) or not api_key:
        raise ValidationError("create_app needs a non-empty key", field="api_key")
    if id_format not in ("int", "string"):
        raise ValidationError(f"must be 'int' or 'string', got {id_format!r}", field="id_format")
    if page_size < 1:
        raise ValidationError(f"must be >= 1, got {page_size!r}", field="page_size")
    lacking = frozenset([without_scopes] if isinstance(without_scopes, str) else without_scopes)
    if lacking - KEY_SCOPES:
        raise ValidationError(
            f"unknown scope(s) {sorted(lacking - KEY_SCOPES)}; known: {sorted(KEY_SCOPES)}",
            field="without_scopes",
        )
    if clock is None:
        clock = SystemClock() if as_account else SimulatedClock()
    company_id = company.id
    seed_numbers = [
        {
            "number": number,
            "status": "office",
            "target_type": "office",
            "target_id": office["id"],
            "office_id": office["id"],
            "company_id": company_id,
        }
        for office in company.offices
        for number in office.get("phone_numbers", ())
    ]
    pool_office = company.primary_office["id"]
    seed_numbers += [
        {"number": n, "status": "available", "office_id": pool_office, "company_id": company_id}
        for n in RESERVED_POOL
    ]
    reserved_ids = [entry["id"] for entries in (company.offices, company.departments) for entry in entries]
    reserved_ids += [entry["id"] for entries in (company.callcenters, company.users) for entry in entries]
    store = SandboxStore(
        db_path, seed=seed, seed_numbers=seed_numbers, reserved_ids=reserved_ids, pool_office_id=pool_office
    )
    state = SandboxState(
        store=store,
        clock=clock,
        policy=policy,
        api_key=api_key,
        company=company,
        directory=company.directory(),
        page_size=page_size,
        id_format=id_format,
        routing_deadline_s=policy.deadline_s if routing_deadline_s is None else routing_deadline_s,
        transport=transport,
        allow_remote_routing=allow_remote_routing,
        max_body_bytes=max_body_bytes,
        rate_limits=rate_limits,
        allow_remote_events=allow_remote_events,
        event_delivery=event_delivery,
        event_transport=event_transport,
        deliver_in_background=deliver_in_background,
        as_account=as_account,
        without_scopes=lacking,
    )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[Mapping[str, Any]]:
        state.store.open()
        high_water = state.store.clock_high_water_ms()  # a valid time, repaired if the file held none
        if high_water is not None and isinstance(state.clock, SimulatedClock):
            state.clock.advance_to_at_least(high_water)
        state.exit_stack = AsyncExitStack()
        try:
            async with state.exit_stack:
                if state.deliver_in_background and delivery.pending_count(state.store):
                    delivery.deliverer(state)  # events queued before a restart: send them now
                yield {}
        finally:
            state.store.close()

    app = Starlette(
        routes=[
            *rest.routes,
            *history.routes,
            *events.routes,
            *([] if as_account else [Mount("/sandbox/v1", routes=[*control.routes, *delivery.routes])]),
        ],
        exception_handlers={
            ErrorAnswer: _api_error,
            HTTPException: _http_error,
        },
        middleware=[
            Middleware(ServerErrorGuard),
            Middleware(ApiKeyAuth, state=state),
            *([Middleware(KeyScopes, without=lacking)] if lacking else []),
            *(
                [Middleware(RateLimits, limiter=RateLimiter(policy, monotonic=rate_clock))]
                if rate_limits
                else []
            ),
        ],
        lifespan=lifespan,
    )
    app.state.sandbox = state
    return app
