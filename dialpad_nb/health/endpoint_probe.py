"""HTTP replay probe: send logged routing requests to an endpoint, as Dialpad would.

::

    result = probe(served.url, calls, secret=SECRET, rate=50, concurrency=4, max_requests=500)
    result.attempts        # the attempts DataFrame (source "probe"), classified like the sandbox
    result                 # ProbeResult(sent=500, ok=..., requests_per_s=..., stopped='done')

Each request is what Dialpad sends (with ``secret``: the compact HS256 JWT as
the body, ``Content-Type: application/jwt``; without: compact JSON), with the
policy's deadline, and its outcome is classified by the same code as the sandbox's dispatch
(:func:`dialpad_nb.core.protocol.request_route`): ``ok``, ``timeout``,
``connect_error``, ``http_status``, ``invalid_response``, ``unknown_target``.

Safety: the probe is bounded in count (``max_requests``) and in time
(``max_seconds``: no request starts after it), and it only talks to loopback
(``127.0.0.0/8``, ``::1``, ``localhost``) unless ``allow_remote=True``.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import pandas as pd

from ..core.clock import Clock, SystemClock, to_ms
from ..core.errors import ValidationError
from ..core.models import RoutingRequest, is_loopback_url
from ..core.policy import DIALPAD, Policy
from ..core.protocol import request_route
from .attempts import attempts_from_records

__all__ = ["FaultSwitch", "ProbeResult", "is_loopback_url", "probe", "routing_requests"]


@dataclass(frozen=True)
class ProbeResult:
    """What a probe run sent and what came back."""

    attempts: pd.DataFrame
    """One attempt per request sent (``ATTEMPT_COLUMNS``, ``source == "probe"``)."""
    rejects: pd.DataFrame
    """Payloads that could not be sent (``position``, ``reason``)."""
    offered: int
    """Valid payloads offered."""
    elapsed_s: float
    stopped: str
    """``done`` (all sent), ``max_requests`` or ``max_seconds``."""

    @property
    def sent(self) -> int:
        return len(self.attempts)

    @property
    def requests_per_s(self) -> float:
        return self.sent / self.elapsed_s if self.elapsed_s > 0 else float("nan")

    def outcome_counts(self) -> dict[str, int]:
        counts = self.attempts["outcome"].value_counts()
        return {str(k): int(v) for k, v in counts.items() if v}

    def __repr__(self) -> str:
        return (
            f"ProbeResult(sent={self.sent}, outcomes={self.outcome_counts()}, rejects={len(self.rejects)}, "
            f"stopped={self.stopped!r})"
        )


def _to_request(item: Any) -> RoutingRequest:
    if isinstance(item, RoutingRequest):
        return item
    if isinstance(item, Mapping):
        data = {k: (None if _is_missing(v) else v) for k, v in item.items()}
        started = data.get("date_started")
        if started is not None and not isinstance(started, (int, float)):
            data["date_started"] = to_ms(started, field="date_started")
        return RoutingRequest.from_json(data)
    raise ValidationError(
        f"expected a RoutingRequest or a mapping, got {type(item).__name__}", field="payload"
    )


def _is_missing(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def routing_requests(payloads: pd.DataFrame | Iterable[Any]) -> tuple[list[RoutingRequest], pd.DataFrame]:
    """Routing requests from a calls DataFrame (``dialpad_nb.calls.read.read_calls``),
    ``RoutingRequest`` objects or dicts; plus the ones refused, with reasons."""
    items = payloads.to_dict("records") if isinstance(payloads, pd.DataFrame) else list(payloads)
    good: list[RoutingRequest] = []
    bad: list[dict[str, Any]] = []
    for position, item in enumerate(items):
        try:
            good.append(_to_request(item))
        except ValidationError as exc:
            bad.append({"position": position, "reason": str(exc)})
    return good, pd.DataFrame(bad, columns=["position", "reason"])


def probe(
    url: str,
    payloads: pd.DataFrame | Iterable[Any],
    *,
    secret: str | None = None,
    rate: float | None = None,
    concurrency: int = 4,
    policy: Policy = DIALPAD,
    max_requests: int = 1000,
    max_seconds: float = 60.0,
    allow_remote: bool = False,
    progress: bool = True,
    router_id: int | None = None,
    unknown_target_reason: Callable[[int, str], str | None] | None = None,
    transport: httpx.BaseTransport | None = None,
    clock: Clock | None = None,
    timer: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> ProbeResult:
    """POST ``payloads`` to ``url`` as Dialpad would and classify each answer.

    ``rate``: requests per second (request *i* starts no earlier than *i/rate*
    after the start; ``None`` = as fast as ``concurrency`` allows).
    ``concurrency``: requests in flight at once. Each request has the policy's
    deadline (``policy.deadline_s``). ``unknown_target_reason(id, type)`` returns None
    for a target that exists (else the reason, → ``unknown_target``); by
    default every id of a known type is accepted. ``clock`` stamps the attempts'
    ``time`` (wall clock by default); ``timer``/``sleep`` pace the run (inject
    them to run a schedule without waiting)."""
    if not is_loopback_url(url) and not allow_remote:
        host = urlsplit(url).hostname
        raise ValidationError(
            f"{host!r} is not a loopback address; the probe only sends to 127.0.0.1/localhost "
            "unless you pass allow_remote=True",
            field="url",
        )
    if concurrency < 1:
        raise ValidationError(f"must be >= 1, got {concurrency!r}", field="concurrency")
    if rate is not None and rate <= 0:
        raise ValidationError(f"must be > 0 requests/s, got {rate!r}", field="rate")
    if max_requests < 0:
        raise ValidationError(f"must be >= 0, got {max_requests!r}", field="max_requests")
    if max_seconds <= 0:
        raise ValidationError(f"must be > 0, got {max_seconds!r}", field="max_seconds")
    requests, rejects = routing_requests(payloads)
    todo = requests[:max_requests]
    clock = clock or SystemClock()
    known = unknown_target_reason or (lambda _id, _type: None)
    deadline_s = policy.deadline_s
    records: list[dict[str, Any]] = []
    lock = threading.Lock()
    timed_out = threading.Event()
    start = timer()

    def send(i: int, req: RoutingRequest, http: httpx.Client) -> None:
        if rate is not None:
            if i / rate >= max_seconds:  # its slot is past the time budget: never started
                timed_out.set()
                return
            wait = start + i / rate - timer()
            if wait > 0:
                sleep(wait)
        if timer() - start >= max_seconds:
            timed_out.set()
            return
        at = clock.now_ms()
        res = request_route(
            http,
            routing_url=url,
            secret=secret,
            request=req,
            deadline_s=deadline_s,
            unknown_target_reason=known,
        )
        decision = res.decision
        rec = {
            "time": at,
            "call_id": req.call_id,
            "router_id": router_id,
            "latency_ms": None if res.latency_ms is None else round(res.latency_ms, 3),
            "outcome": res.outcome,
            "http_status": res.http_status,
            "target_id": decision.target_id if decision else None,
            "target_type": decision.target_type if decision else None,
            "is_default": res.outcome != "ok",
        }
        with lock:
            records.append(rec)

    from tqdm.auto import tqdm

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    with (
        httpx.Client(transport=transport, limits=limits, trust_env=False) as http,
        ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="probe") as pool,
        tqdm(total=len(todo), disable=not progress, desc="probe", unit="req") as bar,
    ):
        futures = [pool.submit(send, i, req, http) for i, req in enumerate(todo)]
        for fut in as_completed(futures):
            fut.result()
            bar.update(1)
    elapsed = timer() - start
    if timed_out.is_set():
        stopped = "max_seconds"
    elif len(requests) > max_requests:
        stopped = "max_requests"
    else:
        stopped = "done"
    return ProbeResult(
        attempts=attempts_from_records(records, source="probe"),
        rejects=rejects,
        offered=len(requests),
        elapsed_s=elapsed,
        stopped=stopped,
    )


class FaultSwitch:
    """An ASGI wrapper that degrades an endpoint on demand, to rehearse outages.

    ``switch = FaultSwitch(app)``; serve ``switch`` instead of ``app``. Then
    ``switch.slow(0.8)`` delays every request by 0.8 s before the app answers,
    ``switch.fail(503)`` answers every request with that status (the app is not
    called), ``switch.restore()`` passes requests straight through again.
    Deterministic: the mode changes only when told to."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.delay_s = 0.0
        self.status: int | None = None

    @property
    def mode(self) -> str:
        if self.status is not None:
            return f"fail {self.status}"
        return f"slow {self.delay_s:g} s" if self.delay_s else "healthy"

    def slow(self, delay_s: float) -> FaultSwitch:
        if delay_s < 0:
            raise ValidationError(f"must be >= 0, got {delay_s!r}", field="delay_s")
        self.delay_s, self.status = float(delay_s), None
        return self

    def fail(self, status: int = 503) -> FaultSwitch:
        if not 100 <= status <= 599:
            raise ValidationError(f"must be an HTTP status, got {status!r}", field="status")
        self.delay_s, self.status = 0.0, int(status)
        return self

    def restore(self) -> FaultSwitch:
        self.delay_s, self.status = 0.0, None
        return self

    def __repr__(self) -> str:
        return f"FaultSwitch({self.mode})"

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] == "http":
            status, delay = self.status, self.delay_s
            if status is not None:
                body = json.dumps({"error": {"code": status, "message": "fault injected"}}).encode()
                headers = [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ]
                await send({"type": "http.response.start", "status": status, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
            if delay:
                # read the request first, as a slow proxy would: the app then sees the whole
                # body even if the caller has given up (its answer is dropped quietly)
                messages = [await receive()]
                while messages[-1].get("type") == "http.request" and messages[-1].get("more_body"):
                    messages.append(await receive())
                await asyncio.sleep(delay)
                replay = iter(messages)

                async def buffered() -> dict:
                    return next(replay, None) or await receive()

                await self.app(scope, buffered, send)
                return
        await self.app(scope, receive, send)
