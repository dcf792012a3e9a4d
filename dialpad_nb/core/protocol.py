"""The routing request as Dialpad sends it, and how Dialpad reads the answer.

One implementation for everything that plays Dialpad's part on the wire: the sandbox's
dispatch (:mod:`dialpad_nb.sandbox.dispatch`) and the replay probe
(:mod:`dialpad_nb.health.endpoint_probe`) both POST with :func:`request_route` and classify
with :func:`classify_answer`, so an answer is ``ok`` or an error for the same reasons
whoever sent the request.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from .errors import ValidationError
from .models import TARGET_TYPES, RoutingDecision, RoutingRequest, parse_routing_answer, strip_query
from .policy import reply_outcome
from .signing import sign

__all__ = ["ATTEMPT_KEYS", "BOOL_ATTEMPT_KEYS", "RouteResult", "classify_answer", "request_route"]

ATTEMPT_KEYS: tuple[str, ...] = (
    "attempt_id",
    "call_id",
    "router_id",
    "external_number",
    "internal_number",
    "at",
    "latency_ms",
    "outcome",
    "http_status",
    "detail",
    "target_id",
    "target_type",
    "is_default",
    "error_count",
    "disabled_after",
    "enabled_before",
)
"""Keys of one call attempt as the sandbox's control API returns it (``at`` in ms since the
epoch), in order: what happened to one inbound call on a router. The sandbox stores these
(:mod:`dialpad_nb.sandbox.store`, ``at`` as ``at_ms``) and the API client types them."""

BOOL_ATTEMPT_KEYS: tuple[str, ...] = ("is_default", "disabled_after", "enabled_before")
"""Attempt keys that are true/false (or null)."""

_DETAIL_BODY_CHARS = 200


@dataclass(frozen=True)
class RouteResult:
    """How one routing request went."""

    outcome: str
    latency_ms: float | None
    http_status: int | None = None
    detail: str | None = None
    decision: RoutingDecision | None = None
    answer: Any = None
    """The endpoint's decoded JSON answer, when it was a routing decision (``ok``)."""


def classify_answer(
    data: Any, unknown_target_reason: Callable[[int, str], str | None]
) -> RouteResult | RoutingDecision:
    """The decision in a decoded 2xx body, or a failed :class:`RouteResult` (latency 0; caller fills it).

    ``unknown_target_reason(id, type)`` returns None when the target exists, else why not."""
    if isinstance(data, Mapping):
        ttype = data.get("target_type")
        if isinstance(ttype, str) and ttype not in TARGET_TYPES:
            return RouteResult(
                "unknown_target", 0.0, detail=f"target_type {ttype!r} is not one of Dialpad's target types"
            )
    try:
        decision = parse_routing_answer(data)
    except ValidationError as exc:
        return RouteResult("invalid_response", 0.0, detail=f"answer is not a routing decision: {exc}")
    problem = unknown_target_reason(decision.target_id, decision.target_type)
    if problem is not None:
        return RouteResult("unknown_target", 0.0, detail=problem)
    return decision


def request_route(
    http: httpx.Client,
    *,
    routing_url: str,
    secret: str | None,
    request: RoutingRequest,
    deadline_s: float,
    unknown_target_reason: Callable[[int, str], str | None],
    timer: Callable[[], float] = time.perf_counter,
) -> RouteResult:
    """POST ``request`` to ``routing_url`` as Dialpad does and classify the outcome.

    ``deadline_s`` is real time (``timer``, seconds); an answer arriving after it is
    a ``timeout`` even if it was valid. Never raises for anything the endpoint does."""
    if secret:
        content = sign(request.to_json(), secret).encode("ascii")
        headers = {"Content-Type": "application/jwt"}
    else:
        content = json.dumps(request.to_json(), separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json"}
    where = strip_query(routing_url)
    started = timer()
    try:
        resp = http.post(routing_url, content=content, headers=headers, timeout=httpx.Timeout(deadline_s))
        body = resp.content
    except httpx.TimeoutException:
        latency = (timer() - started) * 1000
        return RouteResult("timeout", latency, detail=f"no answer from {where} within {deadline_s:g} s")
    except (httpx.TransportError, httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
        latency = (timer() - started) * 1000
        reason = str(exc) or type(exc).__name__
        return RouteResult("connect_error", latency, detail=f"could not reach {where}: {reason}")
    latency = (timer() - started) * 1000
    status = resp.status_code
    early = reply_outcome(status, latency, deadline_ms=deadline_s * 1000)
    if early == "timeout":
        return RouteResult(
            "timeout",
            latency,
            http_status=status,
            detail=f"answer from {where} came after the {deadline_s:g} s deadline",
        )
    if early == "http_status":
        snippet = body[:_DETAIL_BODY_CHARS].decode("utf-8", "replace").strip()
        return RouteResult(
            "http_status",
            latency,
            http_status=status,
            detail=f"HTTP {status} from {where}" + (f": {snippet}" if snippet else ""),
        )
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        snippet = body[:60].decode("utf-8", "replace")
        return RouteResult("invalid_response", latency, status, f"answer is not JSON: {snippet!r}")
    verdict = classify_answer(data, unknown_target_reason)
    if isinstance(verdict, RouteResult):
        return RouteResult(verdict.outcome, latency, status, verdict.detail)
    return RouteResult("ok", latency, status, None, verdict, data)
