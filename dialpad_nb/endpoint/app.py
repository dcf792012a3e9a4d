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

``GET /healthz`` answers 200 with what is serving (rules name, digest, when loaded; never the
secret or CRM data); ``GET /metrics`` the Prometheus text of :mod:`dialpad_nb.endpoint.metrics`.

**Reloadable rules.** ``decide`` may also be a *rule source*: an object with ``load()`` returning
something with ``decide``, ``fallback``, ``name``, ``sha256``, ``rule_names`` and ``signature``
(:class:`dialpad_nb.rules.MatrixSource` is one). The endpoint loads it at once (an error refuses
to start) and :meth:`Endpoint.reload` loads it again: the new rules are checked whole, then
swapped in with one assignment; every request reads the rules once when it starts, so it is
answered by the old rules or the new, never a mix, and none waits for a load. A load that fails
leaves the old rules serving. Each load is one ``reload`` event in the log and is counted in
``/metrics``. When served by uvicorn in the main thread (``dialpad-nb endpoint``, each of its
workers), SIGHUP reloads; ``watch_s`` polls the files and reloads once a change has settled.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import inspect
import logging
import os
import queue
import signal
import threading
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..core.clock import Clock, SystemClock
from ..core.endpoint_log import busy_error, make_reload_record, timeout_error
from ..core.errors import DialpadError, InvalidType, SourceChanging, TokenError, ValidationError
from ..core.models import DirectoryEntry, RoutingDecision, RoutingRequest, parse_id, validate_target_type
from ..core.policy import DIALPAD, Policy
from ..core.serving import ServedApp, run_foreground, serve_app
from ..core.signing import verify
from ..core.strict_json import decode_json
from .log import EndpointLog, make_record
from .metrics import EndpointMetrics

__all__ = [
    "ActiveRules",
    "Endpoint",
    "ReloadResult",
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
WATCH_SETTLE_S = 1.0
"""With ``watch_s``, a changed file is loaded once it has stayed unchanged this long."""

logger = logging.getLogger("dialpad_nb.endpoint")


@dataclass(frozen=True)
class ActiveRules:
    """The rules serving now. Replaced whole on a reload; a request reads it once."""

    decide: Callable[[RoutingRequest], Any]
    fallback: RoutingDecision
    name: str
    sha256: str | None = None
    rule_names: tuple[str, ...] = ()
    loaded_ms: int | None = None
    signature: Any = field(default=None, repr=False)


@dataclass(frozen=True)
class ReloadResult:
    """What one (re)load did: ``ok`` (the new rules serve) or refused with ``error``; ``record``
    is the event logged."""

    ok: bool
    trigger: str
    error: str | None
    record: dict[str, Any] = field(repr=False)
    serving: ActiveRules = field(repr=False)

    def __bool__(self) -> bool:
        return self.ok


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
        super().__init__(busy_error(workers))


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

    rules: ActiveRules
    budget_s: float
    log: EndpointLog
    clock: Clock
    secret: str | None = field(default=None, repr=False)
    max_body_bytes: int = MAX_BODY_BYTES
    body_timeout_s: float = BODY_TIMEOUT_S
    _pool: _DaemonPool = field(default_factory=lambda: _DaemonPool(), repr=False)
    source: Any = field(default=None, repr=False)
    """The rule source (``load()``) when the rules reload; None for a fixed ``decide``."""
    fallback_override: RoutingDecision | None = None
    metrics: EndpointMetrics = field(default_factory=EndpointMetrics, repr=False)
    watch_s: float | None = None
    settle_s: float = WATCH_SETTLE_S
    last_reload: ReloadResult | None = field(default=None, repr=False)
    _reload_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _refused_signature: Any = field(default=None, repr=False)

    @property
    def decide(self) -> Callable[[RoutingRequest], Any]:
        """The decide function serving now."""
        return self.rules.decide

    @property
    def fallback(self) -> RoutingDecision:
        """The fallback serving now."""
        return self.rules.fallback

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
            f"Endpoint(decide={getattr(self.decide, '__qualname__', self.decide)!r}, rules={self.rules.name!r}, "
            f"fallback={self.fallback.target_type}:{self.fallback.target_id}, budget_s={self.budget_s}, "
            f"signed={self.signed}, log={self.log!r})"
        )

    # ------------------------------------------------------------------ decide with a budget

    async def _decide(
        self, fn: Callable[[RoutingRequest], Any], req: RoutingRequest, timeout: float
    ) -> tuple[bool, Any]:
        """``(timed_out, answer)``; exceptions from decide propagate."""
        if timeout <= 0:
            return True, None
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

    def _record(self, record: dict[str, Any]) -> None:
        """The one way a request is accounted for: its log line, and the metrics counted from it."""
        self.log.append(record)
        self.metrics.observe(record)

    async def handle(self, request: Request) -> JSONResponse:
        started = time.perf_counter()
        ts = self.clock.now_ms()
        self.metrics.in_flight.inc()
        try:
            return await self._handle(request, started, ts)
        except Exception as exc:  # a bug of ours: still one answer and one log line, never the request's text
            self._record(
                make_record(
                    ts=ts, call_id=None, payload=None, signed=False, decision=None, rule=None, fallback=False,
                    status=500, latency_ms=(time.perf_counter() - started) * 1000, outcome="error",
                    error=f"internal error ({type(exc).__name__})",
                )
            )  # fmt: skip
            return JSONResponse(
                {"error": {"code": 500, "message": "internal endpoint error"}}, status_code=500
            )
        finally:
            self.metrics.in_flight.dec()

    async def _handle(self, request: Request, started: float, ts: int) -> JSONResponse:
        active = self.rules  # read once: this request is answered by these rules, whatever reloads meanwhile
        signed = False
        payload: dict[str, Any] | None = None
        call_id: int | None = None

        def finish(status, outcome, *, decision=None, rule=None, fallback=False, error=None):
            latency_ms = (time.perf_counter() - started) * 1000
            self._record(
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
        fallback = active.fallback
        try:
            timed_out, answer = await self._decide(active.decide, req, remaining)
        except _PoolFull as full:
            return finish(200, "fallback", decision=fallback, fallback=True, error=str(full))
        except Exception as exc:
            return finish(200, "error", decision=fallback, fallback=True, error=f"decide raised {exc!r}")
        if timed_out:
            return finish(
                200, "fallback", decision=fallback, fallback=True, error=timeout_error(self.budget_s)
            )
        if answer is None:
            return finish(200, "fallback", decision=fallback, fallback=True)
        try:
            decision, rule = coerce_decision(answer)
        except ValidationError as exc:
            return finish(
                200, "error", decision=fallback, fallback=True, error=f"decide answered badly: {exc}"
            )
        return finish(200, "ok", decision=decision, rule=rule)

    # ------------------------------------------------------------------ health and metrics

    async def healthz(self, request: Request) -> JSONResponse:
        """200 while rules are loaded (always, once the app exists): what serves, never secrets."""
        active = self.rules
        last = self.last_reload
        body: dict[str, Any] = {
            "status": "ok",
            "rules": {
                "name": active.name,
                "sha256": active.sha256,
                "rules": len(active.rule_names) or None,
                "loaded_at": _iso(active.loaded_ms),
                "reloadable": self.source is not None,
            },
            "last_reload": None
            if last is None
            else {"ok": last.ok, "trigger": last.trigger, "at": _iso(last.record.get("ts"))},
            "signed": self.signed,
            "pid": os.getpid(),
        }
        return JSONResponse(body, headers={"Cache-Control": "no-store"})

    async def metrics_text(self, request: Request) -> Response:
        body, content_type = self.metrics.render()
        return Response(body, media_type=content_type, headers={"Cache-Control": "no-store"})

    # ------------------------------------------------------------------ reload

    def reload(self, trigger: str = "api", *, expect: Any = None, complete: bool = False) -> ReloadResult:
        """Load the rule source again and, if it loads whole, serve it (one assignment). A source
        that fails to load leaves the current rules serving; either way one ``reload`` event is
        logged and counted. Runs in the calling thread (the server calls it in a worker thread).
        With ``trigger="watch"``, raises :class:`SourceChanging` when the files are still being
        written (nothing logged: the watcher tries again once they settle)."""
        if self.source is None:
            raise ValidationError("this endpoint serves a fixed rule: nothing to reload", field="decide")
        with self._reload_lock:
            before = self.rules
            try:
                loaded = self.source.load(expect=expect, complete=complete)
                active = _active_rules(loaded, self.fallback_override, self.clock.now_ms())
            except SourceChanging:
                if trigger == "watch":  # the watcher waits for the files to settle and tries again
                    raise
                return self._reload_done(False, trigger, before, None, "the files changed while being read")
            except Exception as exc:  # every refusal keeps the old rules; the reason goes to the log
                error = str(exc) if isinstance(exc, DialpadError) else f"{type(exc).__name__}: {exc}"
                return self._reload_done(False, trigger, before, None, error)
            self.rules = active
            return self._reload_done(True, trigger, active, active, None)

    def _reload_done(
        self, ok: bool, trigger: str, serving: ActiveRules, new: ActiveRules | None, error: str | None
    ) -> ReloadResult:
        record = make_reload_record(
            ts=self.clock.now_ms(),
            ok=ok,
            trigger=trigger,
            name=(new or serving).name,
            sha256=new.sha256 if new else None,
            rules=len(new.rule_names) if new else None,
            serving_sha256=serving.sha256,
            error=error,
        )
        self.log.append(record)
        if ok:
            self.metrics.rules_loaded(trigger=trigger, rule_names=serving.rule_names, at_ms=record["ts"])
            logger.info(
                "rules %s loaded (%s, sha256 %s, %d rules)",
                serving.name, trigger, (serving.sha256 or "")[:12], len(serving.rule_names),
            )  # fmt: skip
        else:
            self.metrics.reload_refused_now(trigger=trigger)
            logger.error(
                "reload refused (%s): %s -- still serving %s (sha256 %s)",
                trigger, error, serving.name, (serving.sha256 or "")[:12],
            )  # fmt: skip
        result = ReloadResult(ok, trigger, error, record, serving)
        self.last_reload = result
        return result

    async def reload_async(self, trigger: str = "api", **kw: Any) -> ReloadResult:
        """:meth:`reload` in a worker thread: the event loop keeps answering requests meanwhile."""
        return await asyncio.to_thread(self.reload, trigger, **kw)

    async def watch(self, interval_s: float) -> None:
        """Poll the source's files every ``interval_s``; load a change once it has stayed unchanged
        for ``settle_s``, is complete (ends with a line break) and reads the same before and
        after. A file deleted or refused is not tried again until it changes."""
        assert self.source is not None
        seen = self.rules.signature
        pending, since = seen, time.monotonic()
        while True:
            await asyncio.sleep(interval_s)
            try:
                now_sig = self.source.signature()
            except Exception:  # pragma: no cover - stat failing otherwise than "missing"
                continue
            if now_sig != pending:
                pending, since = now_sig, time.monotonic()
                continue
            if now_sig in (self.rules.signature, self._refused_signature):
                continue
            if time.monotonic() - since < self.settle_s:
                continue
            try:
                result = await self.reload_async("watch", expect=now_sig, complete=True)
            except SourceChanging:
                pending, since = None, time.monotonic()
                continue
            if not result.ok:
                self._refused_signature = now_sig

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        """Serving: SIGHUP reloads (main thread only), ``watch_s`` starts the watcher; at the end
        the log finishes compressing and a worker leaves the live metrics."""
        loop = asyncio.get_running_loop()
        hup = (
            self.source is not None
            and hasattr(signal, "SIGHUP")
            and threading.current_thread() is threading.main_thread()
        )
        tasks: set[asyncio.Task] = set()

        def on_hup() -> None:
            task = loop.create_task(self.reload_async("signal"))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

        if hup:
            loop.add_signal_handler(signal.SIGHUP, on_hup)
        watcher = (
            loop.create_task(self.watch(self.watch_s)) if self.source is not None and self.watch_s else None
        )
        try:
            yield
        finally:
            if hup:
                loop.remove_signal_handler(signal.SIGHUP)
                signal.signal(signal.SIGHUP, signal.SIG_IGN)  # a late SIGHUP must not kill a draining worker
            if watcher is not None:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher
            for task in list(tasks):
                with contextlib.suppress(Exception):
                    await task
            self.log.close()
            self.metrics.worker_exiting()


def routing_endpoint(
    decide: Any,
    *,
    secret: str | None = None,
    fallback: RoutingDecision | tuple | Mapping | None = None,
    budget_s: float = 4.0,
    log_path: str | Path | None = None,
    clock: Clock | None = None,
    policy: Policy = DIALPAD,
    max_body_bytes: int = MAX_BODY_BYTES,
    body_timeout_s: float | None = None,
    max_workers: int = MAX_WORKERS,
    log: EndpointLog | None = None,
    watch_s: float | None = None,
) -> Starlette:
    """An ASGI app answering Dialpad's routing requests with ``decide``.

    ``decide`` is a rule (callable, object with ``.decide``), or a rule source with ``load()``
    such as :class:`dialpad_nb.rules.MatrixSource`: loaded now (its error refuses to build the
    app), reloaded by ``app.state.endpoint.reload()``, SIGHUP, or every ``watch_s`` seconds when
    its files change; its fallback is the matrix's default unless ``fallback`` is given.
    ``log`` is a ready :class:`EndpointLog` (rotation settings); else ``log_path`` makes one.

    ``budget_s`` is how long ``decide`` may take before the fallback is answered;
    it must stay below Dialpad's deadline (``policy.deadline_s``). The body must arrive
    within ``body_timeout_s`` (default: :data:`BODY_TIMEOUT_S` or half the budget, whichever is
    less; it must be below ``budget_s``; else 408) and hold at most
    ``max_body_bytes`` (else 413). A sync ``decide`` runs on at most ``max_workers`` threads;
    when all are busy the fallback is answered at once. Every request gets one log line.
    The kit is at ``app.state.endpoint`` (its log at ``app.state.endpoint.log``)."""
    fb = coerce_decision(fallback, field="fallback")[0] if fallback is not None else None
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
    if watch_s is not None and not watch_s > 0:
        raise ValidationError(f"must be > 0 seconds, got {watch_s!r}", field="watch_s")
    clock = clock or SystemClock()
    source = decide if callable(getattr(decide, "load", None)) else None
    if source is not None:
        if watch_s is not None and not callable(getattr(source, "signature", None)):
            raise ValidationError("this rule source has no signature() to watch", field="watch_s")
        active = _active_rules(source.load(), fb, clock.now_ms())
    else:
        if watch_s is not None:
            raise ValidationError("only a rule source (a matrix) can be watched", field="watch_s")
        if fb is None:
            raise ValidationError("a fixed rule needs a fallback target", field="fallback")
        fn = _decide_function(decide)
        active = ActiveRules(fn, fb, str(getattr(fn, "__qualname__", type(decide).__name__)))
    kit = Endpoint(
        rules=active,
        budget_s=float(budget_s),
        log=log if log is not None else EndpointLog(log_path),
        clock=clock,
        secret=secret or None,
        max_body_bytes=max_body_bytes,
        body_timeout_s=float(body_timeout_s),
        _pool=_DaemonPool(max_workers),
        source=source,
        fallback_override=fb,
        metrics=EndpointMetrics(policy),
        watch_s=watch_s,
    )
    if source is not None:
        kit._reload_done(True, "start", active, active, None)
    app = Starlette(
        routes=[
            Route("/healthz", kit.healthz, methods=["GET"]),
            Route("/metrics", kit.metrics_text, methods=["GET"]),
            Route("/{path:path}", kit.handle, methods=["POST"]),
        ],
        lifespan=kit.lifespan,
    )
    app.state.endpoint = kit
    return app


def _active_rules(loaded: Any, fallback: RoutingDecision | None, now_ms: int) -> ActiveRules:
    """The serving snapshot of one load of a rule source (its ``decide``, names and digest)."""
    fb = fallback or coerce_decision(loaded.fallback, field="fallback")[0]
    return ActiveRules(
        decide=_decide_function(loaded),
        fallback=fb,
        name=str(loaded.name),
        sha256=getattr(loaded, "sha256", None),
        rule_names=tuple(getattr(loaded, "rule_names", ())),
        loaded_ms=now_ms,
        signature=getattr(loaded, "signature", None),
    )


def _iso(ms: Any) -> str | None:
    if not isinstance(ms, int):
        return None
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


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
        return [f"Routing endpoint listening on {url}/", *describe_endpoint(kit)]

    return run_foreground(app, host=host, port=port, label="endpoint", banner=banner, out=out)


def describe_endpoint(kit: Endpoint) -> list[str]:
    """What an endpoint serves, for a banner: never the secret."""
    active = kit.rules
    lines = [f"Signed requests: {'required (HS256)' if kit.signed else 'no (plain JSON)'}"]
    if active.sha256:
        lines.append(f"Rules: {active.name} ({len(active.rule_names)} rules, sha256 {active.sha256[:12]})")
    lines.append(
        f"Fallback: {active.fallback.target_type} {active.fallback.target_id}; budget {kit.budget_s:g} s"
    )
    rotation = f" (rotated at {kit.log.max_bytes:,} bytes)" if kit.log.max_bytes else ""
    lines.append(f"Log: {kit.log.path or '(memory only)'}{rotation}")
    lines.append("Health: GET /healthz; metrics: GET /metrics")
    if kit.source is not None:
        watching = f"; watching the files every {kit.watch_s:g} s" if kit.watch_s else ""
        lines.append(f"Reload: send SIGHUP{watching}")
    return lines


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
