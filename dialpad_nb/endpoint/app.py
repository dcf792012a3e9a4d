"""A routing endpoint (ASGI app) built from a Python rule, with a JSONL log.

::

    app = routing_endpoint(my_rule, secret=SECRET, fallback=(SUPPORT_ID, "callcenter"),
                           log_path="endpoint.jsonl")
    served = serve_endpoint(app)        # background thread on a free loopback port
    served.url                          # -> point a router's routing_url here
    served.stop()

``decide`` is a callable ``RoutingRequest -> answer`` or an object with a
``.decide(request)`` method; it may be sync (run in a worker thread) or async.
An answer is a :class:`~dialpad_nb.core.models.RoutingDecision`, a tuple
``(target_id, target_type[, rule])``, a mapping with ``target_id``/``target_type``
(and optionally ``rule``), any object with ``target_id``/``target_type``
attributes (and optionally ``rule``), a directory entry (``client.targets().resolve(...)``),
or ``None`` for "no rule matched" (the
fallback is answered).

What the endpoint does with each POST (any path):

* reads the body: at most ``max_body_bytes`` (413), within ``body_timeout_s`` (408), decoded
  strictly (:mod:`dialpad_nb.core.strict_json`: deep nesting, NaN, huge numbers → 400);
* finds the routing request: a JWT as the raw body (any content type) or in a
  JSON wrapper ``{"token": ...}`` / ``{"jwt": ...}``; otherwise a JSON object;
* with a ``secret``: verifies the JWT (HS256 only, ``signing.verify``); an
  unsigned request, a wrong key, ``alg: none``, a malformed or expired token
  → 401 and a log line (``outcome: "unauthorized"``);
* validates the payload (``RoutingRequest.from_json``) → 400 if bad;
* calls ``decide`` with a time budget (``budget_s``, below Dialpad's deadline):
  too slow, or all ``max_workers`` threads busy with slow rules → the fallback at once
  (``outcome: "fallback"``); raises or answers
  something invalid → the fallback (``outcome: "error"``, the reason in ``error``);
* answers ``{"target_id", "target_type"}`` and appends one record to the log
  (format in :mod:`dialpad_nb.endpoint.log`).
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import queue
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ..core.clock import Clock, SystemClock
from ..core.errors import InvalidType, TokenError, ValidationError
from ..core.models import DirectoryEntry, RoutingDecision, RoutingRequest, parse_id, validate_target_type
from ..core.policy import DIALPAD, Policy
from ..core.serving import ServedApp, run_foreground, serve_app
from ..core.signing import verify
from ..core.strict_json import decode_json
from .log import EndpointLog, make_record

__all__ = [
    "Endpoint",
    "ServedEndpoint",
    "coerce_decision",
    "load_rules",
    "routing_endpoint",
    "serve_endpoint",
    "serve_endpoint_foreground",
]

ServedEndpoint = ServedApp

MAX_BODY_BYTES = 64 * 1024
"""Largest routing request body accepted (Dialpad's are a few hundred bytes; 413 beyond)."""
BODY_TIMEOUT_S = 1.0
"""Time allowed for the body to arrive (408 after it); well inside the routing budget."""
MAX_WORKERS = 16
"""Most threads running a sync ``decide`` at once; when all are busy the fallback is answered."""


def coerce_decision(answer: Any, *, field: str = "decision") -> tuple[RoutingDecision, str | None]:
    """A :class:`RoutingDecision` and the rule name (or None) from whatever ``decide`` returned.

    Raises :class:`ValidationError` naming ``field`` when it is not a decision."""
    rule = None
    if isinstance(answer, RoutingDecision):
        return answer, getattr(answer, "rule", None)
    if isinstance(answer, Mapping):
        if "target_id" not in answer or "target_type" not in answer:
            raise ValidationError(
                f"a mapping needs target_id and target_type, got keys {sorted(answer)}", field=field
            )
        tid, ttype, rule = answer["target_id"], answer["target_type"], answer.get("rule")
    elif isinstance(answer, (tuple, list)):
        if len(answer) not in (2, 3):
            raise ValidationError(
                f"a tuple must be (target_id, target_type[, rule]), got {len(answer)} items", field=field
            )
        tid, ttype = answer[0], answer[1]
        rule = answer[2] if len(answer) == 3 else None
    elif hasattr(answer, "target_id") and hasattr(answer, "target_type"):
        tid, ttype, rule = answer.target_id, answer.target_type, getattr(answer, "rule", None)
    elif isinstance(answer, DirectoryEntry):
        tid, ttype = answer.id, answer.type
    else:
        raise ValidationError(f"{type(answer).__name__} is not a routing decision", field=field)
    decision = RoutingDecision(
        parse_id(tid, field=f"{field}.target_id"), validate_target_type(ttype, field=f"{field}.target_type")
    )
    return decision, (None if rule is None else str(rule))


def _decide_function(decide: Any) -> Callable[[RoutingRequest], Any]:
    fn = getattr(decide, "decide", None)
    if callable(fn):
        return fn
    if callable(decide):
        return decide
    raise InvalidType(
        f"expected a callable or an object with .decide(request), got {decide!r}", field="decide"
    )


def _is_async(fn: Any) -> bool:
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(getattr(fn, "__call__", None))  # noqa: B004


class _DaemonPool:
    """At most ``max_workers`` reusable daemon threads for sync ``decide`` calls.

    Daemon threads, so a decide that never returns cannot block the server's shutdown or the
    interpreter's exit (``concurrent.futures`` joins its workers at exit). A job runs on an idle
    worker, or on a new one while fewer than ``max_workers`` exist; otherwise :meth:`submit`
    refuses it at once (the endpoint then answers its fallback): slow rules cannot pile up
    threads, and a request never queues behind them past Dialpad's deadline."""

    def __init__(self, max_workers: int = 16) -> None:
        self.max_workers = max_workers
        self._jobs: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._workers = 0
        self._busy = 0

    @property
    def threads(self) -> int:
        """Worker threads started (never more than ``max_workers``)."""
        with self._lock:
            return self._workers

    def submit(self, job: Callable[[], None]) -> bool:
        """Run ``job`` on a worker; False (nothing queued) when all ``max_workers`` are busy."""
        with self._lock:
            if self._busy >= self.max_workers:
                return False
            self._busy += 1
            spawn = self._busy > self._workers
            if spawn:
                self._workers += 1
        if spawn:
            threading.Thread(target=self._work, name="routing-decide", daemon=True).start()
        self._jobs.put(job)
        return True

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            try:
                job()
            finally:
                with self._lock:
                    self._busy -= 1


class _PoolFull(Exception):
    def __init__(self, workers: int) -> None:
        super().__init__(f"all {workers} rule workers are busy (slow rules): fallback answered at once")


class _Rejected(Exception):
    def __init__(self, status: int, outcome: str, message: str) -> None:
        self.status, self.outcome, self.message = status, outcome, message
        super().__init__(message)


def _unwrap(body: bytes, secret_set: bool) -> tuple[str | None, Any]:
    """``(token, None)`` for a signed request, ``(None, data)`` for a plain JSON one."""
    try:
        text = body.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise _Rejected(400, "bad_request", "body is not UTF-8 text") from None
    if not text:
        raise _Rejected(400, "bad_request", "empty body: expected a routing request (JSON or JWT)")
    try:
        data = decode_json(text, field="body")
    except ValidationError as exc:
        if text[:1] in ("{", "[", '"'):  # JSON, but refused (malformed, too deep, NaN, huge number...)
            raise _Rejected(400, "bad_request", str(exc)) from None
        if secret_set or text.count(".") == 2:
            return text, None  # not JSON: taken as a compact JWT (verified or refused later)
        raise _Rejected(400, "bad_request", "body is neither JSON nor a JWT") from None
    if isinstance(data, str):
        return data, None
    if isinstance(data, Mapping):
        for key in ("token", "jwt"):
            if isinstance(data.get(key), str):
                return data[key], None
    return None, data


@dataclass
class Endpoint:
    """The configured kit behind one ASGI app (``app.state.endpoint``)."""

    decide: Callable[[RoutingRequest], Any]
    fallback: RoutingDecision
    budget_s: float
    log: EndpointLog
    clock: Clock
    secret: str | None = field(default=None, repr=False)
    max_body_bytes: int = MAX_BODY_BYTES
    body_timeout_s: float = BODY_TIMEOUT_S
    _pool: _DaemonPool = field(default_factory=lambda: _DaemonPool(), repr=False)

    async def _read_body(self, request: Request) -> bytes:
        """The body, within ``max_body_bytes`` (413) and ``body_timeout_s`` (408); a client that
        goes away half-way is a 400. Each is a refusal with a log line, like any other."""
        declared = request.headers.get("content-length", "")
        if declared.isascii() and declared.isdigit() and int(declared) > self.max_body_bytes:
            raise _Rejected(
                413, "bad_request", f"body larger than {self.max_body_bytes} bytes (Content-Length)"
            )
        chunks: list[bytes] = []
        size = 0

        async def read() -> None:
            nonlocal size
            async for chunk in request.stream():
                size += len(chunk)
                if size > self.max_body_bytes:
                    raise _Rejected(413, "bad_request", f"body larger than {self.max_body_bytes} bytes")
                chunks.append(chunk)

        try:
            await asyncio.wait_for(read(), self.body_timeout_s)
        except TimeoutError:
            raise _Rejected(
                408, "bad_request", f"body not complete within {self.body_timeout_s:g} s ({size} bytes read)"
            ) from None
        except ClientDisconnect:
            raise _Rejected(
                400, "bad_request", f"client went away before the body was complete ({size} bytes read)"
            ) from None
        return b"".join(chunks)

    @property
    def signed(self) -> bool:
        return bool(self.secret)

    def __repr__(self) -> str:
        return (
            f"Endpoint(decide={getattr(self.decide, '__qualname__', self.decide)!r}, "
            f"fallback={self.fallback.target_type}:{self.fallback.target_id}, budget_s={self.budget_s}, "
            f"signed={self.signed}, log={self.log!r})"
        )

    # ------------------------------------------------------------------ decide with a budget

    async def _decide(self, req: RoutingRequest, timeout: float) -> tuple[bool, Any]:
        """``(timed_out, answer)``; exceptions from decide propagate."""
        if timeout <= 0:
            return True, None
        fn = self.decide
        if _is_async(fn):
            try:
                return False, await asyncio.wait_for(fn(req), timeout)
            except TimeoutError:
                return True, None
        loop = asyncio.get_running_loop()
        fut: asyncio.Future = loop.create_future()

        def run() -> None:
            try:
                result, exc = fn(req), None
            except BaseException as e:  # handed to the event loop, re-raised there
                result, exc = None, e
            try:
                loop.call_soon_threadsafe(_settle, fut, result, exc)
            except RuntimeError:  # the server stopped while decide was still running
                pass

        if not self._pool.submit(run):
            raise _PoolFull(self._pool.max_workers)
        try:
            answer = await asyncio.wait_for(asyncio.shield(fut), timeout)
        except TimeoutError:
            return True, None
        if inspect.isawaitable(answer):
            remaining = timeout  # a sync wrapper returned a coroutine: give it what is left
            try:
                answer = await asyncio.wait_for(answer, remaining)
            except TimeoutError:
                return True, None
        return False, answer

    # ------------------------------------------------------------------ one request

    async def handle(self, request: Request) -> JSONResponse:
        started = time.perf_counter()
        ts = self.clock.now_ms()
        try:
            return await self._handle(request, started, ts)
        except Exception as exc:  # a bug of ours: still one answer and one log line, never the request's text
            self.log.append(
                make_record(
                    ts=ts, call_id=None, payload=None, signed=False, decision=None, rule=None, fallback=False,
                    status=500, latency_ms=(time.perf_counter() - started) * 1000, outcome="error",
                    error=f"internal error ({type(exc).__name__})",
                )
            )  # fmt: skip
            return JSONResponse(
                {"error": {"code": 500, "message": "internal endpoint error"}}, status_code=500
            )

    async def _handle(self, request: Request, started: float, ts: int) -> JSONResponse:
        signed = False
        payload: dict[str, Any] | None = None
        call_id: int | None = None

        def finish(status, outcome, *, decision=None, rule=None, fallback=False, error=None):
            latency_ms = (time.perf_counter() - started) * 1000
            self.log.append(
                make_record(
                    ts=ts,
                    call_id=call_id,
                    payload=payload,
                    signed=signed,
                    decision=decision.to_json() if decision else None,
                    rule=rule,
                    fallback=fallback,
                    status=status,
                    latency_ms=latency_ms,
                    outcome=outcome,
                    error=error,
                )
            )
            if decision is not None:
                return JSONResponse(decision.to_json(), status_code=status)
            return JSONResponse({"error": {"code": status, "message": error}}, status_code=status)

        try:
            body = await self._read_body(request)
            token, data = _unwrap(body, bool(self.secret))
            signed = token is not None
            if self.secret:
                if token is None:
                    raise _Rejected(
                        401, "unauthorized", "unsigned request: this endpoint requires an HS256 JWT"
                    )
                try:
                    data = verify(token, self.secret)
                except TokenError as exc:
                    raise _Rejected(401, "unauthorized", f"{exc.reason}: {exc}") from None
            elif token is not None:
                raise _Rejected(
                    400, "bad_request", "signed request (JWT) but this endpoint has no secret to verify it"
                )
            if isinstance(data, Mapping):
                payload = dict(data)
                try:
                    call_id = parse_id(data.get("call_id"), field="call_id")
                except ValidationError:
                    call_id = None
            try:
                req = RoutingRequest.from_json(data)
            except ValidationError as exc:
                raise _Rejected(400, "bad_request", f"invalid routing request: {exc}") from None
        except _Rejected as rej:
            return finish(rej.status, rej.outcome, error=rej.message)

        payload = req.to_json()
        remaining = self.budget_s - (time.perf_counter() - started)
        try:
            timed_out, answer = await self._decide(req, remaining)
        except _PoolFull as full:
            return finish(200, "fallback", decision=self.fallback, fallback=True, error=str(full))
        except Exception as exc:
            return finish(200, "error", decision=self.fallback, fallback=True, error=f"decide raised {exc!r}")
        if timed_out:
            return finish(
                200,
                "fallback",
                decision=self.fallback,
                fallback=True,
                error=f"decide did not answer within the {self.budget_s:g} s budget",
            )
        if answer is None:
            return finish(200, "fallback", decision=self.fallback, fallback=True)
        try:
            decision, rule = coerce_decision(answer)
        except ValidationError as exc:
            return finish(
                200, "error", decision=self.fallback, fallback=True, error=f"decide answered badly: {exc}"
            )
        return finish(200, "ok", decision=decision, rule=rule)


def routing_endpoint(
    decide: Any,
    *,
    secret: str | None = None,
    fallback: RoutingDecision | tuple | Mapping,
    budget_s: float = 4.0,
    log_path: str | Path | None = None,
    clock: Clock | None = None,
    policy: Policy = DIALPAD,
    max_body_bytes: int = MAX_BODY_BYTES,
    body_timeout_s: float | None = None,
    max_workers: int = MAX_WORKERS,
) -> Starlette:
    """An ASGI app answering Dialpad's routing requests with ``decide``.

    ``budget_s`` is how long ``decide`` may take before the fallback is answered;
    it must stay below Dialpad's deadline (``policy.deadline_s``). The body must arrive
    within ``body_timeout_s`` (default: :data:`BODY_TIMEOUT_S` or half the budget, whichever is
    less; it must be below ``budget_s``; else 408) and hold at most
    ``max_body_bytes`` (else 413). A sync ``decide`` runs on at most ``max_workers`` threads;
    when all are busy the fallback is answered at once. Every request gets one log line.
    The kit is at ``app.state.endpoint`` (its log at ``app.state.endpoint.log``)."""
    fn = _decide_function(decide)
    fb, _ = coerce_decision(fallback, field="fallback")
    if not 0 < budget_s < policy.deadline_s:
        raise ValidationError(
            f"must be > 0 and below Dialpad's {policy.deadline_s:g} s deadline, got {budget_s!r}",
            field="budget_s",
        )
    if secret is not None and not isinstance(secret, str):
        raise ValidationError("must be text", field="secret")
    if body_timeout_s is None:
        body_timeout_s = min(BODY_TIMEOUT_S, budget_s / 2)
    if not 0 < body_timeout_s < budget_s:
        raise ValidationError(
            f"must be > 0 and below budget_s ({budget_s:g} s), got {body_timeout_s!r}", field="body_timeout_s"
        )
    if isinstance(max_body_bytes, bool) or not isinstance(max_body_bytes, int) or max_body_bytes < 1:
        raise ValidationError(f"must be a positive integer, got {max_body_bytes!r}", field="max_body_bytes")
    if isinstance(max_workers, bool) or not isinstance(max_workers, int) or max_workers < 1:
        raise ValidationError(f"must be a positive integer, got {max_workers!r}", field="max_workers")
    kit = Endpoint(
        decide=fn,
        fallback=fb,
        budget_s=float(budget_s),
        log=EndpointLog(log_path),
        clock=clock or SystemClock(),
        secret=secret or None,
        max_body_bytes=max_body_bytes,
        body_timeout_s=float(body_timeout_s),
        _pool=_DaemonPool(max_workers),
    )
    app = Starlette(routes=[Route("/{path:path}", kit.handle, methods=["POST"])])
    app.state.endpoint = kit
    return app


def serve_endpoint(app: Starlette, host: str = "127.0.0.1", port: int = 0) -> ServedApp:
    """Serve ``app`` with uvicorn in a background thread; ``.url``, ``.stop()``."""
    return serve_app(app, host=host, port=port, name="routing-endpoint")


def serve_endpoint_foreground(
    app: Starlette, *, host: str = "127.0.0.1", port: int = 8000, out: TextIO | None = None
) -> int:
    """Serve ``app`` in this thread until Ctrl-C/SIGTERM (the CLI); the exit status.

    Prints the URL first (the socket is already listening then); never the secret."""
    kit: Endpoint = app.state.endpoint

    def banner(url: str) -> list[str]:
        return [
            f"Routing endpoint listening on {url}/",
            f"Signed requests: {'required (HS256)' if kit.signed else 'no (plain JSON)'}",
            f"Fallback: {kit.fallback.target_type} {kit.fallback.target_id}; budget {kit.budget_s:g} s",
            f"Log: {kit.log.path or '(memory only)'}",
        ]

    return run_foreground(app, host=host, port=port, label="endpoint", banner=banner, out=out)


def load_rules(spec: str) -> Any:
    """``"package.module:attribute"`` → the object (a callable or an object with ``.decide``)."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ValidationError(f"expected MODULE:CALLABLE, got {spec!r}", field="rules")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValidationError(f"cannot import {module_name!r}: {exc}", field="rules") from None
    obj: Any = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ValidationError(f"{module_name!r} has no attribute {attr!r}", field="rules") from None
    return obj


def _settle(fut: asyncio.Future, result: Any, exc: BaseException | None) -> None:
    if fut.done():
        return
    if exc is not None:
        fut.set_exception(exc)
        fut.exception()  # mark retrieved: after a timeout nobody awaits it
    else:
        fut.set_result(result)
