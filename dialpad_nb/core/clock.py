"""Injectable time.

Everything that needs "now" takes a :class:`Clock`; the sandbox and the
analytics use :class:`SimulatedClock` so hours of traffic run in milliseconds.
Times are integer milliseconds since the Unix epoch.
"""

from __future__ import annotations

import math
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, runtime_checkable

from .errors import SandboxOnly, ValidationError

__all__ = [
    "MAX_MS",
    "MIN_MS",
    "Clock",
    "SimulatedClock",
    "SystemClock",
    "check_ms",
    "format_time",
    "ms_to_datetime",
    "to_ms",
]


@runtime_checkable
class Clock(Protocol):
    def now_ms(self) -> int: ...


class SystemClock:
    """Wall-clock time (Dialpad's: a client on a Dialpad account has this clock). It cannot be moved:
    :meth:`advance` and :meth:`set` raise :class:`~dialpad_nb.core.errors.SandboxOnly`."""

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000

    def advance(self, seconds: float) -> int:
        """Refused: real time cannot be moved (only a sandbox's simulated clock can)."""
        raise SandboxOnly(
            "this clock is real time and cannot be moved: only a sandbox's simulated clock can. On a "
            "Dialpad account, wait instead (client.wait_for_update(router) waits until Dialpad allows "
            "the next update of a router)."
        )

    def set(self, now_ms: Any) -> int:
        """Refused, like :meth:`advance`."""
        return self.advance(0)

    def __repr__(self) -> str:
        return "SystemClock()"


class SimulatedClock:
    """A clock that only moves when told to, and never backwards.

    Thread-safe: the sandbox's request handlers share one.
    """

    def __init__(self, start_ms: int | str | datetime = "2026-01-05T09:00:00Z") -> None:
        self._now = check_ms(to_ms(start_ms, field="start_ms"), field="start_ms")
        self._lock = threading.Lock()

    def now_ms(self) -> int:
        with self._lock:
            return self._now

    def set(self, now_ms: int | str | datetime) -> int:
        """Move to ``now_ms``; moving backwards is an error (the clock is monotonic)."""
        target = check_ms(to_ms(now_ms, field="now"), field="now")
        with self._lock:
            if target < self._now:
                raise ValidationError(
                    f"the simulated clock is monotonic: cannot move back from {self._now} to {target}",
                    field="now",
                )
            self._now = target
            return self._now

    def advance(self, seconds: float) -> int:
        """Move forward by ``seconds``; the result must stay within the years 1970-9999."""
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not math.isfinite(seconds):
            raise ValidationError(f"must be a finite number, got {seconds!r}", field="advance_seconds")
        if seconds < 0:
            raise ValidationError(f"must be >= 0, got {seconds!r}", field="advance_seconds")
        if seconds > (MAX_MS - MIN_MS) / 1000:
            raise ValidationError("would move the clock past the year 9999", field="advance_seconds")
        with self._lock:
            target = self._now + round(seconds * 1000)
            if target > MAX_MS:
                raise ValidationError("would move the clock past the year 9999", field="advance_seconds")
            self._now = target
            return self._now

    def advance_to_at_least(self, now_ms: int) -> int:
        """Move forward to ``now_ms`` if it is later; never back. Returns now.

        ``now_ms`` outside the years 1970-9999 is a ValidationError (never stored)."""
        now_ms = check_ms(int(now_ms), field="now")
        with self._lock:
            if now_ms > self._now:
                self._now = int(now_ms)
            return self._now

    def __repr__(self) -> str:
        return f"SimulatedClock({ms_to_datetime(self._now).isoformat()!r})"


MIN_MS = 0
"""1970-01-01T00:00:00Z: the earliest time a call can have (Dialpad's times are ms since the epoch)."""
MAX_MS = 253_402_300_799_999
"""9999-12-31T23:59:59.999Z: the latest time Python's datetime (and so any report) can show."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_PER_MS = {"ms": 1, "us": 1_000, "ns": 1_000_000}
_MS = timedelta(milliseconds=1)


def ms_to_datetime(ms: int) -> datetime:
    """The UTC datetime of ``ms`` (exact: no float arithmetic)."""
    return _EPOCH + timedelta(milliseconds=int(ms))


def format_time(ms: int) -> str:
    """``2026-01-05 09:05:00 UTC`` for ms since the epoch (used in guard messages)."""
    return ms_to_datetime(ms).strftime("%Y-%m-%d %H:%M:%S UTC")


def to_ms(value: Any, *, field: str = "time") -> int:
    """Milliseconds since the epoch from anything that means a time: the one converter.

    **Rule: a time is floored to the whole millisecond** (never rounded up), exactly, with no
    float arithmetic on timestamps: ``09:00:00.9996`` is ``09:00:00.999``, the float ``1.7`` is
    ``1`` and ``-0.5`` is ``-1``. pandas' vectorised conversions (``astype("datetime64[ms]")``,
    ``as_unit("ms")``) floor the same way, so a log read row by row and column-wise agree.

    * ``int`` (and numpy integers): itself;
    * finite ``float``: floored; NaN and infinities are refused;
    * ``datetime``/``pandas.Timestamp``/``numpy.datetime64``: naive ones are UTC;
    * ``str``: an optional sign and digits (ms), or ISO-8601 (``Z`` or an offset; none = UTC).

    Anything else (``bool``, ``None``, other types, unparseable text) raises
    :class:`~dialpad_nb.core.errors.ValidationError` naming ``field``. Whether the result is a
    sensible date is the caller's check (:func:`check_ms`)."""
    if isinstance(value, bool) or value is None or type(value).__name__ in ("NaTType", "NAType"):
        raise ValidationError(f"{value!r} is not a time", field=field)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValidationError(f"not a time: {value!r}", field=field)
        return math.floor(value)
    if isinstance(value, datetime):
        if hasattr(value, "asm8"):  # pandas.Timestamp: exact integer in its own unit (UTC)
            ticks = int(value.asm8.view("i8"))
            unit = getattr(value, "unit", "ns")
            return ticks * 1000 if unit == "s" else ticks // _PER_MS[unit]
        dt = value if value.tzinfo else value.replace(tzinfo=UTC)
        return (dt - _EPOCH) // _MS
    if isinstance(value, str):
        text = value.strip()
        if text.lstrip("+-").isdigit() and text.lstrip("+-").isascii():
            return int(text)
        try:
            dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise ValidationError(
                f"not a time (ms since epoch or ISO-8601): {value!r}", field=field
            ) from None
        return to_ms(dt, field=field)
    kind = type(value).__name__
    if kind in ("int64", "int32", "uint64", "uint32", "int16", "int8", "uint16", "uint8"):
        return int(value)
    if kind in ("float64", "float32", "float16"):
        return to_ms(float(value), field=field)
    if kind == "datetime64":  # numpy: its ISO text is exact to the microsecond, the rest is floored
        text = str(value)
        if text == "NaT":
            raise ValidationError("NaT is not a time", field=field)
        return to_ms(text, field=field)
    raise ValidationError(f"not a time: {value!r} ({kind})", field=field)


def check_ms(ms: int, *, field: str = "time") -> int:
    """``ms`` if it lies in the years 1970-9999 (:data:`MIN_MS`..:data:`MAX_MS`), else ValidationError."""
    if not MIN_MS <= ms <= MAX_MS:
        shown = str(ms) if len(str(ms)) <= 30 else f"a {len(str(ms))}-digit number"
        raise ValidationError(f"{shown} is outside the years 1970-9999", field=field)
    return ms
