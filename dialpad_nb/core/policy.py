"""Dialpad's call-router numbers and the one live error-window rule.

Everything that depends on Dialpad's behaviour (the sandbox's dispatch, the
client's PATCH guard, the health analytics) reads its numbers from here, so
that when real traffic proves an assumption wrong it changes in one place.
Semantics: ``shared/dialpad/BEHAVIOUR.md``.

Times are integer milliseconds since the Unix epoch, as in Dialpad's
``date_started``.

Assumptions (Dialpad is silent on these; see ``ASSUMPTIONS``):

* window edge — an error counts while it is *less than* ``window_s`` old: an
  error at ``e`` is in the window at ``t`` iff ``t - window_ms < e <= t``.
  An error exactly 60 minutes old has expired.
* the error that makes the count exceed the threshold is the one that
  disables the router (the 11th inside any window); that call itself still goes
  to the default target, like every error.
* ``PATCH {"enabled": true}`` keeps the errors (they keep expiring normally);
  ``reset_error_count`` forgets them all.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .errors import ValidationError

__all__ = [
    "API_OPERATIONS",
    "ASSUMPTIONS",
    "DIALPAD",
    "EVENT_DELIVERY",
    "RATE_LIMITS_PER_MIN",
    "EventDelivery",
    "WARNING_LEVELS",
    "WarningLevels",
    "AttemptVerdict",
    "KEY_SCOPES",
    "KeyNeed",
    "ERROR_OUTCOMES",
    "OUTCOMES",
    "ErrorWindow",
    "Policy",
    "RouterHealthState",
    "is_error",
    "key_need",
    "reply_outcome",
]


@dataclass(frozen=True)
class Policy:
    """Dialpad's limits for call routers. ``DIALPAD`` holds the real values;
    what-if analyses build their own with :meth:`replace`."""

    deadline_s: float = 5.0
    """The routing endpoint must answer within this many seconds."""
    error_threshold: int = 10
    """The router is disabled when its errors in the window *exceed* this."""
    window_s: float = 3600.0
    """Length of the sliding error window."""
    patch_interval_s: float = 300.0
    """At most one ``PATCH /callrouters/{id}`` per router per this many seconds."""
    min_secret_length: int = 32
    """Dialpad asks for router secrets of at least this many characters."""
    company_requests_per_s: float = field(default=20.0, repr=False)
    """Dialpad's API allows this many requests per second per company (all endpoints together)."""
    endpoint_requests_per_min: float = field(default=1200.0, repr=False)
    """... and this many per minute per endpoint (one method on one path template)."""

    def __post_init__(self) -> None:
        if self.deadline_s <= 0:
            raise ValidationError(f"must be > 0, got {self.deadline_s!r}", field="deadline_s")
        if self.error_threshold < 0:
            raise ValidationError(f"must be >= 0, got {self.error_threshold!r}", field="error_threshold")
        if self.window_s <= 0:
            raise ValidationError(f"must be > 0, got {self.window_s!r}", field="window_s")
        if self.patch_interval_s < 0:
            raise ValidationError(f"must be >= 0, got {self.patch_interval_s!r}", field="patch_interval_s")
        if not self.company_requests_per_s > 0:
            raise ValidationError(
                f"must be > 0, got {self.company_requests_per_s!r}", field="company_requests_per_s"
            )
        if not self.endpoint_requests_per_min > 0:
            raise ValidationError(
                f"must be > 0, got {self.endpoint_requests_per_min!r}", field="endpoint_requests_per_min"
            )

    @property
    def deadline_ms(self) -> int:
        return round(self.deadline_s * 1000)

    @property
    def window_ms(self) -> int:
        return round(self.window_s * 1000)

    @property
    def patch_interval_ms(self) -> int:
        return round(self.patch_interval_s * 1000)

    def replace(self, **changes: Any) -> Policy:
        """A copy with some numbers changed (for what-if analyses)."""
        from dataclasses import replace

        return replace(self, **changes)


DIALPAD = Policy()
"""The numbers Dialpad documents."""

ASSUMPTIONS: dict[str, str] = {
    "window_edge": "an error counts while it is less than window_s old (exactly 60 min old has expired)",
    "disabling_error": "the error that makes the count exceed the threshold disables the router",
    "reenable_keeps_errors": "PATCH enabled=true keeps errors in the window; reset_error_count clears them",
    "error_body": 'error bodies are {"error": {"code": <status>, "message": "..."}}; 429 carries Retry-After',
    "jwt_transport": "a signed routing request is the compact JWT as the body, Content-Type application/jwt",
    "action_route": 'an answer {"action": "route", "target_id", "target_type"} is accepted as a plain answer',
    "unknown_target_id": "a target id that does not exist in the company is an error",
    "rate_limit_shape": (
        "the company and per-endpoint limits are token buckets (burst = one period's allowance, refilled "
        "evenly); an endpoint is one method on one path template; over a limit: 429 with Retry-After"
    ),
    "name_url_limits": "router names, routing URLs and secrets have length limits (core.models MAX_*_LENGTH)",
    # call history (GET /api/v2/call) and call events: read by core.history, sandbox.history,
    # calls.history, health.history; BEHAVIOUR.md "Call history", "Call events"
    "breadcrumb_per_request": "a routed call has one callrouter breadcrumb per routing request "
    "(the first is the one read); none when no request was made",
    "breadcrumb_request": "a breadcrumb's request is the routing payload Dialpad sent (the JWT's claims when signed)",
    "breadcrumb_error": 'a breadcrumb whose response has "error" is an error: {"error": '
    'timeout|connect_error|http_status|invalid_body|unknown_target, "status", "latency_ms"}; '
    "any other response is the endpoint's parsed answer (ok)",
    "breadcrumb_unknown_error": "an error name we do not know still counts as an error: http_status when "
    "its status is not 2xx, else invalid_response",
    "breadcrumb_target": "a breadcrumb's target is what Dialpad used: the endpoint's answer, or the "
    "default target after an error (the logged decision for replay)",
    "breadcrumb_latency": "latency is the error response's latency_ms; Dialpad records none for a good answer",
    "no_breadcrumb_disabled": "a call that came in through a router without a breadcrumb went to the "
    "default target while the router was disabled (skipped_disabled, no request)",
    "sandbox_calls_concluded": "the sandbox concludes a call at once: its ring, answer and hang-up times "
    "are simulated (seeded) after date_started, and call.list shows it immediately",
    "group_calls_only": "a group_calls_only subscription gets only calls whose final target is an "
    "office, department or call centre",
    "event_jwt": "a webhook with a secret gets the compact HS256 JWT of the event as the body, "
    "Content-Type application/jwt (as for routing requests)",
    # the ops watcher and dashboard (dialpad_nb.ops): WARNING_LEVELS
    "warning_level": "a router is near its disable when its error budget left is <= 3 or the forecast "
    "(health.budget, pace of the last 15 min) disables it in under 30 min; the incident is resolved only "
    "when it is enabled with a budget >= 6 and no forecast under 60 min (hysteresis: no flapping)",
    "event_delivery": "call events are delivered at least once: a non-2xx answer or no answer within "
    "EVENT_DELIVERY.timeout_s is retried with exponential backoff, then recorded as failed; "
    "receivers de-duplicate on (call_id, state)",
}


OUTCOMES: tuple[str, ...] = (
    "ok",
    "timeout",
    "connect_error",
    "http_status",
    "invalid_response",
    "unknown_target",
    "skipped_disabled",
)
"""Every outcome of one call attempt, as recorded by the sandbox and read by ``health``."""

ERROR_OUTCOMES: frozenset[str] = frozenset(OUTCOMES) - {"ok", "skipped_disabled"}
"""Outcomes that count as errors toward auto-disable."""


def is_error(outcome: str) -> bool:
    if outcome not in OUTCOMES:
        raise ValidationError(
            f"unknown outcome {outcome!r}; expected one of {', '.join(OUTCOMES)}", field="outcome"
        )
    return outcome in ERROR_OUTCOMES


def reply_outcome(status: int, latency_ms: float, *, deadline_ms: float) -> str | None:
    """How Dialpad sees an HTTP reply before reading its body.

    ``"timeout"`` when it came after the deadline (Dialpad has given up by then, whatever
    the status), else ``"http_status"`` when the status is not 2xx, else None (the body
    decides). The sandbox's dispatch and the attempt readers all classify with this.

    >>> reply_outcome(503, 6000.0, deadline_ms=5000), reply_outcome(503, 10.0, deadline_ms=5000)
    ('timeout', 'http_status')
    """
    if latency_ms > deadline_ms:
        return "timeout"
    if not 200 <= status < 300:
        return "http_status"
    return None


class ErrorWindow:
    """The errors of one router inside the sliding window.

    >>> w = ErrorWindow()
    >>> [w.add(t * 1000) for t in range(3)]
    [1, 2, 3]
    >>> w.count(3_600_000)      # the error at t=0 is exactly one hour old: expired
    2
    """

    __slots__ = ("_policy", "_times")

    def __init__(self, policy: Policy = DIALPAD, times: Iterable[int] = ()) -> None:
        self._policy = policy
        self._times: deque[int] = deque(sorted(int(t) for t in times))

    def _expire(self, now_ms: int) -> None:
        horizon = now_ms - self._policy.window_ms
        times = self._times
        while times and times[0] <= horizon:
            times.popleft()

    def count(self, now_ms: int) -> int:
        """Errors inside the window ending at ``now_ms``."""
        self._expire(now_ms)
        return len(self._times)

    def add(self, now_ms: int) -> int:
        """Record an error at ``now_ms``; return the count including it.

        Times must not go backwards (the sandbox's clock is monotonic)."""
        now_ms = int(now_ms)
        if self._times and now_ms < self._times[-1]:
            raise ValidationError(
                f"error at {now_ms} is earlier than the last one at {self._times[-1]}", field="now_ms"
            )
        self._expire(now_ms)
        self._times.append(now_ms)
        return len(self._times)

    def clear(self) -> None:
        self._times.clear()

    def times(self) -> list[int]:
        """The error times still held (some may have expired since the last call)."""
        return list(self._times)

    def exceeded(self, now_ms: int) -> bool:
        return self.count(now_ms) > self._policy.error_threshold


@dataclass
class AttemptVerdict:
    """What the rule decided for one call."""

    requested: bool
    """False when the router was disabled: no request was made."""
    error_count: int
    """Errors in the window after this call."""
    disabled_now: bool
    """True when this call's error disabled the router."""


class RouterHealthState:
    """One router's enabled flag and error window: Dialpad's auto-disable rule.

    The sandbox drives one of these per router, live; ``health`` computes the
    same thing vectorised and is property-tested against this class.
    """

    __slots__ = ("enabled", "policy", "window")

    def __init__(
        self, policy: Policy = DIALPAD, *, enabled: bool = True, error_times: Iterable[int] = ()
    ) -> None:
        self.policy = policy
        self.enabled = enabled
        self.window = ErrorWindow(policy, error_times)

    def error_count(self, now_ms: int) -> int:
        return self.window.count(now_ms)

    def record(self, now_ms: int, *, error: bool) -> AttemptVerdict:
        """Apply one inbound call's outcome at ``now_ms``.

        ``error`` is ignored while disabled: no request is made, so nothing
        can fail."""
        if not self.enabled:
            return AttemptVerdict(False, self.window.count(now_ms), False)
        if not error:
            return AttemptVerdict(True, self.window.count(now_ms), False)
        count = self.window.add(now_ms)
        if count > self.policy.error_threshold:
            self.enabled = False
            return AttemptVerdict(True, count, True)
        return AttemptVerdict(True, count, False)

    def patch(self, *, enabled: bool | None = None, reset_error_count: bool = False) -> None:
        """What ``PATCH {"enabled": ..., "reset_error_count": ...}`` does."""
        if reset_error_count:
            self.window.clear()
        if enabled is not None:
            self.enabled = bool(enabled)

    def reset(self) -> None:
        self.window.clear()


# --------------------------------------------------------------------------- call history and events

RATE_LIMITS_PER_MIN: dict[str, int] = {"call.list": 1200, "call.get_call_info": 10}
"""Dialpad's documented per-minute limits of the call-history operations (the client paces itself)."""


@dataclass(frozen=True)
class EventDelivery:
    """How call events are delivered to a webhook (assumption ``event_delivery``): up to
    ``attempts`` POSTs, the n-th retry ``backoff_s * factor ** (n - 1)`` seconds after the
    failure before it, each given ``timeout_s`` to answer 2xx."""

    attempts: int = 4
    backoff_s: float = 1.0
    factor: float = 2.0
    timeout_s: float = 5.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValidationError(f"must be >= 1, got {self.attempts!r}", field="attempts")
        if self.backoff_s < 0 or self.factor < 1:
            raise ValidationError("backoff_s must be >= 0 and factor >= 1", field="backoff_s")
        if self.timeout_s <= 0:
            raise ValidationError(f"must be > 0, got {self.timeout_s!r}", field="timeout_s")

    def retry_delay_s(self, failed_attempts: int) -> float:
        """Seconds to wait after the ``failed_attempts``-th failed POST (1, 2, ...)."""
        return self.backoff_s * self.factor ** (failed_attempts - 1)


EVENT_DELIVERY = EventDelivery()
"""The sandbox's delivery schedule: 4 tries, 1 s, 2 s, 4 s apart, 5 s each."""


@dataclass(frozen=True)
class WarningLevels:
    """When a router is *near* its auto-disable (assumption ``warning_level``): the watcher's and
    the dashboard's banner. An incident opens at ``budget_left <= warn_budget`` or an ETA under
    ``warn_eta_s``; it is resolved only once the router is enabled with ``budget_left >=
    clear_budget`` and no ETA under ``clear_eta_s`` (hysteresis)."""

    warn_budget: int = 3
    warn_eta_s: float = 1800.0
    clear_budget: int = 6
    clear_eta_s: float = 3600.0
    pace_window_s: float = 900.0
    """The forecast's recent pace: errors in this many seconds before now."""

    def __post_init__(self) -> None:
        if self.warn_budget < 0 or self.clear_budget <= self.warn_budget:
            raise ValidationError(
                f"need 0 <= warn_budget < clear_budget, got {self.warn_budget!r}, {self.clear_budget!r}",
                field="clear_budget",
            )
        if not 0 < self.warn_eta_s <= self.clear_eta_s:
            raise ValidationError(
                f"need 0 < warn_eta_s <= clear_eta_s, got {self.warn_eta_s!r}, {self.clear_eta_s!r}",
                field="warn_eta_s",
            )
        if not self.pace_window_s > 0:
            raise ValidationError(f"must be > 0, got {self.pace_window_s!r}", field="pace_window_s")


WARNING_LEVELS = WarningLevels()
"""The defaults: warn at a budget of 3 or under 30 min to disable; resolved at 6 and 60 min."""


# --------------------------------------------------------------------------- what an API key may do


@dataclass(frozen=True)
class KeyNeed:
    """One API operation: what it does, in words, and what Dialpad's reference asks of the key
    ("Requires scope: ``calls:list``", "Requires a company admin API key"). ``changes``: it creates,
    changes or deletes something in the company."""

    action: str
    scope: str | None = None
    admin: bool = False
    changes: bool = False


def _ops(*rows: tuple[str, str, str | None, bool]) -> dict[str, KeyNeed]:
    return {
        key: KeyNeed(action, scope, admin, changes=not key.startswith("GET "))
        for key, action, scope, admin in rows
    }


API_OPERATIONS: dict[str, KeyNeed] = _ops(
    ("GET /api/v2/callrouters", "list call routers", None, False),
    ("POST /api/v2/callrouters", "create a call router", None, False),
    ("GET /api/v2/callrouters/{id}", "read a call router", None, False),
    ("PATCH /api/v2/callrouters/{id}", "update a call router", None, False),
    ("DELETE /api/v2/callrouters/{id}", "delete a call router", None, False),
    ("POST /api/v2/callrouters/{id}/assign_number", "assign a number to a call router", None, False),
    ("GET /api/v2/numbers", "list numbers", None, True),
    ("GET /api/v2/numbers/{id}", "read a number", None, True),
    ("DELETE /api/v2/numbers/{id}", "unassign a number", None, False),
    ("GET /api/v2/offices", "list offices", None, False),
    ("GET /api/v2/offices/{id}", "read an office", None, False),
    ("GET /api/v2/users", "list users", None, False),
    ("GET /api/v2/users/{id}", "read a user", None, False),
    ("GET /api/v2/departments", "list departments", None, False),
    ("GET /api/v2/departments/{id}", "read a department", None, False),
    ("GET /api/v2/callcenters", "list call centers", None, False),
    ("GET /api/v2/callcenters/{id}", "read a call center", None, False),
    ("GET /api/v2/call", "list calls", "calls:list", True),
    ("GET /api/v2/call/{id}", "read a call", None, False),
    ("GET /api/v2/webhooks", "list webhooks", None, False),
    ("POST /api/v2/webhooks", "create a webhook", None, False),
    ("GET /api/v2/webhooks/{id}", "read a webhook", None, False),
    ("PATCH /api/v2/webhooks/{id}", "update a webhook", None, False),
    ("DELETE /api/v2/webhooks/{id}", "delete a webhook", None, False),
    ("GET /api/v2/subscriptions/call", "list call-event subscriptions", None, False),
    ("POST /api/v2/subscriptions/call", "create a call-event subscription", None, False),
    ("GET /api/v2/subscriptions/call/{id}", "read a call-event subscription", None, False),
    ("PATCH /api/v2/subscriptions/call/{id}", "update a call-event subscription", None, False),
    ("DELETE /api/v2/subscriptions/call/{id}", "delete a call-event subscription", None, False),
)
"""Every ``/api/v2`` operation this package uses, keyed like :func:`dialpad_nb.core.pacing.endpoint_key`
(``"GET /api/v2/call"``): the words a 403 is explained with, the scope or admin key Dialpad's
reference asks for (only ``call.list`` names a scope; ``numbers.list``/``numbers.get`` and
``call.list`` say "company admin API key"), and whether it changes the company (what a look-only
client refuses to send)."""


KEY_SCOPES: frozenset[str] = frozenset(n.scope for n in API_OPERATIONS.values() if n.scope)
"""The key scopes Dialpad's reference names for the operations above (``calls:list``)."""


def key_need(endpoint: str) -> KeyNeed | None:
    """The :class:`KeyNeed` of an endpoint key (``"GET /api/v2/call"``), or None for one not listed."""
    return API_OPERATIONS.get(endpoint)
