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

**Shadows.** ``shadows={"candidate": other_rule, ...}`` evaluates each shadow (a rule or a rule
source, reloaded with the control) on every valid request. The answer is the control's and never
waits for a shadow: each shadow has its own time budget (``shadow_budget_s``, inside the routing
budget) and its own ``max_workers`` threads, so a slow, raising or wrong shadow only changes its
own result (``timeout``, ``busy``, ``error``). Shadows also yield to answers: a request's shadows
start once its answer is on its way *and* no request is being answered, so they never compete
with an answer for the interpreter; one that cannot start within its budget (the endpoint never
idle that long) is not run and recorded ``busy``. The request's log record is written once every
shadow has finished, run out of budget or been shed, with each shadow's decision, rule, outcome
and duration (log version 2, :mod:`dialpad_nb.core.endpoint_log`).

**Canary.** ``canary={"candidate": 0.05}`` answers 5 % of callers (sticky per caller) with the
shadow named ``candidate``; a failing candidate answer (raised, invalid target, over its budget)
is replaced by the control's before it is sent, and the candidate is stopped by itself when it
fails more than the control (:mod:`dialpad_nb.endpoint.canary`). ``admin_token`` opens
``GET``/``POST /admin/canary`` to read and change the shares and stop or resume a candidate at
run time (:mod:`dialpad_nb.endpoint.admin`); ``alert_url`` is told when the canary stops.

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
import collections
import contextlib
import dataclasses
import importlib
import logging
import math
import os
import queue
import signal
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..core.clock import Clock, SystemClock
from ..core.directory import Directory
from ..core.endpoint_log import Experiment, make_record, make_reload_record, timeout_error
from ..core.errors import DialpadError, InvalidType, SourceChanging, TokenError, ValidationError
from ..core.models import RoutingDecision, RoutingRequest, parse_id, validate_secret
from ..core.policy import DIALPAD, Policy
from ..core.serving import ServedApp, run_foreground, serve_app
from ..core.signing import verify
from ..core.strict_json import decode_json
from .admin import admin_routes
from .canary import DEFAULT_SALT, MARGIN, MIN_CALLS, Alert, Canary, StopRule
from .evaluate import ActiveShadow, RuleResult, coerce_decision, evaluate_rule, run_decide
from .log import EndpointLog
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
    shadows: tuple[ActiveShadow, ...] = ()
    """The shadows serving with these rules (loaded and swapped with them)."""

    def shadow(self, name: str) -> ActiveShadow:
        return next(s for s in self.shadows if s.name == name)


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


def _decide_function(decide: Any) -> Callable[[RoutingRequest], Any]:
    fn = getattr(decide, "decide", None)
    if callable(fn):
        return fn
    if callable(decide):
        return decide
    raise InvalidType(
        f"expected a callable or an object with .decide(request), got {decide!r}", field="decide"
    )


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
    shadow_sources: tuple[tuple[str, Any], ...] = field(default=(), repr=False)
    """``(name, rule source or None)`` of every shadow, in order (None: a fixed rule)."""
    directory: Directory | None = field(default=None, repr=False)
    """When given, a target the company does not have is an invalid answer (and refused at load)."""
    canary: Canary | None = None
    admin_token: str | None = field(default=None, repr=False)
    shadow_budgets: dict[str, float] = field(default_factory=dict, repr=False)
    _shadow_pools: dict[str, _DaemonPool] = field(default_factory=dict, repr=False)
    _fixed_shadows: dict[str, Any] = field(default_factory=dict, repr=False)
    _tasks: set[asyncio.Task] = field(default_factory=set, repr=False)
    _answering: int = field(default=0, repr=False)
    """Requests being answered now (shadows wait until it is 0)."""
    _waiting: collections.deque[Callable[[], None]] = field(default_factory=collections.deque, repr=False)
    _idle: threading.Condition = field(default_factory=threading.Condition, repr=False)
    _open: int = field(default=0, repr=False)

    @property
    def shadows(self) -> tuple[ActiveShadow, ...]:
        """The shadows serving now."""
        return self.rules.shadows

    @property
    def reloadable(self) -> bool:
        """True when the control or a shadow is a rule source (``load()``)."""
        return self.source is not None or any(src is not None for _, src in self.shadow_sources)

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
            f"signed={self.signed}, log={self.log!r}"
            + (f", shadows={[s.name for s in self.shadows]}" if self.shadows else "")
            + (f", canary={self.canary!r}" if self.canary is not None else "")
            + ")"
        )

    # ------------------------------------------------------------------ decide with a budget

    async def _decide(
        self, fn: Callable[[RoutingRequest], Any], req: RoutingRequest, timeout: float
    ) -> tuple[bool, Any]:
        """``(timed_out, answer)`` of the control's pool; exceptions from decide propagate."""
        return await run_decide(fn, req, timeout, self._pool)

    # ------------------------------------------------------------------ one request

    def _record(self, record: dict[str, Any], experiment: Experiment | None = None) -> None:
        """The one way a request is accounted for: its log line, and the metrics counted from it
        (``experiment``: the record's experiment part, when it was built from the same results)."""
        self.log.append(record)
        self.metrics.observe(record, experiment)

    async def handle(self, request: Request) -> JSONResponse:
        started = time.perf_counter()
        ts = self.clock.now_ms()
        self.metrics.in_flight.inc()
        self._answering += 1
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
            self._answering -= 1
            if not self._answering and self._waiting:
                asyncio.get_running_loop().call_soon(self._start_waiting)

    async def _handle(self, request: Request, started: float, ts: int) -> JSONResponse:
        active = self.rules  # read once: this request is answered by these rules, whatever reloads meanwhile
        signed = False
        payload: dict[str, Any] | None = None
        call_id: int | None = None

        def finish(status, outcome, *, decision=None, rule=None, fallback=False, error=None, experiment=None):
            latency_ms = (time.perf_counter() - started) * 1000
            fields = dict(
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
            if experiment is None:
                self._record(make_record(**fields))
            else:  # the record waits for the shadows; the answer does not
                self._track(self._finish_experiment(fields, *experiment))
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
        deadline = started + self.budget_s
        fallback = active.fallback
        control = evaluate_rule(
            active.decide, req, deadline=deadline, pool=self._pool, timeout_text=timeout_error(self.budget_s),
            fallback=fallback, directory=self.directory,
        )  # fmt: skip
        canary = self.canary
        if not active.shadows and canary is None:
            status, outcome, kw = _answer(await control, fallback)
            return finish(status, outcome, **kw)
        # an experiment: the control starts now (and the caller's candidate, when it answers them);
        # every other shadow starts once the answer is on its way, so it never competes with it
        loop = asyncio.get_running_loop()
        control_task = loop.create_task(control)
        side: str | None = None
        running: list[str] = []
        now: dict[str, asyncio.Task[RuleResult]] = {}
        if canary is not None:
            side = canary.side(req.external_number) or "control"
            running = canary.running_candidates()
            if side != "control":
                now[side] = loop.create_task(self._run_shadow(active.shadow(side), req, started))
        experiment = (req, active, control_task, now, side, running)
        if side not in (None, "control"):
            mine = await now[side]  # within its own budget
            if mine.outcome in ("ok", "no_match"):  # the candidate answers its caller
                status, outcome, kw = _answer(mine, mine.decision or fallback)  # no match: its fallback
                return finish(status, outcome, **kw, experiment=(*experiment, side))
            # a failing candidate: the control's answer is sent instead
        status, outcome, kw = _answer(await control_task, fallback)
        return finish(status, outcome, **kw, experiment=(*experiment, "control"))

    def _when_idle(self, shadow: ActiveShadow, req: RoutingRequest) -> asyncio.Future[RuleResult]:
        """A shadow's result, evaluated as soon as no request is being answered (shadows yield
        to answers); not started within its budget (the endpoint never idle that long), it is
        ``busy`` (not run) and its record is not held up further."""
        loop = asyncio.get_running_loop()
        out: asyncio.Future[RuleResult] = loop.create_future()
        budget = min(shadow.budget_s, self.budget_s)

        def done(task: asyncio.Task[RuleResult]) -> None:
            result = _finished(task)
            if not out.done():
                out.set_result(result) if result is not None else out.cancel()

        def start() -> None:
            if not out.done():
                timer.cancel()
                loop.create_task(self._run_shadow(shadow, req, None)).add_done_callback(done)

        def shed() -> None:
            if not out.done():
                out.set_result(
                    RuleResult("busy", None, None, f"not run: the endpoint was answering requests for the "
                               f"shadow's whole {budget:g} s budget", 0.0)
                )  # fmt: skip

        timer = loop.call_later(budget, shed)
        if self._answering:
            self._waiting.append(start)
        else:
            start()
        return out

    def _start_waiting(self) -> None:
        while self._waiting and not self._answering:
            self._waiting.popleft()()

    def _run_shadow(self, shadow: ActiveShadow, req: RoutingRequest, started: float | None) -> Any:
        """One shadow's evaluation within its budget (never past the routing budget): from the
        request's receipt (``started``, a candidate answering its caller) or from now."""
        budget = min(shadow.budget_s, self.budget_s)
        deadline = (time.perf_counter() if started is None else started) + budget
        return evaluate_rule(
            shadow.rules.decide, req, deadline=deadline, pool=shadow.pool, timeout_text=timeout_error(budget),
            fallback=shadow.rules.fallback, directory=self.directory,
        )  # fmt: skip

    async def _finish_experiment(
        self,
        fields: dict[str, Any],
        req: RoutingRequest,
        active: ActiveRules,
        control_task: asyncio.Task[RuleResult],
        now: Mapping[str, asyncio.Task[RuleResult]],
        side: str | None,
        running: list[str],
        answered_by: str,
    ) -> None:
        """Start the shadows not started yet, count the request in the canary, and write its
        record once the control and every shadow have finished (each within its own budget).
        Stopped half-way (the server closing), it writes what finished."""
        tasks: dict[str, asyncio.Future[RuleResult]] = {
            sh.name: now[sh.name] if sh.name in now else self._when_idle(sh, req) for sh in active.shadows
        }
        if self.canary is not None:
            _count_in(self.canary, control_task, {n: tasks[n] for n in running if n in tasks})
        try:
            await asyncio.wait([control_task, *tasks.values()])
        finally:
            control = _finished(control_task)
            other = side not in (None, "control")
            results = {name: r for name, t in tasks.items() if (r := _finished(t)) is not None}
            record = make_record(
                **fields,
                side=side,
                answered_by=answered_by if side is not None else None,
                control=control.to_record() if other and control is not None else None,
                shadows=[r.to_record(name) for name, r in results.items()],
            )
            # the control's own result: its answer when it answered (as experiment_of reads it back)
            own = control if control is not None and (other or answered_by == "control") else None
            experiment = (
                Experiment(
                    side,
                    record["answered_by"],
                    own.as_arm("control"),
                    tuple(r.as_arm(n) for n, r in results.items()),
                )
                if own is not None
                else None
            )
            self._record(record, experiment)

    def log_canary_event(self, record: dict[str, Any]) -> None:
        """The canary's events: one log line each."""
        self.log.append(record)

    def _track(self, coro: Any) -> None:
        """Run ``coro`` as a task the endpoint waits for before it stops (:meth:`wait_idle`)."""
        task = asyncio.get_running_loop().create_task(coro)
        with self._idle:
            self._open += 1
        self._tasks.add(task)

        def done(t: asyncio.Task) -> None:
            self._tasks.discard(t)
            with self._idle:
                self._open -= 1
                self._idle.notify_all()

        task.add_done_callback(done)

    def wait_idle(self, timeout_s: float = 10.0) -> bool:
        """Wait (from another thread) until every answered request's record is written (the
        shadows finished); True when idle within ``timeout_s``."""
        with self._idle:
            return self._idle.wait_for(lambda: self._open == 0, timeout_s)

    async def drain(self) -> None:
        """Wait (on the endpoint's event loop) until every answered request's record is written."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

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
                "reloadable": self.reloadable,
            },
            "last_reload": None
            if last is None
            else {"ok": last.ok, "trigger": last.trigger, "at": _iso(last.record.get("ts"))},
            "shadows": [
                {
                    "name": sh.name,
                    "rules": sh.rules.name,
                    "sha256": sh.rules.sha256,
                    "budget_s": min(sh.budget_s, self.budget_s),
                    "reloadable": sh.reloadable,
                }
                for sh in active.shadows
            ],
            "canary": None if self.canary is None else self.canary.status(),
            "signed": self.signed,
            "pid": os.getpid(),
        }
        return JSONResponse(body, headers={"Cache-Control": "no-store"})

    async def metrics_text(self, request: Request) -> Response:
        body, content_type = self.metrics.render()
        return Response(body, media_type=content_type, headers={"Cache-Control": "no-store"})

    # ------------------------------------------------------------------ reload

    def reload(self, trigger: str = "api", *, expect: Any = None, complete: bool = False) -> ReloadResult:
        """Load the rule sources again (the control's and the shadows') and, if they all load
        whole, serve them (one assignment). A source that fails to load leaves the current rules
        serving, shadows included; either way one ``reload`` event is logged and counted. Runs in
        the calling thread (the server calls it in a worker thread). With ``trigger="watch"``,
        raises :class:`SourceChanging` when the files are still being written (nothing logged: the
        watcher tries again once they settle)."""
        if not self.reloadable:
            raise ValidationError("this endpoint serves fixed rules: nothing to reload", field="decide")
        with self._reload_lock:
            before = self.rules
            try:
                active = self._load(expect=expect, complete=complete)
            except SourceChanging:
                if trigger == "watch":  # the watcher waits for the files to settle and tries again
                    raise
                return self._reload_done(False, trigger, before, None, "the files changed while being read")
            except Exception as exc:  # every refusal keeps the old rules; the reason goes to the log
                error = str(exc) if isinstance(exc, DialpadError) else f"{type(exc).__name__}: {exc}"
                return self._reload_done(False, trigger, before, None, error)
            self.rules = active
            return self._reload_done(True, trigger, active, active, None)

    def _sources(self) -> list[tuple[str | None, Any]]:
        """The rule sources that reload: ``(None, the control's)`` and ``(shadow name, its)``."""
        out: list[tuple[str | None, Any]] = [(None, self.source)] if self.source is not None else []
        return out + [(name, src) for name, src in self.shadow_sources if src is not None]

    def files_signature(self) -> tuple[Any, ...]:
        """What the reloadable sources' files look like now (one entry per source)."""
        return tuple(src.signature() for _, src in self._sources())

    def _loaded_signature(self, active: ActiveRules | None = None) -> tuple[Any, ...]:
        active = active or self.rules
        return tuple(
            active.signature if name is None else active.shadow(name).rules.signature
            for name, _ in self._sources()
        )

    def _load(self, *, expect: Any = None, complete: bool = False, first: bool = False) -> ActiveRules:
        """The control and every shadow, loaded (sources) and checked against the directory; an
        error names the shadow at fault. ``first``: the load at start (``load()`` without options)."""
        now = self.clock.now_ms()
        expects = (
            dict(zip([n for n, _ in self._sources()], expect, strict=True)) if expect is not None else {}
        )

        def load(src: Any, name: str | None) -> Any:
            return src.load() if first else src.load(expect=expects.get(name), complete=complete)

        if self.source is not None:
            loaded = load(self.source, None)
            self._check_targets(loaded)
            control = _active_rules(loaded, self.fallback_override, now)
        else:
            control = dataclasses.replace(self.rules, shadows=())
            if first:
                self._check_targets(getattr(control.decide, "__self__", None))
        current = {sh.name: sh for sh in self.rules.shadows}
        shadows = []
        for name, src in self.shadow_sources:
            if src is None and not first:
                shadows.append(current[name])
                continue
            try:
                if src is not None:
                    loaded = load(src, name)
                    self._check_targets(loaded)
                    rules = _active_rules(loaded, None, now)
                else:
                    obj = self._fixed_shadows[name]
                    self._check_targets(obj)
                    fn = _decide_function(obj)
                    rules = ActiveRules(
                        fn, self.fallback_override or control.fallback, _rule_name(obj, fn),
                        rule_names=tuple(getattr(obj, "rule_names", ()) or ()),
                    )  # fmt: skip
            except SourceChanging:
                raise
            except Exception as exc:
                error = str(exc) if isinstance(exc, DialpadError) else f"{type(exc).__name__}: {exc}"
                raise ValidationError(error, field=f"shadow {name!r}") from exc
            shadows.append(
                ActiveShadow(
                    name, rules, self.shadow_budgets[name], self._shadow_pools[name], src is not None
                )
            )
        return dataclasses.replace(control, shadows=tuple(shadows))

    def _check_targets(self, rules: Any) -> None:
        """With a directory, refuse rules whose targets the company does not have, naming the rows
        (rules with ``check_targets(directory)``, such as a matrix; a Python rule's answers are
        checked per request instead)."""
        check = getattr(rules, "check_targets", None)
        if self.directory is not None and callable(check):
            check(self.directory)

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
            shadows=[
                {"shadow": sh.name, "name": sh.rules.name, "sha256": sh.rules.sha256,
                 "rules": len(sh.rules.rule_names) or None}
                for sh in (new or serving).shadows
            ] if new is not None and new.shadows else None,
        )  # fmt: skip
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
        assert self.reloadable
        seen = self._loaded_signature()
        pending: tuple[Any, ...] | None = seen
        since = time.monotonic()
        while True:
            await asyncio.sleep(interval_s)
            try:
                now_sig = self.files_signature()
            except Exception:  # pragma: no cover - stat failing otherwise than "missing"
                continue
            if now_sig != pending:
                pending, since = now_sig, time.monotonic()
                continue
            if now_sig in (self._loaded_signature(), self._refused_signature):
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
            self.reloadable
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
        watcher = loop.create_task(self.watch(self.watch_s)) if self.reloadable and self.watch_s else None
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
            await self.drain()  # records waiting for their shadows (each within its budget)
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
    shadows: Mapping[str, Any] | None = None,
    shadow_budget_s: float | Mapping[str, float] | None = None,
    canary: Mapping[str, float] | None = None,
    canary_min_calls: int = MIN_CALLS,
    canary_margin: float = MARGIN,
    canary_salt: str = DEFAULT_SALT,
    canary_state: str | os.PathLike | None = None,
    admin_token: str | None = None,
    alert_url: str | None = None,
    directory: Directory | Iterable[Any] | None = None,
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
    The kit is at ``app.state.endpoint`` (its log at ``app.state.endpoint.log``).

    **Trying a candidate** (module docstring): ``shadows`` maps names to rules or rule sources
    evaluated on every request beside the control, each within ``shadow_budget_s`` (one number
    for all, or per name; default half the routing budget; at most ``budget_s``) on its own
    ``max_workers`` threads. ``canary`` maps shadow names to the share of callers (0 to 1) they
    answer; ``canary_min_calls`` and ``canary_margin`` set the automatic stop, ``canary_salt``
    the caller hash, ``canary_state`` a JSON file that shares the canary's state between worker
    processes. ``admin_token`` (32+ characters, not the router secret) opens ``/admin/canary``;
    ``alert_url`` gets a ``{"text": ...}`` POST when the canary stops. ``directory`` (the
    company's, e.g. ``client.targets()``): every rule's targets are checked against it at each
    load (a matrix naming a target the company does not have is refused, its rows named), and an
    answer naming such a target is a failure, never sent."""
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
    shadow_rules = _check_shadows(shadows)
    budgets = _shadow_budgets(shadow_budget_s, list(shadow_rules), float(budget_s))
    if canary is not None and not shadow_rules:
        raise ValidationError(
            "a canary candidate must be one of the shadows: pass shadows={'candidate': rule} too",
            field="canary",
        )
    if admin_token is not None:
        validate_secret(admin_token, field="admin_token")
        if secret is not None and admin_token == secret:
            raise ValidationError("must differ from the router secret", field="admin_token")
    alert = Alert(alert_url) if alert_url is not None else None
    if directory is not None and not isinstance(directory, Directory):
        directory = Directory(tuple(directory))
    clock = clock or SystemClock()
    source = decide if callable(getattr(decide, "load", None)) else None
    shadow_sources = tuple(
        (name, rule if callable(getattr(rule, "load", None)) else None) for name, rule in shadow_rules.items()
    )
    reloadable = [s for s in (source, *(src for _, src in shadow_sources)) if s is not None]
    if watch_s is not None:
        if not reloadable:
            raise ValidationError("only a rule source (a matrix) can be watched", field="watch_s")
        if not all(callable(getattr(s, "signature", None)) for s in reloadable):
            raise ValidationError("this rule source has no signature() to watch", field="watch_s")
    if source is not None:  # replaced by the first load below
        active = ActiveRules(lambda request: None, fb or RoutingDecision(1, "office"), "(loading)")
    else:
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
        shadow_sources=shadow_sources,
        directory=directory,
        admin_token=admin_token,
    )
    kit.shadow_budgets = budgets
    kit._shadow_pools = {name: _DaemonPool(max_workers) for name in shadow_rules}
    kit._fixed_shadows = {
        name: rule for name, rule in shadow_rules.items() if dict(shadow_sources)[name] is None
    }
    kit.rules = kit._load(first=True)
    if kit.reloadable:
        kit._reload_done(True, "start", kit.rules, kit.rules, None)
    if canary is not None:
        kit.canary = Canary(
            canary,
            candidates=list(shadow_rules),
            log=kit.log_canary_event,
            clock=clock,
            salt=canary_salt,
            rule=StopRule(canary_min_calls, canary_margin),
            alert=alert,
            state_path=canary_state,
            on_change=lambda c: kit.metrics.canary_state(c.status()),
        )
    kit.metrics.shadows_known([sh.name for sh in kit.rules.shadows])
    app = Starlette(
        routes=[
            Route("/healthz", kit.healthz, methods=["GET"]),
            Route("/metrics", kit.metrics_text, methods=["GET"]),
            *admin_routes(kit),
            Route("/{path:path}", kit.handle, methods=["POST"]),
        ],
        lifespan=kit.lifespan,
    )
    app.state.endpoint = kit
    return app


def _check_shadows(shadows: Any) -> dict[str, Any]:
    if shadows is None:
        return {}
    if not isinstance(shadows, Mapping):
        raise ValidationError(
            f"expected {{name: rule}}, e.g. {{'candidate': rules}}, got {shadows!r}", field="shadows"
        )
    out: dict[str, Any] = {}
    for name, rule in shadows.items():
        if not isinstance(name, str) or not name.strip() or len(name) > 100:
            raise ValidationError(
                f"a shadow's name must be text of 1-100 characters, got {name!r}", field="shadows"
            )
        if name == "control":
            raise ValidationError(
                "'control' names the rules that answer; call the shadow otherwise", field="shadows"
            )
        if not callable(getattr(rule, "load", None)):
            _decide_function(rule)  # InvalidType now rather than at the first request
        out[name] = rule
    return out


def _shadow_budgets(value: Any, names: list[str], budget_s: float) -> dict[str, float]:
    default = budget_s / 2
    per = value if isinstance(value, Mapping) else dict.fromkeys(names, default if value is None else value)
    unknown = sorted(set(per) - set(names))
    if unknown:
        raise ValidationError(f"no shadow named {', '.join(map(repr, unknown))}", field="shadow_budget_s")
    out = {}
    for name in names:
        b = per.get(name, default)
        if (
            isinstance(b, bool)
            or not isinstance(b, (int, float))
            or not math.isfinite(b)
            or not 0 < b <= budget_s
        ):
            raise ValidationError(
                f"a shadow's budget must be > 0 and at most the routing budget ({budget_s:g} s), got {b!r}",
                field="shadow_budget_s",
            )
        out[name] = float(b)
    return out


def _rule_name(obj: Any, fn: Any) -> str:
    name = getattr(obj, "name", None)
    return name if isinstance(name, str) and name else str(getattr(fn, "__qualname__", type(obj).__name__))


def _answer(result: RuleResult, fallback: RoutingDecision) -> tuple[int, str, dict[str, Any]]:
    """``finish``'s arguments for answering with one rule's result (its fallback unless ``ok``)."""
    if result.outcome == "ok":
        return 200, "ok", {"decision": result.decision, "rule": result.rule}
    outcome = "error" if result.outcome == "error" else "fallback"
    return 200, outcome, {"decision": fallback, "fallback": True, "error": result.error}


def _finished(task: asyncio.Future[RuleResult]) -> RuleResult | None:
    if not task.done() or task.cancelled() or task.exception() is not None:
        return None
    return task.result()


def _count_in(
    canary: Canary, control: asyncio.Future[RuleResult], candidates: Mapping[str, asyncio.Future[RuleResult]]
) -> None:
    """Count a request's results in the canary as soon as the control and every candidate have
    finished (each within its budget): the control first, then the candidates, so the counts the
    automatic stop compares never depend on which thread finished first. A result that did not
    run (``busy``) is neither a success nor a failure."""
    tasks = [control, *candidates.values()]
    left = len(tasks)

    def one_done(_: asyncio.Future[RuleResult]) -> None:
        nonlocal left
        left -= 1
        if left:
            return
        result = _finished(control)
        if result is not None and result.outcome != "busy":
            canary.observe_control(result.failed)
        for name, task in candidates.items():
            result = _finished(task)
            if result is not None and result.outcome != "busy":
                canary.observe(name, result.failed)

    for task in tasks:
        task.add_done_callback(one_done)


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
    if kit.shadows:
        budgets = ", ".join(f"{s.name} ({min(s.budget_s, kit.budget_s):g} s)" for s in kit.shadows)
        lines.append(f"Shadows (never delay the answer): {budgets}")
    if kit.canary is not None:
        lines.append(
            f"{kit.canary!r}; admin: {'/admin/canary' if kit.admin_token else 'off (no admin token)'}"
        )
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
