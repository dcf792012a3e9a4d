"""Charts of a replay comparison: volume per target, calls by hour, where changed calls go.

Each function takes DataFrames from :func:`dialpad_nb.rules.comparison.compare`
(``result.volume``, ``result.decisions``, ``result.flows``) and returns a new
:class:`matplotlib.figure.Figure`, never touching pyplot's global state, so a
notebook shows each figure exactly once. Axes show target names, not ids.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..core.errors import ValidationError

__all__ = ["flow_chart", "hourly_heatmap", "volume_chart"]

BEFORE_COLOR = "#9aa5b1"
AFTER_COLOR = "#1f77b4"


def volume_chart(volume: pd.DataFrame, *, title: str = "Calls per target: baseline vs candidate") -> Figure:
    """Horizontal bars of calls per target, before and after (``Comparison.volume``:
    index = target name, columns ``before`` and ``after``)."""
    _require(volume, ("before", "after"), "volume")
    table = volume.sort_values(["after", "before"], kind="stable")
    names = [str(n) for n in table.index]
    fig = Figure(figsize=(9.0, 0.45 * len(names) + 1.6), dpi=100, layout="constrained")
    ax = fig.subplots()
    y = np.arange(len(names))
    height = 0.4
    ax.barh(y + height / 2, table["before"].to_numpy(), height, label="baseline", color=BEFORE_COLOR)
    ax.barh(y - height / 2, table["after"].to_numpy(), height, label="candidate", color=AFTER_COLOR)
    for yi, (b, a) in enumerate(zip(table["before"], table["after"], strict=True)):
        delta = int(a) - int(b)
        if delta:
            ax.annotate(
                f"{delta:+,}",
                (max(a, b), yi),
                xytext=(4, 0),
                textcoords="offset points",
                va="center",
                fontsize=8,
                color="#2a6f2a" if delta > 0 else "#a23b3b",
            )
    ax.set_yticks(y, names)
    ax.set_xlabel("calls")
    ax.set_title(title, fontsize=11)
    ax.legend(loc="lower right", frameon=False)
    ax.margins(x=0.12)
    return fig


def hourly_heatmap(
    decisions: pd.DataFrame,
    *,
    timezone: str = "UTC",
    sides: tuple[str, ...] = ("before", "after"),
    title: str = "Calls by local hour and target",
) -> Figure:
    """Hour of day (in ``timezone``) × target heat maps, one panel per side
    (``Comparison.decisions``: ``date_started`` and ``<side>_name`` columns).
    Sides with no decisions (e.g. no baseline) are left out; panels share one colour scale."""
    _require(decisions, ("date_started",), "decisions")
    hours = decisions["date_started"].dt.tz_convert(timezone).dt.hour.to_numpy()
    tables = {}
    for side in sides:
        _require(decisions, (f"{side}_name",), "decisions")
        names = decisions[f"{side}_name"]
        ok = names.notna().to_numpy()
        if not ok.any():
            continue
        counts = pd.crosstab(names[ok].astype(str).to_numpy(), hours[ok])
        tables[side] = counts.reindex(columns=range(24), fill_value=0)
    targets = sorted(set().union(*(t.index for t in tables.values())) if tables else [])
    fig = Figure(
        figsize=(10.0, 0.35 * max(len(targets), 1) * max(len(tables), 1) + 1.8), dpi=100, layout="constrained"
    )
    if not tables:
        ax = fig.subplots()
        ax.text(0.5, 0.5, "no calls", ha="center", va="center")
        ax.set_axis_off()
        return fig
    axes = fig.subplots(len(tables), 1, squeeze=False, sharex=True)[:, 0]
    vmax = max(int(t.to_numpy().max()) for t in tables.values()) or 1
    image = None
    for ax, (side, table) in zip(axes, tables.items(), strict=True):
        grid = table.reindex(index=targets, fill_value=0)
        image = ax.imshow(
            grid.to_numpy(), aspect="auto", cmap="viridis", vmin=0, vmax=vmax, interpolation="nearest"
        )
        ax.set_yticks(range(len(targets)), targets, fontsize=8)
        ax.set_ylabel({"before": "baseline", "after": "candidate"}.get(side, side))
    axes[-1].set_xticks(range(0, 24, 2), [f"{h:02d}" for h in range(0, 24, 2)])
    axes[-1].set_xlabel(f"hour of day ({timezone})")
    axes[0].set_title(title, fontsize=11)
    assert image is not None  # at least one side is always drawn
    fig.colorbar(image, ax=list(axes), label="calls", shrink=0.9)
    return fig


def flow_chart(flows: pd.DataFrame, *, title: str = "Where the changed calls go (from → to)") -> Figure:
    """A from × to matrix of changed calls, counts written in the cells
    (``Comparison.flows``: columns ``from``, ``to``, ``calls``)."""
    _require(flows, ("from", "to", "calls"), "flows")
    if flows.empty:
        fig = Figure(figsize=(6.0, 2.0), dpi=100, layout="constrained")
        ax = fig.subplots()
        ax.text(0.5, 0.5, "no call changes target", ha="center", va="center")
        ax.set_axis_off()
        return fig
    grid = flows.pivot_table(index="from", columns="to", values="calls", aggfunc="sum", fill_value=0)
    grid = grid.loc[grid.sum(axis=1).sort_values(ascending=False, kind="stable").index]
    grid = grid[grid.sum(axis=0).sort_values(ascending=False, kind="stable").index]
    values = grid.to_numpy()
    fig = Figure(
        figsize=(1.2 * grid.shape[1] + 3.5, 0.5 * grid.shape[0] + 2.0), dpi=100, layout="constrained"
    )
    ax = fig.subplots()
    ax.imshow(
        np.where(values > 0, values, np.nan), cmap="Blues", aspect="auto", vmin=0, interpolation="nearest"
    )
    top = values.max()
    for (i, j), v in np.ndenumerate(values):
        if v:
            ax.text(
                j,
                i,
                f"{v:,}",
                ha="center",
                va="center",
                fontsize=9,
                color="white" if v > top * 0.6 else "black",
            )
    ax.set_xticks(range(grid.shape[1]), [str(c) for c in grid.columns], rotation=30, ha="right")
    ax.set_yticks(range(grid.shape[0]), [str(i) for i in grid.index])
    ax.set_xlabel("candidate target")
    ax.set_ylabel("baseline target")
    ax.set_title(title, fontsize=11)
    return fig


def _require(frame: pd.DataFrame, columns: tuple[str, ...], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValidationError(
            f"needs column(s) {', '.join(missing)}; got {', '.join(map(str, frame.columns))}", field=what
        )
