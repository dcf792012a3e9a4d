"""The seeded attempts log of ``data/attempts_sample.csv``: two routers of the sample company.

``support`` degrades on the second day, is disabled, re-enabled without a reset (it
disables again at once) and later, once fixed, with one; ``sales`` stays healthy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..core.policy import DIALPAD
from ..health.attempts import attempts_from_records, write_attempts_csv
from ..health.window import make_patches, simulate
from .company import CALLCENTERS, DEPARTMENTS

__all__ = ["SAMPLE_ROUTERS", "sample_attempts", "write_sample_attempts"]

SAMPLE_ROUTERS: dict[str, int] = {"support": 7_300_000_000_000_001, "sales": 7_300_000_000_000_002}
"""The fictional routers of ``data/attempts_sample.csv``."""

_SAMPLE_START = "2026-10-05T00:00:00Z"  # a Monday, the week after the call-log sample


def _hourly_rate(hours_local: np.ndarray, weekday: np.ndarray, peak: float) -> np.ndarray:
    office = ((hours_local >= 9) & (hours_local < 12)) | ((hours_local >= 13) & (hours_local < 17))
    rate = np.where(office, peak, np.where((hours_local >= 7) & (hours_local < 20), peak * 0.35, peak * 0.05))
    return np.where(weekday >= 5, rate * 0.3, rate)


def sample_attempts(seed: int = 20261005, *, days: int = 3) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A seeded attempts log for two routers and the PATCHes an operator made.

    ``support`` degrades on the second day (UTC 20:00–22:00, office hours in
    San Francisco): answers slow down past the deadline, then the endpoint
    starts failing with 503s, and the router is disabled. The operator
    re-enables it without a reset (it disables again at once) and later, once
    fixed, with a reset. ``sales`` stays healthy. Returns ``(attempts,
    patches)``; the attempts are what Dialpad recorded (``simulate`` under
    ``DIALPAD``), so calls while disabled are ``skipped_disabled``."""
    rng = np.random.default_rng(seed)
    start = pd.Timestamp(_SAMPLE_START)
    start_ms = int(start.value // 1_000_000)
    hour_ms = 3_600_000
    degrade_from = start_ms + (24 + 20) * hour_ms
    fail_from = degrade_from + 45 * 60_000
    fixed_at = degrade_from + 2 * hour_ms
    patches = make_patches(
        [
            (degrade_from + 80 * 60_000, SAMPLE_ROUTERS["support"], True, False),  # re-enable, keep count
            (fixed_at + 10 * 60_000, SAMPLE_ROUTERS["support"], True, True),  # fixed: re-enable with reset
        ]
    )
    targets = {
        "support": [(c["id"], "callcenter") for c in CALLCENTERS[1:3]],
        "sales": [(CALLCENTERS[0]["id"], "callcenter"), (DEPARTMENTS[0]["id"], "department")],
    }
    default = {"support": (DEPARTMENTS[1]["id"], "department"), "sales": (DEPARTMENTS[0]["id"], "department")}
    rows: list[dict[str, Any]] = []
    call_id = 7_000_000_000_100_000
    for name, peak in (("support", 60.0), ("sales", 40.0)):
        router = SAMPLE_ROUTERS[name]
        hours = np.arange(days * 24)
        stamps = start + pd.to_timedelta(hours, unit="h")
        local = stamps.tz_convert("America/Los_Angeles")
        rate = _hourly_rate(np.asarray(local.hour), np.asarray(local.day_of_week), peak)
        counts = rng.poisson(rate)
        times = np.sort(
            np.concatenate(
                [
                    start_ms + h * hour_ms + rng.integers(0, hour_ms, c)
                    for h, c in zip(hours, counts, strict=True)
                ]
            )
        )
        n = times.size
        latency = np.round(rng.lognormal(np.log(180.0), 0.45, n), 1)
        status = np.full(n, 200)
        if name == "support":
            slow = (times >= degrade_from) & (times < fixed_at)
            ramp = np.clip((times - degrade_from) / (fail_from - degrade_from), 0, 1)
            latency = np.where(slow, np.round(latency * (1 + 24 * ramp), 1), latency)
            failing = (times >= fail_from) & (times < fixed_at) & (rng.random(n) < 0.35)
            status = np.where(failing, 503, status)
            latency = np.where(failing, np.round(rng.uniform(8, 40, n), 1), latency)
        deadline = DIALPAD.deadline_ms
        timeout = latency > deadline
        latency = np.where(timeout, np.round(deadline + rng.uniform(1, 25, n), 1), latency)
        pick = rng.integers(0, len(targets[name]), n)
        for i in range(n):
            call_id += int(rng.integers(1, 40))
            if timeout[i]:
                outcome, http = "timeout", None
            elif status[i] != 200:
                outcome, http = "http_status", int(status[i])
            else:
                outcome, http = "ok", 200
            target = targets[name][pick[i]] if outcome == "ok" else default[name]
            rows.append(
                {
                    "time": int(times[i]),
                    "call_id": call_id,
                    "router_id": router,
                    "latency_ms": float(latency[i]),
                    "outcome": outcome,
                    "http_status": http,
                    "target_id": target[0],
                    "target_type": target[1],
                    "is_default": outcome != "ok",
                }
            )
    raw = attempts_from_records(rows, source="sample")
    sim = simulate(raw, patches=patches)
    recorded = raw.copy()
    skipped = ~sim["requested"].to_numpy(dtype=bool)
    recorded["outcome"] = sim["outcome"]
    recorded["is_error"] = sim["is_error"]
    recorded["error_count"] = sim["error_count"]
    recorded.loc[skipped, ["latency_ms"]] = np.nan
    recorded.loc[skipped, "http_status"] = pd.NA
    for name, router in SAMPLE_ROUTERS.items():
        mask = skipped & (recorded["router_id"] == router).to_numpy(dtype=bool)
        recorded.loc[mask, "target_id"] = default[name][0]
        recorded.loc[mask, "target_type"] = default[name][1]
        recorded.loc[mask, "is_default"] = True
    return recorded, patches


def write_sample_attempts(path: str | Path = "data/attempts_sample.csv", *, seed: int = 20261005) -> Path:
    """Write :func:`sample_attempts` as CSV (byte for byte the same for a seed)."""
    attempts, _ = sample_attempts(seed)
    path = Path(path)
    write_attempts_csv(attempts, path)
    return path
