"""How long until a router is disabled, at the current error pace.

The error budget left now is ``threshold - count`` (errors the router can
still take; one more than that disables it). The forecast assumes errors keep
arriving at the recent pace (errors in the last ``pace_window_s``, default 15
minutes) as a steady flow, while the errors already held expire one by one as
they turn 60 minutes old::

    count(now + τ) = held errors still < window old at now + τ  +  pace · min(τ, window)

The expected time to disable is the first ``τ`` where that exceeds the
threshold. It is ``None`` ("never") when the pace is zero, or when even the
steady state (``pace · window``) stays within the threshold once the held
errors have expired. Disabling takes at least one new error, even when a
router re-enabled without a reset already holds more than the threshold. An already-disabled router has no budget and no ETA.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..core.clock import to_ms
from ..core.errors import ValidationError
from ..core.policy import DIALPAD, Policy
from .window import _patch_arrays, _time_ms_array, simulate

__all__ = ["Forecast", "disable_eta_s", "forecast"]


@dataclass(frozen=True)
class Forecast:
    """A router's standing at ``now`` and the expected time until it is disabled."""

    router_id: int | None
    now: pd.Timestamp
    enabled: bool
    error_count: int
    threshold: int
    budget_left: int
    """Errors the router can still take (``threshold - count``; 0 when disabled)."""
    pace_per_hour: float
    """Errors per hour over the last ``pace_window_s``."""
    pace_window_s: float
    eta: pd.Timedelta | None
    """Expected time until the count exceeds the threshold; ``None`` = never at this pace."""
    router_name: str | None = None
    """How :meth:`describe` names the router (default: ``router <id>``)."""

    @property
    def status(self) -> str:
        """``disabled``, ``never`` (at this pace) or ``at_risk`` (an ETA exists)."""
        if not self.enabled:
            return "disabled"
        return "never" if self.eta is None else "at_risk"

    @property
    def outlook(self) -> str:
        """:attr:`status` in words a person reads: what the router does now, and where the recent
        error pace takes it."""
        if not self.enabled:
            return "disabled: every call goes to the default target until it is re-enabled"
        recent = f"the last {self.pace_window_s / 60:g} min"
        if self.eta is None:
            if self.pace_per_hour == 0:
                return f"enabled, no errors in {recent}: not on course to be disabled"
            return f"enabled; at the pace of {recent} it stays within the threshold"
        return f"enabled; at the pace of {recent} it would be disabled in ~{self.eta.total_seconds() / 60:.0f} min"

    @property
    def disabled_at(self) -> pd.Timestamp | None:
        return None if self.eta is None else self.now + self.eta

    def describe(self) -> str:
        who = (
            self.router_name
            or (f"router {self.router_id}" if self.router_id is not None else None)
            or "the router"
        )
        head = f"{who} at {self.now:%Y-%m-%d %H:%M:%S} UTC: {self.error_count} errors in the window"
        if not self.enabled:
            return (
                f"{head}; disabled (no budget left; re-enable it, with reset_error_count to clear the count)"
            )
        pace = f"{self.pace_per_hour:.1f} errors/h over the last {self.pace_window_s / 60:g} min"
        if self.eta is None:
            return f"{head}, budget {self.budget_left} left; at {pace}: never exceeds {self.threshold}"
        minutes = self.eta.total_seconds() / 60
        return f"{head}, budget {self.budget_left} left; at {pace}: exceeds {self.threshold} in ~{minutes:.0f} min"

    def __str__(self) -> str:
        return self.describe()


def disable_eta_s(held_ages_s: Any, pace_per_s: float, *, threshold: int, window_s: float) -> float | None:
    """Seconds until the count exceeds ``threshold`` (see the module docstring).

    ``held_ages_s``: ages of the errors now in the window (each ``< window_s``).
    Disabling always takes one new error (even when the held count is already
    over the threshold after a re-enable without reset). ``None`` = never."""
    ages = np.sort(np.asarray(held_ages_s, dtype=float))[::-1]  # oldest first: expires first
    need = threshold + 1
    if pace_per_s <= 0:
        return None
    expiries = window_s - ages  # τ at which each held error leaves, ascending
    start = 0.0
    held = ages.size
    for end in [*expiries.tolist(), window_s]:
        tau = max(start, max(need - held, 1) / pace_per_s)  # a disable takes one new error at least
        if tau <= min(end, window_s) and (tau < end or end >= window_s):
            return tau
        start = end
        held -= 1
    return None


def forecast(
    attempts: pd.DataFrame,
    *,
    router_id: int | None = None,
    now: Any = None,
    policy: Policy = DIALPAD,
    patches: Any = None,
    pace_window_s: float = 900.0,
    router_name: str | None = None,
) -> Forecast:
    """The forecast for one router from an attempts log (simulated under ``policy``).

    ``now`` defaults to the router's last attempt; ``router_id`` may be left
    out when the log holds one router; ``router_name`` names it in the description."""
    if pace_window_s <= 0:
        raise ValidationError(f"must be > 0, got {pace_window_s!r}", field="pace_window_s")
    routers = attempts["router_id"].dropna().unique().tolist()
    if router_id is None:
        if len(routers) > 1:
            raise ValidationError(
                f"the log holds several routers {sorted(routers)}; pick one", field="router_id"
            )
        router_id = int(routers[0]) if routers else None
    mine = attempts if router_id is None else attempts[(attempts["router_id"] == router_id).fillna(False)]
    if router_id is not None and mine.empty:
        raise ValidationError(
            f"no attempts for router {router_id} (routers: {sorted(routers)})", field="router_id"
        )
    if patches is not None and not isinstance(patches, pd.DataFrame):
        from .window import make_patches

        patches = make_patches(patches)
    if patches is not None and router_id is not None and "router_id" in patches:
        patches = patches[(patches["router_id"].isna() | (patches["router_id"] == router_id)).fillna(False)]
    sim = simulate(mine, policy=policy, patches=patches)
    times = _time_ms_array(sim["time"])
    order = np.argsort(times, kind="stable")
    times = times[order]
    now_ms = int(times[-1]) if now is None else to_ms(now, field="now")
    upto = int(np.searchsorted(times, now_ms, side="right"))
    enabled_after = sim["enabled_after"].to_numpy(dtype=bool)[order]
    is_error = sim["is_error"].to_numpy(dtype=bool)[order]
    enabled = bool(enabled_after[upto - 1]) if upto else True
    last_attempt = int(times[upto - 1]) if upto else None
    reset_after = None
    ev_t, ev_en, ev_reset = _patch_arrays(patches)
    for t, en, reset in zip(ev_t.tolist(), ev_en.tolist(), ev_reset.tolist(), strict=True):
        if t > now_ms:
            break
        if reset:
            reset_after = t
        if last_attempt is None or t >= last_attempt:
            if en == 1:
                enabled = True
            elif en == 0:
                enabled = False
    err_t = times[:upto][is_error[:upto]]
    horizon = now_ms - policy.window_ms
    if reset_after is not None:
        horizon = max(horizon, reset_after)
    held = err_t[err_t > horizon]
    pace_n = int(np.sum(err_t > now_ms - pace_window_s * 1000))
    pace_per_s = pace_n / pace_window_s
    count = int(held.size)
    eta_s = (
        disable_eta_s(
            (now_ms - held) / 1000, pace_per_s, threshold=policy.error_threshold, window_s=policy.window_s
        )
        if enabled
        else None
    )
    return Forecast(
        router_id=router_id,
        now=pd.Timestamp(now_ms, unit="ms", tz="UTC"),
        enabled=enabled,
        error_count=count,
        threshold=policy.error_threshold,
        budget_left=max(policy.error_threshold - count, 0) if enabled else 0,
        pace_per_hour=pace_per_s * 3600,
        pace_window_s=pace_window_s,
        eta=None if eta_s is None else pd.Timedelta(seconds=round(eta_s, 3)),
        router_name=router_name,
    )
