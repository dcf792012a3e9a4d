"""Inbound-call dispatch: what Dialpad does with a call to a router's number.

Exactly ``shared/dialpad/BEHAVIOUR.md`` ("What happens on an inbound call",
"Auto-disable"), with the rule itself in :class:`dialpad_nb.core.policy.RouterHealthState`
(built per call from the errors stored in SQLite, so a PATCH's
``reset_error_count`` or re-enable is seen by the next call):

1. disabled router → the default target, no request (``skipped_disabled``);
2. else POST the routing request to ``routing_url`` — JSON, or with a secret an
   HS256 JWT as the body with ``Content-Type: application/jwt`` — within the
   deadline (real time, ``deadline_s``; default ``policy.deadline_s``);
3. a valid answer naming a target in the company → that target (``ok``);
   otherwise the default target and an error: ``timeout`` (no answer in time),
   ``connect_error`` (no HTTP answer), ``http_status`` (non-2xx),
   ``invalid_response`` (not JSON, or not ``{"target_id", "target_type"}``),
   ``unknown_target`` (a target type outside Dialpad's enum, or a target id that
   is not in the company directory / not a router, or of another type);
4. the error that makes the count in the window exceed ``policy.error_threshold``
   disables the router and puts an email to the office admin in the outbox.

The deadline is enforced per connect/write/read step by httpx and checked on
the total afterwards: an answer that arrives complete but after ``deadline_s``
is still a ``timeout`` (with its ``http_status``); a trickling endpoint can hold
the sandbox's worker up to a few deadlines, never the outcome.

Times (the attempt's ``at``, the window) are the sandbox clock's; a call's ``at``
moves a simulated clock forward and may not be earlier than its "now"
(``ValidationError`` on field ``at`` → HTTP 400). Calls to one router are
serialised (a per-router lock held for the whole attempt), so the count and the
order of errors are exact; calls to different routers run in parallel.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from ..core.clock import Clock, check_ms, to_ms
from ..core.directory import Directory
from ..core.errors import DialpadError, InvalidType, ValidationError
from ..core.models import (
    RoutingDecision,
    RoutingRequest,
    is_loopback_url,
    parse_id,
    strip_query,
    validate_e164,
)
from ..core.policy import DIALPAD, ErrorWindow, Policy, RouterHealthState, is_error
from ..core.protocol import ATTEMPT_KEYS, BOOL_ATTEMPT_KEYS, RouteResult, request_route
from .store import MissingRecord

__all__ = [
    "CALL_ID_BASE",
    "Dispatcher",
    "NumberNotAssigned",
]


CALL_ID_BASE = 7_000_000_000_000_000
"""Minted call ids are ``CALL_ID_BASE + n`` (n = 1, 2, ... durable across restarts)."""

_FALLBACK_ADMIN = "office-admin@sandbox.invalid"


class NumberNotAssigned(DialpadError, LookupError):
    """The dialled number is not assigned to any call router (→ HTTP 404)."""

    def __init__(self, number: str, *, field: str = "to") -> None:
        self.number = number
        self.field = field
        super().__init__(f"{field}: {number} is not assigned to a call router")


# --------------------------------------------------------------------------- the dispatcher


class Dispatcher:
    """Places inbound calls on the sandbox's routers and records every attempt.

    ``store`` is a :class:`~dialpad_nb.sandbox.store.SandboxStore`; ``clock`` the
    sandbox clock (simulated or system); ``deadline_s`` the real-time HTTP
    deadline (default ``policy.deadline_s``); ``transport`` an optional httpx
    transport (tests). Routing requests go only to loopback URLs (127.0.0.0/8, ::1,
    localhost) unless ``allow_remote_routing`` (or a transport) is given; a router
    pointing elsewhere gets a ``connect_error`` attempt saying so. Thread-safe."""

    def __init__(
        self,
        store: Any,
        clock: Clock,
        *,
        policy: Policy = DIALPAD,
        deadline_s: float | None = None,
        transport: httpx.BaseTransport | None = None,
        directory: Directory,
        allow_remote_routing: bool = False,
        on_call: Callable[..., None] | None = None,
    ) -> None:
        self.store = store
        self.on_call = on_call
        """Called inside the attempt's transaction with ``router``, ``record`` (the attempt),
        ``request`` (the RoutingRequest, None when none was due) and ``result`` (the
        RouteResult, None when skipped): the call history hook (:mod:`.history`)."""
        # With a real network transport the sandbox only calls endpoints on this machine, unless
        # told otherwise: an offline tool must not send call data to whatever URL a router names.
        self.remote_allowed = allow_remote_routing or transport is not None
        self.clock = clock
        self.policy = policy
        self.deadline_s = float(policy.deadline_s if deadline_s is None else deadline_s)
        if self.deadline_s <= 0:
            raise ValidationError(f"must be > 0, got {deadline_s!r}", field="routing_deadline_s")
        if transport is not None and not isinstance(transport, httpx.BaseTransport):
            raise InvalidType(
                f"transport: dispatch sends with a sync httpx client; got {type(transport).__name__} "
                "(use httpx.MockTransport or another httpx.BaseTransport)"
            )
        self.directory = directory
        self._http = httpx.Client(
            transport=transport,
            trust_env=False,
            follow_redirects=False,
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=32),
        )
        self._locks: dict[int, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    def __repr__(self) -> str:
        return f"Dispatcher(deadline_s={self.deadline_s:g}, policy={self.policy!r})"

    def close(self) -> None:
        self._http.close()

    def router_lock(self, router_id: int) -> threading.Lock:
        """The lock that serialises attempts on one router."""
        with self._locks_guard:
            lock = self._locks.get(router_id)
            if lock is None:
                lock = self._locks[router_id] = threading.Lock()
            return lock

    # ------------------------------------------------------------------ targets

    def unknown_target_reason(self, target_id: int, target_type: str) -> str | None:
        """None if ``target_type:target_id`` exists in the company (a directory entry or a call
        router), else why not."""
        if target_type == "callrouter":
            if self.store.get_router(target_id) is not None:
                return None
            return f"target_id {target_id} is not a call router in the company"
        return self.directory.unknown_target_reason(target_id, target_type)

    # ------------------------------------------------------------------ time

    def _take_time(self, at: Any, field: str = "at") -> int:
        """The attempt's time: now, or ``at`` (which moves a simulated clock forward)."""
        if at is None:
            return self.clock.now_ms()
        at_ms = check_ms(to_ms(at, field=field), field=field)
        setter = getattr(self.clock, "set", None)
        if setter is None:
            now = self.clock.now_ms()
            if at_ms != now:
                raise ValidationError(
                    "this sandbox runs on the system clock; 'at' is only accepted on a simulated clock",
                    field=field,
                )
            return now
        try:
            return setter(at_ms)
        except ValueError:
            raise ValidationError(
                f"{at_ms} is earlier than the sandbox clock's now ({self.clock.now_ms()}); "
                "the simulated clock only moves forward",
                field=field,
            ) from None

    # ------------------------------------------------------------------ one call

    def check_call(self, to: Any, from_: Any, *, prefix: str = "") -> dict[str, Any]:
        """Validate a call's numbers; the router it reaches. Raises ValidationError/NumberNotAssigned."""
        validate_e164(to, field=f"{prefix}to")
        validate_e164(from_, field=f"{prefix}from")
        router = self.store.router_for_number(to)
        if router is None:
            raise NumberNotAssigned(to, field=f"{prefix}to")
        return router

    def place_call(
        self, to: str, from_: str, *, at: Any = None, call_id: Any = None, prefix: str = ""
    ) -> dict[str, Any]:
        """Dispatch one inbound call from ``from_`` to ``to``; the attempt record.

        Raises ValidationError (bad number, bad or past ``at``, bad ``call_id``)
        or NumberNotAssigned."""
        router = self.check_call(to, from_, prefix=prefix)
        if call_id is not None:
            call_id = parse_id(call_id, field=f"{prefix}call_id")
        rid = int(router["id"])
        with self.router_lock(rid):
            router = self.store.get_router(rid)
            if router is None or to not in router["phone_numbers"]:
                raise NumberNotAssigned(to, field=f"{prefix}to")
            now = self._take_time(at, field=f"{prefix}at")
            if call_id is None:
                call_id = CALL_ID_BASE + self.store.next_counter("call_id")
            enabled_before = bool(router["enabled"])
            default = RoutingDecision(int(router["default_target_id"]), router["default_target_type"])
            result: RouteResult | None = None
            request = None
            if enabled_before:
                request = RoutingRequest(
                    date_started=now, call_id=call_id, external_number=from_, internal_number=to
                )
            if enabled_before and not self.remote_allowed and not is_loopback_url(router["routing_url"]):
                result = RouteResult(
                    "connect_error",
                    None,
                    detail=(
                        f"not sent: {strip_query(router['routing_url'])} is not on this machine; the sandbox "
                        "only calls loopback endpoints unless started with allow_remote_routing=True "
                        "(CLI: --allow-remote-routing)"
                    ),
                )
            elif request is not None:
                result = request_route(
                    self._http,
                    routing_url=router["routing_url"],
                    secret=router.get("secret"),
                    request=request,
                    deadline_s=self.deadline_s,
                    unknown_target_reason=self.unknown_target_reason,
                )
            return self._record(router, now, call_id, from_, to, enabled_before, default, result, request)

    def _record(
        self,
        router: Mapping[str, Any],
        now: int,
        call_id: int,
        from_: str,
        to: str,
        enabled_before: bool,
        default: RoutingDecision,
        result: RouteResult | None,
        request: RoutingRequest | None = None,
    ) -> dict[str, Any]:
        rid = int(router["id"])
        window_ms = self.policy.window_ms
        with self.store.transaction():
            state = RouterHealthState(
                self.policy,
                enabled=enabled_before,
                error_times=self.store.error_times(rid, since_ms=now - window_ms),
            )
            error = result is not None and is_error(result.outcome)
            verdict = state.record(now, error=error)
            if error:
                self.store.add_error(rid, now)
                self.store.prune_errors(rid, older_than_or_at_ms=now - window_ms)
            if verdict.disabled_now:
                self.store.set_enabled(rid, False)
                self._email_admin(router, now, verdict.error_count, result)
            target = result.decision if result is not None and result.decision is not None else default
            record = {
                "call_id": call_id,
                "router_id": rid,
                "external_number": from_,
                "internal_number": to,
                "at_ms": now,
                "latency_ms": None
                if result is None or result.latency_ms is None
                else round(result.latency_ms, 3),
                "outcome": "skipped_disabled" if result is None else result.outcome,
                "http_status": None if result is None else result.http_status,
                "detail": (
                    "router is disabled: default target, no request" if result is None else result.detail
                ),
                "target_id": target.target_id,
                "target_type": target.target_type,
                "is_default": target == default,
                "error_count": verdict.error_count,
                "disabled_after": verdict.disabled_now,
                "enabled_before": enabled_before,
            }
            record["attempt_id"] = self.store.add_attempt(record)
            if self.on_call is not None:
                self.on_call(router=router, record=record, request=request, result=result)
        return attempt_json(record)

    def _email_admin(
        self, router: Mapping[str, Any], now: int, count: int, result: RouteResult | None
    ) -> None:
        office_id = int(router["office_id"])
        to_addr = self.directory.admin_email(office_id) or _FALLBACK_ADMIN
        minutes = self.policy.window_s / 60
        name, rid = router["name"], router["id"]
        subject = f"Call router {name!r} ({rid}) was disabled after {count} routing errors"
        last = result.detail if result is not None and result.detail else "(no detail)"
        body = (
            f"Your call router {name!r} (id {rid}) in {self.directory.name_of(office_id, 'office')} "
            f"had {count} routing errors "
            f"in the past {minutes:g} minutes (more than {self.policy.error_threshold}), so it has "
            f"been disabled.\n\n"
            f"Routing URL: {strip_query(router['routing_url'])}\n"
            f"Last error: {last}\n\n"
            f"While it is disabled every call goes to its default target "
            f"({self.directory.name_of(router['default_target_id'], router['default_target_type'])}) without a request.\n"
            f'Re-enable it with PATCH {{"enabled": true}} (the error count is kept) or '
            f'{{"enabled": true, "reset_error_count": true}}.\n'
        )
        self.store.add_email(at_ms=now, router_id=rid, to_addr=to_addr, subject=subject, body=body)

    # ------------------------------------------------------------------ many calls

    def place_calls(
        self, calls: Iterable[Mapping[str, Any]], *, concurrency: int = 1
    ) -> list[dict[str, Any]]:
        """Dispatch many calls; records in the input order.

        Every call is validated first (numbers, assigned, ``call_id``, ``at`` not
        going backwards), so a bad one rejects the whole batch before any call is
        placed (the error names ``calls[i].field``). ``concurrency`` > 1 places
        calls in parallel threads (calls to one router stay serialised)."""
        items = list(calls)
        prepared = []
        last_at = None
        for i, c in enumerate(items):
            prefix = f"calls[{i}]."
            if not isinstance(c, Mapping):
                raise ValidationError(f"expected an object, got {type(c).__name__}", field=f"calls[{i}]")
            to, from_ = c.get("to"), c.get("from", c.get("from_"))
            self.check_call(to, from_, prefix=prefix)
            if c.get("call_id") is not None:
                parse_id(c["call_id"], field=f"{prefix}call_id")
            at = c.get("at")
            if at is not None:
                at_ms = check_ms(to_ms(at, field=f"{prefix}at"), field=f"{prefix}at")
                floor = max(self.clock.now_ms(), last_at or 0)
                if at_ms < floor:
                    raise ValidationError(
                        f"{at_ms} is earlier than {floor} (the clock or an earlier call); "
                        "times in a batch must not go backwards",
                        field=f"{prefix}at",
                    )
                last_at = at_ms
            prepared.append((to, from_, at, c.get("call_id"), prefix))

        def one(p):
            to, from_, at, call_id, prefix = p
            return self.place_call(to, from_, at=at, call_id=call_id, prefix=prefix)

        if concurrency <= 1 or len(prepared) <= 1:
            return [one(p) for p in prepared]
        with ThreadPoolExecutor(max_workers=min(concurrency, len(prepared))) as pool:
            return list(pool.map(one, prepared))

    # ------------------------------------------------------------------ insight

    def router_errors(self, router_id: int) -> dict[str, Any]:
        """The router's error count in the window now (sandbox-only insight)."""
        router = self.store.get_router(router_id)
        if router is None:
            raise MissingRecord(f"no call router with id {router_id}")
        now = self.clock.now_ms()
        window = ErrorWindow(
            self.policy, self.store.error_times(router_id, since_ms=now - self.policy.window_ms)
        )
        return {
            "router_id": int(router_id),
            "error_count": window.count(now),
            "window_s": self.policy.window_s,
            "threshold": self.policy.error_threshold,
            "enabled": bool(router["enabled"]),
            "error_times": window.times(),
        }


def attempt_json(row: Mapping[str, Any]) -> dict[str, Any]:
    """A stored attempt row (``at_ms``) as the API's attempt record (``at``), keys in order."""
    out = {k: row.get(k) for k in ATTEMPT_KEYS if k != "at"}
    out["at"] = row["at_ms"]
    for k in BOOL_ATTEMPT_KEYS:
        if out[k] is not None:
            out[k] = bool(out[k])
    return {k: out[k] for k in ATTEMPT_KEYS}
