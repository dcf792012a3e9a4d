"""The fleet's standing now, kept up to date attempt by attempt (the dashboard's and watcher's numbers).

:class:`FleetTracker` follows every router with Dialpad's live rule
(:class:`~dialpad_nb.core.policy.RouterHealthState`): feed it the attempts as they arrive
(:meth:`FleetTracker.ingest`, any order within a batch, each attempt once) and ask for the
table at any time (:meth:`FleetTracker.table`). A refresh costs the new attempts plus one
row per router -- not a recomputation of every router's window from the whole log
(``benchmarks/bench_fleet.py`` measures both).

What the attempts cannot say, the source can (:meth:`FleetTracker.observe`): whether the
router is enabled now (a PATCH leaves no attempt) and, on a sandbox, the exact error times
in its window. A requested attempt while the tracker held the router disabled is a
re-enable; a recorded ``error_count`` lower than the tracker's count is a
``reset_error_count`` (only the newest errors are kept).

The level of each router (``ok``, ``warning``, ``disabled``) follows
:data:`~dialpad_nb.core.policy.WARNING_LEVELS` (assumption ``warning_level``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..core.clock import to_ms
from ..core.errors import ValidationError
from ..core.policy import (
    DIALPAD,
    ERROR_OUTCOMES,
    OUTCOMES,
    WARNING_LEVELS,
    Policy,
    RouterHealthState,
    WarningLevels,
)
from .budget import disable_eta_s

__all__ = ["FLEET_COLUMNS", "LEVEL_COLOURS", "FleetTracker", "RouterStanding"]

LEVEL_COLOURS: dict[str, str] = {
    "ok": "#2e7d32",
    "warning": "#ef6c00",
    "disabled": "#c62828",
    "idle": "#757575",
}
"""The status colour of each level (``idle``: no attempt seen yet)."""

FLEET_COLUMNS: tuple[str, ...] = (
    "router_id",
    "router",
    "enabled",
    "numbers",
    "level",
    "errors_in_window",
    "budget_left",
    "disable_eta_min",
    "last_attempt",
    "last_disable",
    "last_reenable",
    "calls",
    "errors",
    "colour",
)
"""Columns of :meth:`FleetTracker.table` (times are UTC timestamps; ``disable_eta_min`` is NaN for never)."""


@dataclass
class RouterStanding:
    """What the tracker holds for one router."""

    state: RouterHealthState
    name: str | None = None
    numbers: tuple[str, ...] = ()
    calls: int = 0
    errors: int = 0
    last_attempt_ms: int | None = None
    last_disable_ms: int | None = None
    last_reenable_ms: int | None = None
    latencies: list[tuple[int, float]] = field(default_factory=list)


@dataclass(frozen=True)
class _Row:
    enabled: bool
    count: int
    budget: int
    eta_s: float | None
    level: str


class FleetTracker:
    """Every router's error window, enabled flag, last disable and re-enable, updated incrementally."""

    def __init__(
        self, policy: Policy = DIALPAD, levels: WarningLevels = WARNING_LEVELS, *, keep_latencies: int = 500
    ) -> None:
        self.policy = policy
        self.levels = levels
        self.keep_latencies = keep_latencies
        self.routers: dict[int, RouterStanding] = {}

    def __repr__(self) -> str:
        return f"<FleetTracker: {len(self.routers)} routers>"

    def _router(self, router_id: int) -> RouterStanding:
        standing = self.routers.get(router_id)
        if standing is None:
            standing = self.routers[router_id] = RouterStanding(RouterHealthState(self.policy))
        return standing

    # ------------------------------------------------------------------ input

    def observe(
        self,
        router_id: int,
        *,
        now: Any,
        enabled: bool | None = None,
        name: str | None = None,
        numbers: Iterable[str] | None = None,
        error_times: Iterable[int] | None = None,
    ) -> None:
        """What the source says of a router now: its name, numbers, enabled flag and (on a sandbox)
        the exact error times in its window."""
        now_ms = to_ms(now, field="now")
        r = self._router(int(router_id))
        if name is not None:
            r.name = name
        if numbers is not None:
            r.numbers = tuple(numbers)
        if error_times is not None:
            r.state.window.clear()
            for t in sorted(int(t) for t in error_times):
                r.state.window.add(t)
        if enabled is not None and enabled != r.state.enabled:
            r.state.enabled = bool(enabled)
            if enabled:
                r.last_reenable_ms = now_ms
            elif r.last_disable_ms is None or r.last_disable_ms < (r.last_reenable_ms or 0):
                r.last_disable_ms = now_ms

    def ingest(self, attempts: pd.DataFrame | Iterable[Mapping[str, Any]]) -> int:
        """Apply new attempts (the attempts frame of :mod:`.attempts`, or records with ``time``/``at``,
        ``router_id``, ``outcome``, optional ``latency_ms``, ``error_count``); returns how many were
        applied (attempts without a router are not a router's)."""
        if isinstance(attempts, pd.DataFrame):
            frame = attempts
        else:
            frame = pd.DataFrame(list(attempts))
        if frame.empty:
            return 0
        times = (
            frame["at"].astype("int64").to_numpy()
            if "at" in frame
            else frame["time"].to_numpy(dtype="datetime64[ms]").astype("int64")
        )
        routers = frame["router_id"]
        keep = routers.notna().to_numpy()
        order = [i for i in times.argsort(kind="stable") if keep[i]]
        rids = routers.to_numpy(dtype=object)
        outcomes = frame["outcome"].astype(str).to_numpy()
        lat = frame["latency_ms"].to_numpy(dtype=float) if "latency_ms" in frame else None
        recorded = frame["error_count"] if "error_count" in frame else None
        rec = None if recorded is None else recorded.to_numpy(dtype=object)
        for i in order:
            self._apply(
                int(rids[i]),
                int(times[i]),
                str(outcomes[i]),
                None if lat is None else float(lat[i]),
                None if rec is None or pd.isna(rec[i]) else int(rec[i]),
            )
        return len(order)

    def _apply(self, rid: int, t: int, outcome: str, latency: float | None, recorded: int | None) -> None:
        r = self._router(rid)
        state = r.state
        r.calls += 1
        r.last_attempt_ms = t
        if outcome == "skipped_disabled":
            if state.enabled:  # disabled by someone else (a PATCH), or by errors we did not see
                state.enabled = False
                r.last_disable_ms = t
            return
        if outcome not in OUTCOMES:
            outcome = "invalid_response"
        if not state.enabled:  # a request was made: it was re-enabled in between
            state.enabled = True
            r.last_reenable_ms = t
        error = outcome in ERROR_OUTCOMES
        if latency is not None and latency == latency:
            r.latencies.append((t, latency))
            if len(r.latencies) > 2 * self.keep_latencies:
                del r.latencies[: -self.keep_latencies]
        if error:
            r.errors += 1
        try:
            verdict = state.record(t, error=error)
        except ValidationError:  # older than an error the source already reported (observe): counted
            return
        if recorded is not None and recorded < verdict.error_count:  # a reset_error_count in between
            kept = state.window.times()[-recorded:] if recorded else []
            state.window.clear()
            for e in kept:
                state.window.add(e)
            if verdict.disabled_now and recorded <= self.policy.error_threshold:
                state.enabled = True
                return
        if verdict.disabled_now:
            r.last_disable_ms = t

    # ------------------------------------------------------------------ output

    def _row(self, r: RouterStanding, now_ms: int) -> _Row:
        state = r.state
        count = state.error_count(now_ms)
        if not state.enabled:
            return _Row(False, count, 0, None, "disabled")
        held = state.window.times()
        pace_from = now_ms - self.levels.pace_window_s * 1000
        pace_n = sum(1 for e in held if e > pace_from)
        eta = disable_eta_s(
            [(now_ms - e) / 1000 for e in held],
            pace_n / self.levels.pace_window_s,
            threshold=self.policy.error_threshold,
            window_s=self.policy.window_s,
        )
        budget = max(self.policy.error_threshold - count, 0)
        warn = budget <= self.levels.warn_budget or (eta is not None and eta < self.levels.warn_eta_s)
        level = "warning" if warn else ("ok" if r.calls else "idle")
        return _Row(True, count, budget, eta, level)

    def level(self, router_id: int, now: Any) -> str:
        """``ok``, ``warning``, ``disabled`` (or ``idle``: nothing seen) at ``now``."""
        return self._row(self._router(int(router_id)), to_ms(now, field="now")).level

    def clear(self, router_id: int, now: Any) -> bool:
        """True when the router is healthy enough to resolve an incident (the hysteresis edge)."""
        row = self._row(self._router(int(router_id)), to_ms(now, field="now"))
        return (
            row.enabled
            and row.budget >= self.levels.clear_budget
            and (row.eta_s is None or row.eta_s >= self.levels.clear_eta_s)
        )

    def describe(self, router_id: int, now: Any) -> str:
        """One line in words: the router's name, level, errors, budget and forecast."""
        r = self._router(int(router_id))
        row = self._row(r, to_ms(now, field="now"))
        who = r.name or f"router {router_id}"
        head = f"{who}: {row.count} errors in the last hour (threshold {self.policy.error_threshold})"
        if not row.enabled:
            return f"{head}; DISABLED: every call goes to the default target until it is re-enabled"
        eta = (
            "not on course to be disabled"
            if row.eta_s is None
            else f"disabled in ~{row.eta_s / 60:.0f} min at the recent pace"
        )
        return f"{head}; budget {row.budget} left; {eta}"

    def table(self, now: Any) -> pd.DataFrame:
        """One row per router at ``now`` (:data:`FLEET_COLUMNS`), most urgent first."""
        now_ms = to_ms(now, field="now")
        rows = []
        for rid, r in self.routers.items():
            row = self._row(r, now_ms)
            rows.append(
                {
                    "router_id": rid,
                    "router": r.name or str(rid),
                    "enabled": row.enabled,
                    "numbers": ", ".join(r.numbers),
                    "level": row.level,
                    "errors_in_window": row.count,
                    "budget_left": row.budget,
                    "disable_eta_min": float("nan") if row.eta_s is None else row.eta_s / 60,
                    "last_attempt": r.last_attempt_ms,
                    "last_disable": r.last_disable_ms,
                    "last_reenable": r.last_reenable_ms,
                    "calls": r.calls,
                    "errors": r.errors,
                    "colour": LEVEL_COLOURS[row.level],
                }
            )
        frame = pd.DataFrame(rows, columns=list(FLEET_COLUMNS))
        for col in ("last_attempt", "last_disable", "last_reenable"):
            frame[col] = pd.to_datetime(frame[col].astype("Int64"), unit="ms", utc=True)
        frame = frame.astype({"router_id": "Int64", "errors_in_window": "int64", "budget_left": "int64"})
        rank = frame["level"].map({"disabled": 0, "warning": 1, "ok": 2, "idle": 3})
        return (
            frame.assign(_rank=rank)
            .sort_values(["_rank", "budget_left", "router"], kind="stable")
            .drop(columns="_rank")
            .reset_index(drop=True)
        )
