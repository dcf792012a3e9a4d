"""Latency statistics of call attempts against Dialpad's routing deadline.

Percentiles are over attempts that made a request (``latency_ms`` not NaN).
Two shares matter to ops: *over the deadline* (``latency > deadline``: Dialpad
gave up, an error) and *at risk* (``at_risk < latency <= deadline``: answered
in time, but close). The at-risk floor defaults to 80 % of the deadline
(4 s of Dialpad's 5 s).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..core.errors import ValidationError
from ..core.policy import DIALPAD, Policy

__all__ = [
    "AT_RISK_FRACTION",
    "LATENCY_COLUMNS",
    "latency_band",
    "latency_by_hour",
    "latency_by_outcome",
    "latency_summary",
]

AT_RISK_FRACTION = 0.8
"""Default at-risk floor as a fraction of the deadline."""

LATENCY_COLUMNS: tuple[str, ...] = (
    "requests",
    "p50_ms",
    "p90_ms",
    "p99_ms",
    "max_ms",
    "over_deadline",
    "at_risk",
)


def _floor_ms(policy: Policy, at_risk_s: float | None) -> tuple[float, float]:
    deadline = policy.deadline_s * 1000
    floor = (policy.deadline_s * AT_RISK_FRACTION if at_risk_s is None else at_risk_s) * 1000
    if not 0 <= floor <= deadline:
        raise ValidationError(
            f"must be between 0 and the deadline ({policy.deadline_s} s), got {at_risk_s!r}",
            field="at_risk_s",
        )
    return deadline, floor


def _stats(latency: pd.Series, keys: list | pd.Series | None, deadline: float, floor: float) -> pd.DataFrame:
    frame = pd.DataFrame({"latency": latency.to_numpy(dtype=float)}, index=latency.index)
    frame["over"] = frame["latency"] > deadline
    frame["risk"] = (frame["latency"] > floor) & ~frame["over"]
    frame = frame[frame["latency"].notna()]
    if frame.empty:
        return pd.DataFrame(
            {c: pd.Series([], dtype="int64" if c == "requests" else float) for c in LATENCY_COLUMNS}
        )
    grouped: Any
    if keys is None:
        grouped = frame.assign(_all="all").groupby("_all")
    else:
        grouped = frame.groupby(
            keys if not isinstance(keys, pd.Series) else keys.loc[frame.index], observed=True
        )
    quant = grouped["latency"].quantile([0.5, 0.9, 0.99]).unstack()
    out = pd.DataFrame(
        {
            "requests": grouped.size().astype("int64"),
            "p50_ms": quant[0.5],
            "p90_ms": quant[0.9],
            "p99_ms": quant[0.99],
            "max_ms": grouped["latency"].max(),
            "over_deadline": grouped["over"].mean(),
            "at_risk": grouped["risk"].mean(),
        }
    )
    return out[list(LATENCY_COLUMNS)]


def latency_by_hour(
    attempts: pd.DataFrame,
    *,
    policy: Policy = DIALPAD,
    at_risk_s: float | None = None,
    freq: str = "1h",
) -> pd.DataFrame:
    """Per ``freq`` bucket of ``time``: requests, p50/p90/p99/max latency (ms),
    share over the deadline and share in the at-risk band. Buckets without a
    request are left out."""
    deadline, floor = _floor_ms(policy, at_risk_s)
    bucket = attempts["time"].dt.floor(freq).rename("hour")
    out = _stats(attempts["latency_ms"], bucket, deadline, floor)
    out.index.name = "hour"
    return out


def latency_by_outcome(
    attempts: pd.DataFrame, *, policy: Policy = DIALPAD, at_risk_s: float | None = None
) -> pd.DataFrame:
    """The same statistics per outcome (outcomes with no request are left out)."""
    deadline, floor = _floor_ms(policy, at_risk_s)
    out = _stats(attempts["latency_ms"], attempts["outcome"].astype(str).rename("outcome"), deadline, floor)
    out.index.name = "outcome"
    return out


def latency_summary(
    attempts: pd.DataFrame, *, policy: Policy = DIALPAD, at_risk_s: float | None = None
) -> pd.Series:
    """The statistics over every request, as one Series (``requests`` 0 and
    NaN statistics when there are none)."""
    deadline, floor = _floor_ms(policy, at_risk_s)
    out = _stats(attempts["latency_ms"], None, deadline, floor)
    if out.empty:
        return pd.Series({c: (0 if c == "requests" else np.nan) for c in LATENCY_COLUMNS}, name="all")
    return out.iloc[0].rename("all")


def latency_band(
    attempts: pd.DataFrame, *, policy: Policy = DIALPAD, at_risk_s: float | None = None, fast_s: float = 1.0
) -> pd.Series:
    """Each attempt's latency as an ordered band: ``≤ fast_s``, up to the at-risk
    floor, ``at risk`` (up to the deadline), ``over deadline``; missing when no
    request was made. Stable to show where raw timings vary run to run."""
    deadline, floor = _floor_ms(policy, at_risk_s)
    fast = min(fast_s * 1000, floor)
    labels = [
        f"≤ {fast / 1000:g} s",
        f"{fast / 1000:g}–{floor / 1000:g} s",
        f"at risk {floor / 1000:g}–{deadline / 1000:g} s",
        f"over {deadline / 1000:g} s",
    ]
    bins = [-np.inf, fast, floor, deadline, np.inf]
    band = pd.cut(attempts["latency_ms"].astype(float), bins=bins, labels=labels, right=True)
    return band.rename("latency_band")
