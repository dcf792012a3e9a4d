"""Charts of a replay comparison: volume per target, calls by hour, where changed calls go.

Each function takes DataFrames from :func:`dialpad_nb.rules.comparison.compare`
(``result.volume``, ``result.decisions``, ``result.flows``) and returns a new
:class:`matplotlib.figure.Figure`, never touching pyplot's global state, so a
notebook shows each figure exactly once. Axes show target names, not ids.
"""

from __future__ import annotations

from typing import Any

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..core.errors import ValidationError

__all__ = ["HEATMAP_PER", "flow_chart", "hourly_heatmap", "volume_chart"]

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


HEATMAP_PER: tuple[str, ...] = ("peak", "mean", "total")
"""What a heatmap cell counts: the most calls in that local hour on any one day (``peak``), the
calls in that hour averaged over the days of the log (``mean``), or all of them (``total``)."""
OVER_CAPACITY_COLOR = "#d62728"


def hourly_heatmap(
    source: Any,
    *,
    timezone: str | None = None,
    per: str = "peak",
    capacity: Any = None,
    sides: tuple[str, ...] = ("before", "after"),
    title: str | None = None,
) -> Figure:
    """Hour of day (in ``timezone``) × target heat maps, one panel per side.

    ``source`` is a :class:`~dialpad_nb.rules.comparison.Comparison` (its decisions, its
    timezone and its capacity are used) or its ``decisions`` frame (``date_started`` and
    ``<side>_name`` columns). ``per`` (:data:`HEATMAP_PER`): ``peak`` calls in one clock hour
    (default), ``mean`` calls per hour over the log's days, or the ``total``. ``capacity``:
    calls per hour by target name (a mapping or Series; default: the comparison's). With a
    capacity each cell is coloured by calls ÷ capacity, so every target is read against its own
    limit; cells over capacity are red and show their count, and targets with no capacity
    are left grey. Without one, cells show calls on one shared scale. Sides with no decisions
    (e.g. no baseline) are left out."""
    if per not in HEATMAP_PER:
        raise ValidationError(f"{per!r}: use one of {', '.join(HEATMAP_PER)}", field="per")
    decisions = getattr(source, "decisions", source)
    if timezone is None:
        timezone = getattr(source, "timezone", None) or "UTC"
    if capacity is None and hasattr(source, "peaks") and "capacity" in source.peaks.columns:
        capacity = source.peaks["capacity"]
    if capacity is not None and per == "total":
        raise ValidationError(
            "capacity is calls per hour: compare it with per='peak' or per='mean', not the total",
            field="capacity",
        )
    _require(decisions, ("date_started",), "decisions")
    local = decisions["date_started"].dt.tz_convert(timezone)
    hours = local.dt.hour.to_numpy()
    days = local.dt.normalize().to_numpy()
    n_days = max(int(local.dt.normalize().nunique()), 1) if len(local) else 1
    tables = {}
    for side in sides:
        _require(decisions, (f"{side}_name",), "decisions")
        names = decisions[f"{side}_name"]
        ok = names.notna().to_numpy()
        if not ok.any():
            continue
        frame = pd.DataFrame({"target": names[ok].astype(str).to_numpy(), "hour": hours[ok], "day": days[ok]})
        if per == "peak":
            grouped = frame.groupby(["target", "day", "hour"]).size().groupby(level=["target", "hour"])
            counts: pd.Series = grouped.max().astype(float)
        else:
            counts = frame.groupby(["target", "hour"]).size().astype(float) / (n_days if per == "mean" else 1)
        tables[side] = counts.unstack("hour").reindex(columns=range(24)).fillna(0).astype(float)
    targets = sorted(set().union(*(t.index for t in tables.values())) if tables else [])
    fig = Figure(
        figsize=(10.0, 0.35 * max(len(targets), 1) * max(len(tables), 1) + 2.0), dpi=100, layout="constrained"
    )
    what = {"peak": "peak calls in one hour", "mean": "mean calls per hour", "total": "calls"}[per]
    if not tables:
        ax = fig.subplots()
        ax.text(0.5, 0.5, "no calls", ha="center", va="center")
        ax.set_axis_off()
        return fig
    caps = _capacity_by_name(capacity, targets)
    axes = fig.subplots(len(tables), 1, squeeze=False, sharex=True)[:, 0]
    if caps is not None:
        cmap = matplotlib.colormaps["viridis"].with_extremes(over=OVER_CAPACITY_COLOR, bad="#e6e6e6")
        vmin, vmax = 0.0, 1.0
        label = f"{what} ÷ capacity (red: over capacity)"
    else:
        cmap = matplotlib.colormaps["viridis"]
        vmin, vmax = 0.0, max(float(t.to_numpy().max()) for t in tables.values()) or 1.0
        label = what
    image = None
    for ax, (side, table) in zip(axes, tables.items(), strict=True):
        grid = table.reindex(index=targets, fill_value=0.0).to_numpy()
        shown = grid if caps is None else grid / caps[:, None]
        image = ax.imshow(
            np.ma.masked_invalid(shown),
            aspect="auto",
            cmap=cmap,
            vmin=vmin,
            vmax=vmax,
            interpolation="nearest",
        )
        if caps is not None:
            for i, j in zip(*np.nonzero(shown > 1.0), strict=True):
                value = grid[i, j]
                ax.text(j, i, f"{value:.0f}" if per == "peak" else f"{value:.1f}", ha="center", va="center",
                        fontsize=7, color="white", fontweight="bold")  # fmt: skip
        ax.set_yticks(range(len(targets)), _target_labels(targets, caps), fontsize=8)
        ax.set_ylabel({"before": "baseline", "after": "candidate"}.get(side, side))
    axes[-1].set_xticks(range(0, 24, 2), [f"{h:02d}" for h in range(0, 24, 2)])
    axes[-1].set_xlabel(f"hour of day ({timezone})")
    axes[0].set_title(title or f"Calls by local hour and target: {what}", fontsize=11)
    assert image is not None  # at least one side is always drawn
    fig.colorbar(
        image, ax=list(axes), label=label, shrink=0.9, extend="max" if caps is not None else "neither"
    )
    return fig


def _capacity_by_name(capacity: Any, targets: list[str]) -> np.ndarray | None:
    """Calls per hour for each target (NaN where unknown), or None without a capacity."""
    if capacity is None:
        return None
    if isinstance(capacity, pd.DataFrame):
        raise ValidationError(
            "give calls per hour by target name (e.g. comparison.peaks['capacity']), "
            "or pass the Comparison itself",
            field="capacity",
        )
    lookup = dict(capacity.items()) if hasattr(capacity, "items") else dict(capacity)
    return np.array(
        [np.nan if pd.isna(lookup.get(t, np.nan)) or not lookup.get(t) else float(lookup[t]) for t in targets]
    )


def _target_labels(targets: list[str], caps: np.ndarray | None) -> list[str]:
    if caps is None:
        return targets
    return [
        f"{t} (no capacity)" if np.isnan(c) else f"{t} (cap {c:,.0f}/h)"
        for t, c in zip(targets, caps, strict=True)
    ]


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
