"""One routing-matrix cell: its syntax, and how it is tested on one call or on a whole log.

A condition is parsed once from a matrix cell (see :mod:`dialpad_nb.rules.matrix` for
the full syntax) and then evaluated two ways that must always agree:

* :meth:`Condition.test` — one call (what an endpoint does per request);
* :meth:`Condition.mask` — a whole DataFrame at once. Field conditions are
  evaluated once per *distinct* value (``pd.factorize`` codes, or a categorical's
  codes) and broadcast to rows with a numpy ``take``; time conditions are numpy
  arithmetic on local wall-clock milliseconds. No Python runs per row.

Missing values (no CRM match, no contact): every positive test is False, so a
negated test (``!``) is True.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd

from ..core.clock import ms_to_datetime, to_ms
from ..core.errors import ValidationError
from ..core.models import is_missing, normalize_e164

__all__ = [
    "CALL_FIELDS",
    "PHONE_FIELDS",
    "TIME_FIELDS",
    "Condition",
    "ConditionSyntaxError",
    "FrameContext",
    "local_time",
    "parse_condition",
]

CALL_FIELDS: tuple[str, ...] = ("external_number", "internal_number", "contact_id", "contact_type")
"""Fields of a routing request usable in conditions (besides time)."""
PHONE_FIELDS: frozenset[str] = frozenset({"external_number", "internal_number"})
"""Fields whose ``=``/``in:`` values are normalised to E.164 when the matrix loads."""
TIME_FIELDS: tuple[str, ...] = ("hours", "days")
"""Pseudo-fields over ``date_started`` in the row's timezone."""

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_ALIASES = {
    **{d: i for i, d in enumerate(DAY_NAMES)},
    **{
        n: i
        for i, n in enumerate(("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"))
    },
}
_DAY_GROUPS = {"weekdays": frozenset(range(5)), "weekend": frozenset({5, 6}), "weekends": frozenset({5, 6})}
_HHMM = re.compile(r"^(\d{1,2}):(\d{2})$")
_MS_PER_MIN = 60_000
_MS_PER_DAY = 86_400_000


class ConditionSyntaxError(ValueError):
    """A cell that is not valid condition syntax; the matrix loader adds row and column."""


@dataclass(frozen=True)
class Condition:
    """A test on one field of a call.

    ``op`` is one of ``eq``, ``in``, ``prefix``, ``re``, ``null`` (field
    conditions) or ``hours``, ``days`` (time conditions on ``date_started`` in
    ``tz``). ``values``: the strings for ``eq``/``in``/``prefix``; the pattern for
    ``re``; ``((start_min, end_min), ...)`` for ``hours``; weekday numbers
    (Monday = 0) for ``days``."""

    field: str
    op: str
    values: tuple
    negate: bool = False
    tz: str | None = None
    text: str = dataclasses.field(default="", compare=False)
    _regex: re.Pattern | None = dataclasses.field(default=None, compare=False, repr=False)

    # ------------------------------------------------------------------ one call

    def test(self, call: Mapping[str, Any]) -> bool:
        """Does one call (a mapping of field -> value; ``date_started`` in ms, a
        datetime or a Timestamp) satisfy this condition?"""
        if self.op in ("hours", "days"):
            minute, weekday = local_time(call["date_started"], self.tz or "UTC")
            hit = self._test_time(minute, weekday)
        else:
            hit = self.test_value(call.get(self.field))
        return hit != self.negate

    def test_value(self, value: Any) -> bool:
        """The positive (un-negated) test on one field value; missing is False except for ``null``."""
        missing = is_missing(value)
        if self.op == "null":
            return missing
        if missing:
            return False
        value = str(value)
        if self.op in ("eq", "in"):
            return value in self.values
        if self.op == "prefix":
            return value.startswith(self.values)
        if self.op == "re":
            assert self._regex is not None  # set by parse_condition for every "re" condition
            return self._regex.search(value) is not None
        raise AssertionError(self.op)

    def _test_time(self, minute: int, weekday: int) -> bool:
        if self.op == "days":
            return weekday in self.values
        return any((s <= minute < e) if s < e else (minute >= s or minute < e) for s, e in self.values)

    # ------------------------------------------------------------------ whole frame

    def mask(self, ctx: FrameContext) -> np.ndarray:
        """Boolean array over ``ctx``'s rows: this condition, vectorised."""
        if self.op in ("hours", "days"):
            minute, weekday = ctx.local_time(self.tz or "UTC")
            if self.op == "days":
                days = np.zeros(7, dtype=bool)  # a lookup by weekday: cheaper than np.isin
                days[list(self.values)] = True
                hit = days[weekday]
            else:
                hit = np.zeros(len(minute), dtype=bool)
                for s, e in self.values:
                    hit |= ((minute >= s) & (minute < e)) if s < e else ((minute >= s) | (minute < e))
        else:
            codes, uniques = ctx.codes(self.field)
            if self.op == "null":
                hit = codes < 0
            else:
                if self.op in ("eq", "in"):
                    per_unique = np.asarray(pd.Index(uniques).isin(self.values), dtype=bool)
                elif self.op == "prefix":
                    text = ctx.unicode(self.field)
                    per_unique = np.zeros(len(uniques), dtype=bool)
                    for prefix in self.values:
                        per_unique |= np.char.startswith(text, prefix)
                else:
                    per_unique = np.fromiter(
                        (self.test_value(u) for u in uniques), dtype=bool, count=len(uniques)
                    )
                # code -1 (missing) indexes the appended False
                hit = np.append(per_unique, False)[codes]
        return ~hit if self.negate else hit

    # ------------------------------------------------------------------ relations

    def implies(self, other: Condition) -> bool:
        """True when every call satisfying ``self`` also satisfies ``other`` (same field).

        Conservative: False means "not proven", used only for shadow warnings."""
        if self.field != other.field:
            return False
        if self == other:
            return True
        if self.negate or other.negate:
            return False
        if self.op in ("hours", "days") or other.op in ("hours", "days"):
            if self.op != other.op or self.tz != other.tz:
                return False
            if self.op == "days":
                return set(self.values) <= set(other.values)
            return bool(np.all(~_minute_set(self.values) | _minute_set(other.values)))
        if self.op in ("eq", "in"):
            return all(other.test_value(v) for v in self.values)
        if self.op == "prefix" and other.op == "prefix":
            return all(p.startswith(other.values) for p in self.values)
        return False


def _minute_set(windows: tuple) -> np.ndarray:
    minute = np.arange(1440)
    hit = np.zeros(1440, dtype=bool)
    for s, e in windows:
        hit |= ((minute >= s) & (minute < e)) if s < e else ((minute >= s) | (minute < e))
    return hit


# --------------------------------------------------------------------------- time


def local_time(date_started: Any, tz: str) -> tuple[int, int]:
    """``(minute of the day, weekday Monday=0)`` of a call in ``tz``."""
    utc = ms_to_datetime(to_ms(date_started, field="date_started"))
    local = utc.astimezone(_zone(tz))
    return local.hour * 60 + local.minute, local.weekday()


_ZONES: dict[str, ZoneInfo] = {}


def _zone(name: str) -> ZoneInfo:
    zone = _ZONES.get(name)
    if zone is None:
        zone = _ZONES[name] = ZoneInfo(name)
    return zone


def check_timezone(name: str) -> str:
    try:
        _zone(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConditionSyntaxError(
            f"unknown timezone {name!r} (use an IANA name like America/Los_Angeles)"
        ) from exc
    return name


class FrameContext:
    """Per-evaluation cache over one calls DataFrame: factorised fields and local times."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame
        self.n = len(frame)
        self._codes: dict[str, tuple[np.ndarray, Any]] = {}
        self._local: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._utc_ms: np.ndarray | None = None
        self._unicode: dict[str, np.ndarray] = {}

    def codes(self, name: str) -> tuple[np.ndarray, Any]:
        """``(codes, uniques)`` of a column; code -1 = missing."""
        hit = self._codes.get(name)
        if hit is None:
            if name not in self.frame.columns:
                raise ValidationError(f"the calls have no {name!r} column", field=name)
            col = self.frame[name]
            found: Any
            if isinstance(col.dtype, pd.CategoricalDtype):
                codes = np.asarray(col.cat.codes, dtype=np.int64)
                found = col.cat.categories.astype(object)
            else:
                raw_codes, found = pd.factorize(col, use_na_sentinel=True)
                codes = np.asarray(raw_codes, dtype=np.int64)
            if not pd.api.types.is_string_dtype(found):
                found = [str(u) for u in found]  # conditions compare text, as Condition.test does
            hit = self._codes[name] = (codes, np.asarray(found, dtype=object))
        return hit

    def unicode(self, name: str) -> np.ndarray:
        """The distinct values of a column as a numpy unicode array (for ``np.char`` tests)."""
        hit = self._unicode.get(name)
        if hit is None:
            uniques = self.codes(name)[1]
            hit = self._unicode[name] = uniques.astype(str) if len(uniques) else np.array([], dtype=str)
        return hit

    def utc_ms(self) -> np.ndarray:
        if self._utc_ms is None:
            col = self.frame["date_started"]
            if pd.api.types.is_datetime64_any_dtype(col):
                if getattr(col.dtype, "tz", None) is None:
                    col = col.dt.tz_localize("UTC")
                self._utc_ms = np.asarray(
                    col.dt.tz_convert("UTC").astype("datetime64[ms, UTC]").astype("int64")
                )
            else:
                self._utc_ms = np.asarray(col, dtype=np.int64)
        return self._utc_ms

    def local_time(self, tz: str) -> tuple[np.ndarray, np.ndarray]:
        """``(minute of day, weekday)`` arrays in ``tz``."""
        hit = self._local.get(tz)
        if hit is None:
            utc = pd.DatetimeIndex(self.utc_ms().astype("datetime64[ms]"), tz="UTC")
            # local wall-clock time as ms since 1970-01-01 00:00 (naive), then plain integer arithmetic
            local_ms = np.asarray(utc.tz_convert(tz).tz_localize(None).as_unit("ms").asi8, dtype=np.int64)
            minute = (local_ms // _MS_PER_MIN) % 1440
            weekday = (local_ms // _MS_PER_DAY + 3) % 7  # 1970-01-01 was a Thursday
            hit = self._local[tz] = (minute, weekday)
        return hit


# --------------------------------------------------------------------------- parsing

_OPS = ("in:", "prefix:", "re:", "=")


def parse_condition(field_name: str, text: str, *, tz: str | None = None) -> Condition | None:
    """Parse one cell; None for an empty cell (= any value).

    Raises :class:`ConditionSyntaxError` with a readable reason."""
    raw = "" if text is None else str(text)
    cell = raw.strip()
    if not cell:
        return None
    negate = cell.startswith("!")
    if negate:
        cell = cell[1:].strip()
        if not cell:
            raise ConditionSyntaxError("'!' must be followed by a condition")
    if field_name in TIME_FIELDS:
        return _parse_time(field_name, cell, negate, tz, raw)
    if cell.lower() == "null":
        return Condition(field_name, "null", (), negate, text=raw)
    if cell.startswith("in:"):
        values = _split(cell[3:], "in:")
        op = "in"
    elif cell.startswith("prefix:"):
        values = _split(cell[7:], "prefix:")
        op = "prefix"
        if field_name in PHONE_FIELDS:
            for v in values:
                if not re.fullmatch(r"\+?[0-9]+", v):  # ASCII, as in E.164
                    raise ConditionSyntaxError(f"phone prefix {v!r} must be digits, optionally after '+'")
    elif cell.startswith("re:"):
        pattern = cell[3:]
        try:
            compiled = re.compile(pattern)
        except re.error as exc:
            raise ConditionSyntaxError(f"invalid regular expression {pattern!r}: {exc}") from exc
        return Condition(field_name, "re", (pattern,), negate, text=raw, _regex=compiled)
    else:
        if cell.startswith("="):
            cell = cell[1:]
        elif re.match(r"^[a-z]+:", cell) and not cell.startswith(("+",)):
            head = cell.split(":", 1)[0]
            raise ConditionSyntaxError(
                f"unknown operator {head + ':'!r}; use =value, in:a|b, prefix:x, re:pattern, null (! negates)"
            )
        values = (cell,)
        op = "eq"
        if not cell:
            raise ConditionSyntaxError("'=' needs a value (use null for a missing value)")
    if field_name in PHONE_FIELDS and op in ("eq", "in"):
        values = tuple(_phone(v) for v in values)
    return Condition(field_name, op, tuple(values), negate, text=raw)


def _split(body: str, op: str) -> tuple[str, ...]:
    values = tuple(v.strip() for v in body.split("|"))
    if not body.strip() or any(not v for v in values):
        raise ConditionSyntaxError(f"{op} needs values separated by '|', e.g. {op}a|b")
    return values


def _phone(value: str) -> str:
    number = normalize_e164(value)
    if number is None:
        raise ConditionSyntaxError(f"{value!r} is not a phone number (E.164 like +14155550100)")
    return number


def _parse_time(field_name: str, cell: str, negate: bool, tz: str | None, raw: str) -> Condition:
    if cell.startswith(field_name + ":"):
        cell = cell[len(field_name) + 1 :].strip()
    parts = [p.strip() for p in re.split(r"[|,]", cell)]
    if not cell or any(not p for p in parts):
        raise ConditionSyntaxError(f"empty {field_name} window")
    if field_name == "hours":
        windows = []
        for part in parts:
            bounds = part.split("-")
            if len(bounds) != 2:
                raise ConditionSyntaxError(f"hours window {part!r} must look like 09:00-17:30")
            start, end = (_minute(b.strip()) for b in bounds)
            if start == end:
                raise ConditionSyntaxError(f"hours window {part!r} is empty (start equals end)")
            if start >= 1440:
                raise ConditionSyntaxError(f"hours window {part!r} cannot start at 24:00")
            windows.append((start, end))
        return Condition("hours", "hours", tuple(windows), negate, tz, text=raw)
    days: set[int] = set()
    for part in parts:
        key = part.lower()
        if key in _DAY_GROUPS:
            days |= _DAY_GROUPS[key]
            continue
        bounds = key.split("-")
        if len(bounds) > 2 or any(b.strip() not in _DAY_ALIASES for b in bounds):
            raise ConditionSyntaxError(f"days {part!r} must be day names like mon-fri or sat|sun")
        first, last = (_DAY_ALIASES[b.strip()] for b in (bounds[0], bounds[-1]))
        day = first
        days.add(day)
        while day != last:
            day = (day + 1) % 7
            days.add(day)
    return Condition("days", "days", tuple(sorted(days)), negate, tz, text=raw)


def _minute(text: str) -> int:
    m = _HHMM.match(text)
    if not m:
        raise ConditionSyntaxError(f"time {text!r} must be HH:MM")
    hour, minute = int(m.group(1)), int(m.group(2))
    if minute > 59 or hour > 24 or (hour == 24 and minute):
        raise ConditionSyntaxError(f"time {text!r} is not between 00:00 and 24:00")
    return hour * 60 + minute
