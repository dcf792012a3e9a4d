"""Dialpad's API rate limits as token buckets: one shape for the sandbox (refuse with 429) and
the client (wait before sending).

Dialpad allows ``policy.company_requests_per_s`` requests per second per company and
``policy.endpoint_requests_per_min`` per minute per endpoint (``BEHAVIOUR.md``). Each limit is a
bucket holding one period's allowance, refilled evenly (assumption ``rate_limit_shape``): a
request takes one token from the company bucket and one from its endpoint's bucket.

Time is a monotonic clock in seconds (``time.monotonic`` unless injected): rate limits are
about real time, also when the sandbox's own clock is simulated.

>>> t = [0.0]
>>> bucket = TokenBucket(rate_per_s=2, capacity=2, monotonic=lambda: t[0])
>>> bucket.take(), bucket.take(), bucket.take()    # two at once, then wait half a second
(0.0, 0.0, 0.5)
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable

from .errors import ValidationError
from .policy import DIALPAD, Policy

__all__ = ["RateLimiter", "TokenBucket", "endpoint_key"]

_ID_SEGMENT = re.compile(r"^(?:\d+|\+?[0-9][0-9\-. ()%]*)$")


def endpoint_key(method: str, path: str) -> str:
    """``"GET /api/v2/callrouters/{id}"`` for ``GET /api/v2/callrouters/123``: one endpoint per
    method and path template (ids and numbers in the path are one endpoint)."""
    segments = [("{id}" if _ID_SEGMENT.match(seg) else seg) for seg in path.split("?")[0].split("/")]
    return f"{method.upper()} {'/'.join(segments)}"


class TokenBucket:
    """``capacity`` tokens, refilled at ``rate_per_s``; thread-safe."""

    def __init__(
        self, *, rate_per_s: float, capacity: float, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        if not rate_per_s > 0 or not capacity >= 1:
            raise ValidationError(f"needs rate > 0 and capacity >= 1, got {rate_per_s!r}, {capacity!r}")
        self.rate_per_s = float(rate_per_s)
        self.capacity = float(capacity)
        self._monotonic = monotonic
        self._tokens = float(capacity)
        self._at = monotonic()
        self._lock = threading.Lock()

    def _refill(self, now: float) -> None:
        if now > self._at:
            self._tokens = min(self.capacity, self._tokens + (now - self._at) * self.rate_per_s)
            self._at = now

    def wait_s(self) -> float:
        """Seconds until a token is free (0 when one is free now); takes nothing."""
        with self._lock:
            self._refill(self._monotonic())
            return max(0.0, (1 - self._tokens) / self.rate_per_s)

    def try_take(self) -> float:
        """Take a token if one is free now (returns 0), else take nothing and return the wait in seconds."""
        with self._lock:
            self._refill(self._monotonic())
            if self._tokens >= 1:
                self._tokens -= 1
                return 0.0
            return (1 - self._tokens) / self.rate_per_s

    def take(self) -> float:
        """Take a token now, possibly going into debt: the seconds the caller must wait before sending.

        Callers that wait as told never exceed the rate, and concurrent callers queue fairly."""
        with self._lock:
            self._refill(self._monotonic())
            self._tokens -= 1
            return 0.0 if self._tokens >= 0 else -self._tokens / self.rate_per_s

    def hold(self, seconds: float) -> None:
        """No token before ``seconds`` from now (a server said ``Retry-After``): every taker waits."""
        with self._lock:
            self._refill(self._monotonic())
            self._tokens = min(self._tokens, 1 - max(0.0, seconds) * self.rate_per_s)


class RateLimiter:
    """The company bucket plus one bucket per endpoint, from ``policy``'s numbers."""

    def __init__(
        self, policy: Policy = DIALPAD, *, monotonic: Callable[[], float] = time.monotonic, burst: float = 1.0
    ) -> None:
        """``burst``: the share of one period's allowance that may go at once. The sandbox uses 1
        (Dialpad's limit); the client 0.5, so that requests arriving closer together than they
        were sent (network jitter) still find tokens at the server."""
        if not 0 < burst <= 1:
            raise ValidationError(f"must be in (0, 1], got {burst!r}", field="burst")
        self.policy = policy
        self.burst = burst
        self._monotonic = monotonic
        self.company = TokenBucket(
            rate_per_s=policy.company_requests_per_s,
            capacity=max(1.0, policy.company_requests_per_s * burst),
            monotonic=monotonic,
        )
        self._endpoints: dict[str, TokenBucket] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        p = self.policy
        return (
            f"RateLimiter({p.company_requests_per_s:g}/s per company, "
            f"{p.endpoint_requests_per_min:g}/min per endpoint)"
        )

    def endpoint(self, key: str) -> TokenBucket:
        with self._lock:
            bucket = self._endpoints.get(key)
            if bucket is None:
                per_min = self.policy.endpoint_requests_per_min
                bucket = self._endpoints[key] = TokenBucket(
                    rate_per_s=per_min / 60,
                    capacity=max(1.0, per_min * self.burst),
                    monotonic=self._monotonic,
                )
            return bucket

    def admit(self, key: str) -> float:
        """The server side: 0 and both tokens taken, or the seconds to wait (nothing taken)."""
        endpoint = self.endpoint(key)
        with self._lock:  # both buckets or neither
            wait = max(self.company.wait_s(), endpoint.wait_s())
            if wait > 0:
                return wait
            self.company.try_take()
            endpoint.try_take()
            return 0.0

    def reserve(self, key: str) -> float:
        """The client side: take both tokens (possibly in debt); the seconds to wait before sending."""
        endpoint = self.endpoint(key)
        with self._lock:
            return max(self.company.take(), endpoint.take())

    def hold(self, key: str, seconds: float) -> None:
        """A 429 said wait ``seconds``: hold the company bucket (all endpoints) that long."""
        self.company.hold(seconds)
