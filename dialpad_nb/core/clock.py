"""Injectable time.

Everything that needs "now" takes a :class:`Clock`; the sandbox and the
analytics use :class:`SimulatedClock` so hours of traffic run in milliseconds.
Times are integer milliseconds since the Unix epoch.
"""

from __future__ import annotations

import math
import threading
import time
from datetime import UTC, datetime
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "SimulatedClock", "SystemClock", "ms_to_datetime", "parse_time_ms"]


@runtime_checkable
class Clock(Protocol):
    def now_ms(self) -> int: ...


class SystemClock:
    """Wall-clock time."""

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000

    def __repr__(self) -> str:
        return "SystemClock()"


class SimulatedClock:
    """A clock that only moves when told to, and never backwards.

    Thread-safe: the sandbox's request handlers share one.
    """

    def __init__(self, start_ms: int | str | datetime = "2026-01-05T09:00:00Z") -> None:
        self._now = parse_time_ms(start_ms)
        self._lock = threading.Lock()

    def now_ms(self) -> int:
        with self._lock:
            return self._now

    def set(self, now_ms: int | str | datetime) -> int:
        """Move to ``now_ms``; moving backwards is an error (the clock is monotonic)."""
        target = parse_time_ms(now_ms)
        with self._lock:
            if target < self._now:
                raise ValueError(
                    f"the simulated clock is monotonic: cannot move back from {self._now} to {target}"
                )
            self._now = target
            return self._now

    def advance(self, seconds: float) -> int:
        if seconds < 0:
            raise ValueError(f"advance_seconds must be >= 0, got {seconds!r}")
        with self._lock:
            self._now += round(seconds * 1000)
            return self._now

    def advance_to_at_least(self, now_ms: int) -> int:
        """Move forward to ``now_ms`` if it is later; never back. Returns now."""
        with self._lock:
            if now_ms > self._now:
                self._now = int(now_ms)
            return self._now

    def __repr__(self) -> str:
        return f"SimulatedClock({ms_to_datetime(self._now).isoformat()!r})"


def ms_to_datetime(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def parse_time_ms(value: int | float | str | datetime) -> int:
    """Milliseconds since the epoch from an int, an ISO-8601 string or a datetime.

    Naive datetimes and ISO strings without an offset are taken as UTC."""
    if isinstance(value, bool):
        raise TypeError("a time cannot be a bool")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"not a time: {value!r}")
        return round(value)
    if isinstance(value, datetime):
        dt = value if value.tzinfo else value.replace(tzinfo=UTC)
        return round(dt.timestamp() * 1000)
    if isinstance(value, str):
        text = value.strip()
        if text.lstrip("-").isdigit():
            return int(text)
        try:
            dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"not a time (ms since epoch or ISO-8601): {value!r}") from None
        return parse_time_ms(dt)
    raise TypeError(f"not a time: {value!r} ({type(value).__name__})")
