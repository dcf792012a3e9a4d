"""Chart of a canary (:func:`dialpad_nb.health.canary_report`): who answered whom over time, and
the two arms side by side with their intervals.

Returns a new :class:`matplotlib.figure.Figure` (no pyplot state); times are wall-clock times in
the report's timezone, which the axis names.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure

from ..core.errors import ValidationError
from ..health.canary import CanaryReport
from ..health.intervals import wilson_interval

__all__ = ["canary_chart"]

CONTROL_COLOR = "#7f8c8d"
CANDIDATE_COLOR = "#1f77b4"
REPLACED_COLOR = "#d62728"
_RATE_LABELS = {
    "dialpad_error": "Dialpad error",
    "default_target": "router's default",
    "endpoint_fallback": "endpoint fallback",
    "rule_failed": "own rule failed",
}


def canary_chart(report: CanaryReport, candidate: str | None = None, *, freq: str = "1h") -> Figure:
    """Top: requests per ``freq`` on the control's side, answered by the candidate, and on the
    candidate's side but answered by the control (its answer failed), with the canary's events
    (start, share, stop, resume) as vertical lines. Bottom left: each rate per arm with its 95 %
    Wilson interval; bottom right: latency p50 and p99 per arm."""
    if not isinstance(report, CanaryReport):
        raise ValidationError(f"expected a CanaryReport, got {type(report).__name__}", field="report")
    names = list(dict.fromkeys(report.table["candidate"].astype(str)))
    if candidate is None and names:
        candidate = names[0]
    if candidate is not None and candidate not in names:
        raise ValidationError(
            f"no candidate {candidate!r} in the report (candidates: {', '.join(names) or 'none'})",
            field="candidate",
        )
    fig = Figure(figsize=(10.0, 6.6), dpi=100, layout="constrained")
    grid = fig.add_gridspec(2, 2, height_ratios=[1.1, 1])
    timeline = fig.add_subplot(grid[0, :])
    rates_ax = fig.add_subplot(grid[1, 0])
    latency_ax = fig.add_subplot(grid[1, 1])
    fig.suptitle(f"Canary: {candidate or '(none)'} against the control", fontsize=11)
    if candidate is None:
        for ax in (timeline, rates_ax, latency_ax):
            ax.text(0.5, 0.5, "no canary in this log", ha="center", va="center")
            ax.set_axis_off()
        return fig
    _timeline(timeline, report, candidate, freq)
    _rates(rates_ax, report, candidate)
    _latency(latency_ax, report, candidate)
    return fig


def _timeline(ax, report: CanaryReport, candidate: str, freq: str) -> None:
    frame = report.read.frame
    tz = report.timezone
    rows = frame[frame["side"].isin(["control", candidate])]
    local = rows["time"].dt.tz_convert(tz).dt.tz_localize(None).dt.floor(freq)
    kind = np.where(
        rows["side"] == "control",
        "control's callers",
        np.where(rows["answered_by"] == candidate, f"answered by {candidate}", "replaced by the control"),
    )
    counts = pd.crosstab(local, kind)
    order = ["control's callers", f"answered by {candidate}", "replaced by the control"]
    colors = [CONTROL_COLOR, CANDIDATE_COLOR, REPLACED_COLOR]
    width = pd.Timedelta(freq) * 0.8 if len(counts) else pd.Timedelta(freq)
    bottom = np.zeros(len(counts))
    for label, color in zip(order, colors, strict=True):
        values = counts[label].to_numpy() if label in counts else np.zeros(len(counts))
        ax.bar(counts.index, values, width=width, bottom=bottom, color=color, label=label, align="edge")
        bottom += values
    when = f"time ({tz})"
    events = report.events.assign(  # wall-clock times in the report's zone, as the bars
        **{when: [pd.Timestamp(t).tz_convert(tz).tz_localize(None) for t in report.events[when]]}
    )
    if len(counts):  # the requests' span; an event outside it (e.g. the start, long before) is not drawn
        lo, hi = counts.index.min(), counts.index.max() + pd.Timedelta(freq)
        ax.set_xlim(lo, hi)
        events = events[(events[when] >= lo) & (events[when] <= hi)]
    for k, rec in enumerate(events[events["candidate"] == candidate].to_dict("records")):
        color = REPLACED_COLOR if rec["action"] == "stop" else "#2a6f2a"
        share = f" {rec['share']:.0%}" if rec["action"] in ("start", "share") else ""
        ax.axvline(rec[when], color=color, lw=1.2, ls="--")
        ax.annotate(
            f"{rec['action']}{share} ({rec['trigger']})", (rec[when], 1.0), xycoords=("data", "axes fraction"),
            xytext=(3, -10 - 11 * (k % 4)), textcoords="offset points", fontsize=8, color=color,
            bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.8},
        )  # fmt: skip
    locator = AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator, show_offset=True))
    ax.set_xlabel(f"time ({tz})")
    ax.set_ylabel(f"requests per {freq}")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)


def _rates(ax, report: CanaryReport, candidate: str) -> None:
    rows = report.rates[report.rates["candidate"] == candidate]
    y = np.arange(len(rows))
    for offset, (value, n, color, label) in zip(
        (-0.15, 0.15),
        (
            ("control", "control_n", CONTROL_COLOR, "control"),
            ("candidate_value", "candidate_n", CANDIDATE_COLOR, candidate),
        ),
        strict=True,
    ):
        vals = rows[value].to_numpy(dtype=float)
        ns = rows[n].to_numpy(dtype=int)
        lows, highs = [], []
        for v, k in zip(vals, ns, strict=True):
            lo, hi = wilson_interval(round(v * k), k) if k and not np.isnan(v) else (np.nan, np.nan)
            lows.append(v - lo)
            highs.append(hi - v)
        ax.errorbar(
            vals * 100,
            y + offset,
            xerr=np.array([lows, highs]) * 100,
            fmt="o",
            color=color,
            capsize=3,
            label=label,
        )
    ax.set_yticks(y, [_RATE_LABELS.get(m, m) for m in rows["metric"]])
    ax.invert_yaxis()
    ax.set_xlabel("% of the arm's calls (95 % Wilson interval)")
    ax.set_xlim(left=0)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")


def _latency(ax, report: CanaryReport, candidate: str) -> None:
    rows = report.latency[report.latency["candidate"] == candidate]
    labels = [m.replace("latency_", "").replace("_ms", "") for m in rows["metric"]]
    x = np.arange(len(rows))
    ax.bar(x - 0.18, rows["control"].to_numpy(dtype=float), 0.36, color=CONTROL_COLOR, label="control")
    ax.bar(
        x + 0.18, rows["candidate_value"].to_numpy(dtype=float), 0.36, color=CANDIDATE_COLOR, label=candidate
    )
    for xi, rec in zip(x, rows.to_dict("records"), strict=True):
        if np.isnan(rec["difference"]):
            continue
        top = np.nanmax([rec["control"], rec["candidate_value"]])
        interval = (
            "no interval" if np.isnan(rec["ci_low"]) else f"[{rec['ci_low']:+.1f}, {rec['ci_high']:+.1f}]"
        )
        ax.annotate(
            f"{rec['difference']:+.1f} ms\n{interval}",
            (xi, top), xytext=(0, 4), textcoords="offset points", ha="center", fontsize=7,
        )  # fmt: skip
    ax.set_xticks(x, labels)
    ax.set_ylabel("endpoint latency (ms)")
    ax.margins(y=0.25)
    ax.legend(fontsize=8, loc="upper left")
    ax.set_title("difference and bootstrap 95 % interval", fontsize=8)
