"""One router's health under one policy: the numbers the widget, notebooks and reports show."""

from __future__ import annotations

from typing import Any

import pandas as pd

from ..core.policy import DIALPAD, Policy
from .budget import forecast
from .latency import latency_summary
from .window import simulate, window_summary

__all__ = ["health_summary"]


def health_summary(
    attempts: pd.DataFrame,
    *,
    router_id: int | None = None,
    policy: Policy = DIALPAD,
    patches: Any = None,
    at_risk_s: float | None = None,
) -> pd.Series:
    """One router under ``policy``: calls, requests, errors, disables, skipped
    calls, peak window count, latency p50/p99, shares over the deadline and at
    risk, and the forecast at the end of the log: its status (``disabled``, ``never``,
    ``at_risk``), the same in words (``outlook_at_end``) and the error budget left."""
    mine = attempts if router_id is None else attempts[(attempts["router_id"] == router_id).fillna(False)]
    sim = simulate(mine, policy=policy, patches=patches)
    win = window_summary(sim)
    lat = latency_summary(sim, policy=policy, at_risk_s=at_risk_s)
    fc = forecast(mine, router_id=router_id, policy=policy, patches=patches)
    total = win.sum(numeric_only=True)
    return pd.Series(
        {
            "calls": int(total["attempts"]),
            "requests": int(total["requests"]),
            "errors": int(total["errors"]),
            "disables": int(total["disables"]),
            "skipped": int(total["skipped"]),
            "unknown": int(total["unknown"]),
            "peak_error_count": int(win["max_error_count"].max()) if len(win) else 0,
            "p50_ms": lat["p50_ms"],
            "p99_ms": lat["p99_ms"],
            "over_deadline": lat["over_deadline"],
            "at_risk": lat["at_risk"],
            "status_at_end": fc.status,
            "outlook_at_end": fc.outlook,
            "budget_left_at_end": fc.budget_left,
        },
        name=router_id,
        dtype=object,
    )
