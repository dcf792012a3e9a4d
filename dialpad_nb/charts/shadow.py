"""Charts of shadow rules against the control (:func:`dialpad_nb.health.shadow_report`).

Each function takes a :class:`~dialpad_nb.health.ShadowReport` and returns a new
:class:`matplotlib.figure.Figure` (no pyplot state). Times are wall-clock times in the
report's timezone, which the axis names; targets are shown by the names the report was given.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure

from ..core.errors import ValidationError
from ..health.shadow import ShadowReport

__all__ = ["VERDICT_COLORS", "shadow_chart", "shadow_flow_chart"]

VERDICT_COLORS: dict[str, str] = {
    "match": "#4c9a2a",
    "mismatch": "#1f77b4",
    "timeout": "#d62728",
    "error": "#ff7f0e",
    "busy": "#9467bd",
    "control_failed": "#7f7f7f",
}


def _local_axis(ax: Any, timezone: str) -> None:
    locator = AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator, show_offset=True))
    ax.set_xlabel(f"time ({timezone})")


def shadow_chart(report: ShadowReport, *, title: str | None = None) -> Figure:
    """Top: each shadow's mismatch rate per period, with its 95 % Wilson band (periods with
    nothing to compare are gaps). Bottom: every shadow's results, stacked: match, mismatch, and
    the requests that could not be compared (timeout, error, busy, control failed)."""
    if not isinstance(report, ShadowReport):
        raise ValidationError(f"expected a ShadowReport, got {type(report).__name__}", field="report")
    summary, over = report.summary, report.over_time
    names = [str(n) for n in summary["shadow"]]
    fig = Figure(figsize=(9.5, 5.2 + 0.3 * len(names)), dpi=100, layout="constrained")
    top, bottom = fig.subplots(2, 1, height_ratios=[3, 1 + 0.25 * max(len(names), 1)])
    fig.suptitle(title or f"Shadows against the control: {len(report.read.frame):,} requests", fontsize=11)
    start = f"start ({report.timezone})"
    if not names:
        for ax in (top, bottom):
            ax.text(0.5, 0.5, "no shadow results in this log", ha="center", va="center")
            ax.set_axis_off()
        return fig
    periods = pd.to_datetime(over[start])
    every = (
        pd.date_range(periods.min(), periods.max(), freq=report.freq) if len(over) else pd.DatetimeIndex([])
    )
    for k, name in enumerate(names):
        rows = over[(over["shadow"] == name) & (over["compared"] > 0)].set_index(start)
        rows.index = pd.to_datetime(rows.index)
        rows = rows.reindex(every)  # a period with nothing to compare is a gap, not a line across it
        color = f"C{k}"
        x = rows.index.to_numpy()
        top.plot(x, rows["mismatch_rate"].to_numpy() * 100, marker="o", ms=3, lw=1.4, color=color, label=name)
        top.fill_between(
            x, rows["ci_low"].to_numpy(dtype=float) * 100, rows["ci_high"].to_numpy(dtype=float) * 100,
            color=color, alpha=0.15, lw=0,
        )  # fmt: skip
    top.set_ylabel(f"mismatch rate per {report.freq} (%)")
    top.set_ylim(bottom=0)
    top.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, title="shadow", title_fontsize=8)
    top.grid(alpha=0.3)
    _local_axis(top, report.timezone)
    left = np.zeros(len(names))
    y = np.arange(len(names))
    for verdict, color in VERDICT_COLORS.items():
        values = summary[verdict].to_numpy(dtype=float)
        bottom.barh(y, values, left=left, color=color, label=verdict.replace("_", " "), height=0.6)
        left += values
    bottom.set_yticks(y, names)
    bottom.invert_yaxis()
    bottom.set_xlabel("requests")
    bottom.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, title="result", title_fontsize=8)
    return fig


def shadow_flow_chart(report: ShadowReport, shadow: str | None = None, *, top: int = 12) -> Figure:
    """Where the mismatched calls would go: the ``top`` control target → shadow target flows of
    one shadow (the first if not named), by number of calls."""
    if not isinstance(report, ShadowReport):
        raise ValidationError(f"expected a ShadowReport, got {type(report).__name__}", field="report")
    names = [str(n) for n in report.summary["shadow"]]
    if shadow is None and names:
        shadow = names[0]
    if shadow is not None and shadow not in names:
        raise ValidationError(
            f"no shadow {shadow!r} in the report (shadows: {', '.join(names)})", field="shadow"
        )
    flows = report.flows
    rows = flows[(flows["shadow"] == shadow) & flows["changed"].astype(bool)].head(top)
    fig = Figure(figsize=(9.0, 0.42 * max(len(rows), 1) + 1.6), dpi=100, layout="constrained")
    ax = fig.subplots()
    ax.set_title(f"{shadow}: where the calls it would route differently go (top {top})", fontsize=11)
    if not len(rows):
        ax.text(0.5, 0.5, "no mismatches", ha="center", va="center")
        ax.set_axis_off()
        return fig
    labels = [f"{a}  →  {b}" for a, b in zip(rows["control_target"], rows["shadow_target"], strict=True)]
    y = np.arange(len(rows))
    ax.barh(y, rows["calls"].to_numpy(), color=VERDICT_COLORS["mismatch"])
    for yi, n in zip(y, rows["calls"], strict=True):
        ax.annotate(
            f"{int(n):,}", (int(n), yi), xytext=(3, 0), textcoords="offset points", va="center", fontsize=8
        )
    ax.set_yticks(y, labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("calls (control target → shadow target)")
    ax.margins(x=0.1)
    return fig
