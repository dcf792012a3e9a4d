"""Did the canary's callers fare worse than the control's? The two arms side by side.

:func:`canary_report` reads an endpoint log that ran a canary (each request logs its ``side``)
and joins, on ``call_id``, what Dialpad did with each call (``outcomes``: the attempts frame
from the sandbox, :func:`~dialpad_nb.health.from_sandbox`, or from call history,
:func:`~dialpad_nb.health.from_dialpad_calls`). Per candidate, it compares its callers with the
control's callers:

=======================  ==========================================================  =========
metric                   per arm                                                     needs
=======================  ==========================================================  =========
``dialpad_error``        calls Dialpad counted as a routing error (``is_error``)     outcomes
``default_target``       calls that ended at the router's default target             outcomes
``endpoint_fallback``    answers that were the endpoint's fallback target            the log
``rule_failed``          the arm's own rule failed (raised, invalid target, over     the log
                         budget); a failing candidate's answer was replaced by the
                         control's, so these never reach Dialpad
``latency_p50_ms``,      the endpoint's time to answer (receipt to answer, from      the log
``latency_p99_ms``       the log; real timings)
=======================  ==========================================================  =========

**Method.** Rates: each arm's Wilson score interval; the difference (candidate − control) with
Newcombe's hybrid score interval (method 10). Percentiles: percentile bootstrap of the
difference (each arm resampled ``n_boot`` times with a generator seeded by ``seed``: the same
numbers every run), only when each arm has at least :data:`MIN_CALLS_FOR_PERCENTILE` calls (20
for p50, 100 for p99; below that the values are shown without an interval or a test). A
difference is *significant* when its interval (``confidence``) excludes 0. Caveats, said in the
report too: callers are split, not calls (one caller's calls are correlated, so with a few heavy
callers the intervals are too narrow); calls with no outcome to join are counted (``joined``)
and left out of the outcome metrics.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..calls.endpoint_log import LogSource, read_log_events
from ..calls.experiment_log import ExperimentRead, read_experiment
from ..core.frames import ReadResult
from .intervals import bootstrap_percentile_diff, newcombe_interval

__all__ = ["CANARY_METRICS", "CanaryReport", "canary_report"]

CANARY_METRICS: tuple[str, ...] = (
    "dialpad_error",
    "default_target",
    "endpoint_fallback",
    "rule_failed",
    "latency_p50_ms",
    "latency_p99_ms",
)
_RATES = CANARY_METRICS[:4]
_PERCENTILES = {"latency_p50_ms": 50.0, "latency_p99_ms": 99.0}
MIN_CALLS_FOR_PERCENTILE: dict[str, int] = {"latency_p50_ms": 20, "latency_p99_ms": 100}
"""Fewest calls per arm for a percentile's bootstrap interval (below: the values, no test): a p99
of fewer than 100 calls is about the maximum, and its bootstrap interval would mislead."""
_COLUMNS = ["candidate", "metric", "control", "control_n", "candidate_value", "candidate_n", "difference",
            "ci_low", "ci_high", "significant", "note"]  # fmt: skip


@dataclass(frozen=True)
class CanaryReport:
    """:func:`canary_report`'s tables. ``rates`` and ``latency`` have one row per candidate and
    metric: each arm's value and count, the difference (candidate − control), its interval and
    whether it is significant; ``arms`` counts requests per arm and who answered them;
    ``events`` lists the canary's starts, share changes, stops and resumes; ``method`` says how
    the intervals were made."""

    arms: pd.DataFrame
    rates: pd.DataFrame
    latency: pd.DataFrame
    events: pd.DataFrame
    method: str
    confidence: float
    timezone: str
    read: ExperimentRead = field(repr=False)

    @property
    def rejects(self) -> pd.DataFrame:
        """Log lines that could not be read (the one rejects frame: line and reason)."""
        return self.read.rejects

    @property
    def table(self) -> pd.DataFrame:
        """``rates`` and ``latency`` together."""
        return pd.concat([self.rates, self.latency], ignore_index=True)

    @property
    def verdict(self) -> str:
        """One line per candidate: the significant differences, or that there are none."""
        lines = []
        for candidate, rows in self.table.groupby("candidate", sort=False):
            found = [
                (str(m), float(d))
                for m, d, sig in zip(rows["metric"], rows["difference"], rows["significant"], strict=True)
                if sig
            ]
            text = f"{candidate}: "
            if not found:
                text += f"no significant difference from the control ({self.confidence:.0%} intervals)"
            else:
                text += "; ".join(
                    f"{m} {'higher' if d > 0 else 'lower'} than the control by {_fmt(m, abs(d))}"
                    for m, d in found
                )
            lines.append(text)
        return "\n".join(lines) or "no canary in this log (no request has a candidate side)"

    def __repr__(self) -> str:
        return f"CanaryReport({self.read.summary})\n{self.verdict}\n{self.table.to_string(index=False)}"

    def _repr_html_(self) -> str:
        verdict = "<br>".join(html.escape(v) for v in self.verdict.splitlines())
        return (
            f"<p><b>Canary report</b> — {html.escape(self.read.summary)}</p><p>{verdict}</p>"
            + self.arms.to_html(index=False)
            + self.table.to_html(index=False, float_format=lambda v: f"{v:.4g}", na_rep="")
            + f"<p style='color:#555'>{html.escape(self.method)}</p>"
        )


def canary_report(
    source: LogSource | ExperimentRead,
    outcomes: pd.DataFrame | ReadResult | None = None,
    *,
    events: Any = None,
    confidence: float = 0.95,
    n_boot: int = 2000,
    seed: int = 0,
    timezone: str = "UTC",
) -> CanaryReport:
    """Compare each canary candidate's callers with the control's (module docstring).

    ``source``: the endpoint log (path, ``EndpointLog``, records) or what
    :func:`~dialpad_nb.calls.read_experiment` read from it; ``outcomes``: an attempts frame (or
    its ``ReadResult``) with ``call_id``, ``is_error`` and ``is_default``; ``events``: where to
    read the canary's events when ``source`` is an ``ExperimentRead`` (default: ``source``)."""
    read = source if isinstance(source, ExperimentRead) else read_experiment(source)
    frame = _side_outcome(read)
    joined = _join(frame, outcomes)
    arms = frame[frame["side"].notna()]
    candidates = [c for c in dict.fromkeys(arms["side"].astype(str)) if c != "control"]
    control = joined[joined["side"] == "control"]
    rates, latency = [], []
    for candidate in candidates:
        mine = joined[joined["side"] == candidate]
        for metric in _RATES:
            rates.append(_rate_row(candidate, metric, control, mine, confidence, outcomes is not None))
        for metric, q in _PERCENTILES.items():
            latency.append(_latency_row(candidate, metric, q, control, mine, confidence, n_boot, seed))
    log_events = events if events is not None else (None if isinstance(source, ExperimentRead) else source)
    method = (
        f"Rates: Wilson score interval per arm; difference (candidate - control): Newcombe hybrid score "
        f"interval (method 10). Latency percentiles: percentile bootstrap of the difference, {n_boot:,} "
        f"resamples per arm, seed {seed} (only with 20+ calls per arm for p50, 100+ for p99). Intervals at "
        f"{confidence:.0%}; significant = the interval of the "
        f"difference excludes 0. Callers, not calls, are split between arms: one caller's calls are "
        f"correlated, so intervals may be too narrow when a few callers make many calls."
    )
    return CanaryReport(
        arms=_arms(frame, joined, outcomes is not None),
        rates=pd.DataFrame(rates, columns=_COLUMNS),
        latency=pd.DataFrame(latency, columns=_COLUMNS),
        events=_events(log_events, timezone),
        method=method,
        confidence=confidence,
        timezone=timezone,
        read=read,
    )


def _side_outcome(read: ExperimentRead) -> pd.DataFrame:
    """The requests with ``side_outcome``: how the rule of the caller's side ended (the control's
    own result on the control's side, the candidate's shadow result on its side)."""
    frame = read.frame.copy()
    frame["side_outcome"] = frame["control_outcome"]
    sh = read.shadows
    if len(sh) and frame["side"].notna().any():
        mine = sh[["source", "line", "shadow", "outcome"]].rename(
            columns={"shadow": "side", "outcome": "own"}
        )
        merged = frame[["source", "line", "side"]].merge(mine, on=["source", "line", "side"], how="left")
        on_candidate = (frame["side"].notna() & (frame["side"] != "control")).to_numpy()
        frame.loc[on_candidate, "side_outcome"] = merged.loc[on_candidate, "own"].to_numpy()
    return frame


def _join(frame: pd.DataFrame, outcomes: pd.DataFrame | ReadResult | None) -> pd.DataFrame:
    """The requests with ``is_error``/``is_default`` from Dialpad's outcomes (first per call)."""
    out = frame.copy()
    if outcomes is None:
        out["is_error"] = pd.array([pd.NA] * len(out), dtype="boolean")
        out["is_default"] = pd.array([pd.NA] * len(out), dtype="boolean")
        return out
    table = outcomes.frame if isinstance(outcomes, ReadResult) else outcomes
    missing = [c for c in ("call_id", "is_error", "is_default") if c not in table.columns]
    if missing:
        from ..core.errors import ValidationError

        raise ValidationError(
            f"needs the attempts columns call_id, is_error, is_default (missing {', '.join(missing)})",
            field="outcomes",
        )
    known = table.dropna(subset=["call_id"]).drop_duplicates("call_id", keep="first")
    right = known[["call_id", "is_error", "is_default"]].astype(
        {"call_id": "Int64", "is_error": "boolean", "is_default": "boolean"}
    )
    return out.merge(right, on="call_id", how="left")


def _flags(rows: pd.DataFrame, metric: str, candidate: str | None) -> pd.Series:
    """The boolean of ``metric`` per request (missing where unknown)."""
    if metric == "dialpad_error":
        return rows["is_error"]
    if metric == "default_target":
        return rows["is_default"]
    if metric == "endpoint_fallback":
        return rows["fallback"]
    # rule_failed: the arm's own rule (the control's result, or the candidate's shadow result)
    return rows["side_outcome"].isin(["timeout", "error"]).astype("boolean")


def _rate_row(
    candidate: str,
    metric: str,
    control: pd.DataFrame,
    mine: pd.DataFrame,
    confidence: float,
    have_outcomes: bool,
) -> dict[str, Any]:
    a = _flags(control, metric, None).dropna()
    b = _flags(mine, metric, candidate).dropna()
    k1, n1, k2, n2 = int(b.sum()), len(b), int(a.sum()), len(a)
    low, high = newcombe_interval(k1, n1, k2, n2, confidence)
    note = ""
    if metric in ("dialpad_error", "default_target") and not have_outcomes:
        note = "needs outcomes= (sandbox attempts or call history)"
    elif n1 == 0 or n2 == 0:
        note = "an arm has no calls"
    elif metric == "rule_failed":
        note = "the candidate's failures were replaced by the control's answers (never sent)"
    return {
        "candidate": candidate,
        "metric": metric,
        "control": k2 / n2 if n2 else math.nan,
        "control_n": n2,
        "candidate_value": k1 / n1 if n1 else math.nan,
        "candidate_n": n1,
        "difference": (k1 / n1 - k2 / n2) if n1 and n2 else math.nan,
        "ci_low": low,
        "ci_high": high,
        "significant": bool(n1 and n2 and (low > 0 or high < 0)),
        "note": note,
    }


def _latency_row(
    candidate: str,
    metric: str,
    q: float,
    control: pd.DataFrame,
    mine: pd.DataFrame,
    confidence: float,
    n_boot: int,
    seed: int,
) -> dict[str, Any]:
    a = control["latency_ms"].dropna().to_numpy()
    b = mine["latency_ms"].dropna().to_numpy()
    need = MIN_CALLS_FOR_PERCENTILE[metric]
    if min(len(a), len(b)) >= need:
        diff, low, high = bootstrap_percentile_diff(b, a, q, confidence=confidence, n_boot=n_boot, seed=seed)
        note = ""
    else:  # a percentile of a handful of calls has no useful interval: no test
        diff = float(np.percentile(b, q) - np.percentile(a, q)) if len(a) and len(b) else math.nan
        low = high = math.nan
        note = f"no interval: an arm has fewer than {need} calls"
    return {
        "candidate": candidate,
        "metric": metric,
        "control": float(np.percentile(a, q)) if len(a) else math.nan,
        "control_n": len(a),
        "candidate_value": float(np.percentile(b, q)) if len(b) else math.nan,
        "candidate_n": len(b),
        "difference": diff,
        "ci_low": low,
        "ci_high": high,
        "significant": bool(not math.isnan(low) and (low > 0 or high < 0)),
        "note": note,
    }


def _arms(frame: pd.DataFrame, joined: pd.DataFrame, have_outcomes: bool) -> pd.DataFrame:
    columns = ["side", "requests", "callers", "answered_by_candidate", "replaced_by_control", "joined"]
    with_side = joined[joined["side"].notna()]
    rows = []
    for side, group in with_side.groupby("side", sort=False):
        own = group["answered_by"] == group["side"]
        rows.append(
            {
                "side": side,
                "requests": len(group),
                "callers": group["external_number"].nunique(),
                "answered_by_candidate": 0 if side == "control" else int(own.sum()),
                "replaced_by_control": 0 if side == "control" else int((~own).sum()),
                "joined": int(group["is_error"].notna().sum()) if have_outcomes else 0,
            }
        )
    out = pd.DataFrame(rows, columns=columns)
    if len(out):
        out = out.sort_values("side", key=lambda s: s != "control", kind="stable", ignore_index=True)
    return out


def _events(source: Any, timezone: str) -> pd.DataFrame:
    when = f"time ({timezone})"
    columns = [when, "action", "candidate", "share", "trigger", "reason"]
    if source is None:
        return pd.DataFrame(columns=columns)
    events = read_log_events(source)
    events = events[events["event"] == "canary"]
    out = pd.DataFrame(
        {
            when: events["time"].dt.tz_convert(timezone),  # aware: every time says its zone
            "action": events["action"],
            "candidate": events["candidate"],
            "share": events["share"],
            "trigger": events["trigger"],
            "reason": events["reason"],
        }
    )
    return out[columns].reset_index(drop=True)


def _fmt(metric: str, value: float) -> str:
    return f"{value:.1f} ms" if metric.endswith("_ms") else f"{value * 100:.1f} points"
