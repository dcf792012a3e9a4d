"""Charts of router health: the error window, latency, outcomes.

Each function takes DataFrames (attempts, or the output of
:func:`dialpad_nb.health.window.simulate`) and returns a new
:class:`matplotlib.figure.Figure`; nothing touches pyplot's global state. The
threshold and deadline lines come from ``policy`` (Dialpad's numbers by default,
or a what-if :class:`~dialpad_nb.core.policy.Policy`). Times are drawn in ``timezone``
(an IANA name, e.g. the office's ``"America/Los_Angeles"``; default UTC), and the time axis
says which.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure

from ..core.clock import to_ms
from ..core.errors import ValidationError
from ..core.policy import DIALPAD, OUTCOMES, Policy
from ..health.latency import AT_RISK_FRACTION, latency_by_hour
from ..health.window import _as_patch_frame, error_count_curve

__all__ = [
    "OUTCOME_COLORS",
    "error_window_chart",
    "latency_chart",
    "latency_distribution_chart",
    "outcomes_per_hour_chart",
]

OUTCOME_COLORS: dict[str, str] = {
    "ok": "#4c9a2a",
    "timeout": "#d62728",
    "connect_error": "#8c564b",
    "http_status": "#ff7f0e",
    "invalid_response": "#9467bd",
    "unknown_target": "#e377c2",
    "skipped_disabled": "#7f7f7f",
}
_SIZE = (9.0, 3.6)


def _naive(times: pd.Series, timezone: str = "UTC") -> np.ndarray:
    """Wall-clock times in ``timezone`` (what the axis shows), as numpy datetimes."""
    return times.dt.tz_convert(timezone).dt.tz_localize(None).to_numpy()


def _check_timezone(timezone: str | None) -> str:
    if timezone is None:
        return "UTC"
    try:
        pd.Timestamp(0, tz=timezone)
    except (KeyError, ValueError, TypeError) as exc:  # zoneinfo's ZoneInfoNotFoundError is a KeyError
        raise ValidationError(f"{timezone!r} is not a known timezone ({exc})", field="timezone") from None
    return timezone


def _router_label(router: Any, names: Mapping[Any, str] | None = None) -> str:
    if router is None or pd.isna(router):
        return "router"
    if names and router in names:
        return str(names[router])
    return f"router {router}"


def _time_axis(ax: Any, times: pd.Series, timezone: str = "UTC") -> None:
    """Ticks as 09:00, 10:00, ... (the date only where a day starts), and the timezone and the
    first day in the axis label -- not '05 09:00' on every tick, nor the last tick's date as the
    offset."""
    locator = AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator, show_offset=False))
    first = times.min() if len(times) else pd.NaT
    day = "" if pd.isna(first) else f", from {first.tz_convert(timezone):%a %Y-%m-%d}"
    ax.set_xlabel(f"time ({timezone}{day})")


def _legend_outside(ax: Any, **kwargs: Any) -> None:
    """The legend to the right of the plot, so it never covers data, the threshold or the deadline
    (none when nothing is labelled: a chart of no attempts)."""
    if not ax.get_legend_handles_labels()[0]:
        return
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, fontsize=8, **kwargs)


def _new(title: str) -> tuple[Figure, Any]:
    fig = Figure(figsize=_SIZE, dpi=100, layout="constrained")
    ax = fig.subplots()
    ax.set_title(title, fontsize=11)
    return fig, ax


def error_window_chart(
    sim: pd.DataFrame,
    *,
    policy: Policy = DIALPAD,
    patches: Any = None,
    title: str | None = None,
    router_names: Mapping[Any, str] | None = None,
    timezone: str | None = None,
    until: Any = None,
) -> Figure:
    """Errors in the rolling window over time (a step line per router, falling
    as errors expire), the threshold, the attempts that disabled a router (✕)
    and the re-enables (dashed verticals; dotted when they reset the count).

    ``until`` (a time: ms, ISO text, datetime) ends the lines there, e.g. at "now" on a live
    source: without it they run on until the last error expires, which on a live view would
    draw a future nobody has seen yet.

    ``sim`` is :func:`~dialpad_nb.health.window.simulate`'s output and
    ``patches`` the PATCHes given to it (they also draw the resets); only the
    PATCHes of the routers drawn are shown (a PATCH without a router applies to all).
    ``router_names`` maps router ids to the names shown in the legend
    (e.g. ``{router.id: router.name}``); ids without a name show as ``router <id>``."""
    missing = [c for c in ("error_count", "disabled_now", "is_error") if c not in sim]
    if missing:
        raise ValidationError(f"missing {missing}; pass the output of health.simulate(...)", field="sim")
    tz = _check_timezone(timezone)
    end = None if until is None else pd.Timestamp(to_ms(until, field="until"), unit="ms", tz="UTC")
    window_min = policy.window_s / 60
    fig, ax = _new(title or f"Errors in the last {window_min:g} min")
    colors: dict[Any, str] = {}
    for router, group in sim.sort_values("time", kind="stable").groupby("router_id", dropna=False, sort=True):
        curve = error_count_curve(
            group, router_id=None if pd.isna(router) else router, policy=policy, patches=patches
        )
        if end is not None:
            curve = _ended(curve, end)
        (line,) = ax.step(
            _naive(curve["time"], tz),
            curve["error_count"].to_numpy(dtype=float),
            where="post",
            linewidth=1.2,
            label=_router_label(router, router_names),
        )
        colors[router] = line.get_color()
        x = _naive(group["time"], tz)
        y = group["error_count"].astype(float).to_numpy()
        hit = group["disabled_now"].to_numpy(dtype=bool)
        if hit.any():
            ax.plot(x[hit], y[hit], "x", color="#d62728", markersize=9, markeredgewidth=2)
    ax.axhline(policy.error_threshold, color="#d62728", linestyle="-", linewidth=1, alpha=0.7)
    ax.annotate(
        f"disable when > {policy.error_threshold}",
        xy=(1, policy.error_threshold),
        xycoords=("axes fraction", "data"),
        xytext=(-4, 3),
        textcoords="offset points",
        ha="right",
        color="#d62728",
        fontsize=8,
    )
    if sim["disabled_now"].any():
        ax.plot([], [], "x", color="#d62728", markeredgewidth=2, label="disabled")
    if patches is not None:
        _draw_reenables(ax, _as_patch_frame(patches), list(colors), router_names, tz)
    if sim.empty:
        ax.text(0.5, 0.5, "no attempts in this period", transform=ax.transAxes, ha="center", color="0.4")
    peak = sim["error_count"].max()  # NA when there are no attempts (a router without calls)
    ax.set_ylim(bottom=0, top=max(policy.error_threshold + 2, (0.0 if pd.isna(peak) else float(peak)) + 1))
    ax.set_ylabel("errors in window")
    _time_axis(ax, sim["time"], tz)
    _legend_outside(ax)
    return fig


def _ended(curve: pd.DataFrame, end: pd.Timestamp) -> pd.DataFrame:
    """The step curve up to ``end``, held at its value there."""
    before = curve[curve["time"] <= end]
    last = int(before["error_count"].iloc[-1]) if len(before) else 0
    tail = pd.DataFrame({"time": pd.Series([end], dtype=curve["time"].dtype), "error_count": [last]})
    return pd.concat([before, tail], ignore_index=True)


def _draw_reenables(
    ax: Any, frame: pd.DataFrame, routers: list[Any], names: Mapping[Any, str] | None, tz: str
) -> None:
    """The re-enable PATCHes of the routers drawn (and those naming no router), as verticals;
    with several routers drawn the legend says whose they are."""
    enable = frame[frame["enabled"].fillna(False).astype(bool)]
    if "router_id" in enable:
        rid = enable["router_id"]
        shown = {int(r) for r in routers if not pd.isna(r)}
        mine = rid.isna() | rid.isin(shown).fillna(False)
        enable = enable[mine.to_numpy(dtype=bool)]
    several = len(routers) > 1
    for reset, style, what in ((False, "--", "re-enabled"), (True, ":", "re-enabled + reset")):
        rows = enable[enable["reset_error_count"].astype(bool) == reset]
        labelled: set[str] = set()
        for t, router in zip(_naive(rows["time"], tz), _router_ids(rows), strict=True):
            label = f"{_router_label(router, names)} {what}" if several and router is not None else what
            ax.axvline(
                t,
                color="#2ca02c",
                linestyle=style,
                linewidth=1.2,
                label=None if label in labelled else label,
            )
            labelled.add(label)


def _router_ids(rows: pd.DataFrame) -> list[Any]:
    if "router_id" not in rows:
        return [None] * len(rows)
    return [None if pd.isna(r) else int(r) for r in rows["router_id"]]


def latency_chart(
    attempts: pd.DataFrame,
    *,
    policy: Policy = DIALPAD,
    at_risk_s: float | None = None,
    freq: str = "1h",
    title: str | None = None,
    timezone: str | None = None,
) -> Figure:
    """Each request's latency (points coloured by outcome), the p50 and p90 per ``freq``
    bucket, the deadline line and the at-risk band below it.

    Timeouts have no latency to show (Dialpad stopped waiting at the deadline), so they are
    drawn as red ▲ in a strip above the deadline line, where they can be seen and counted;
    every legend entry gives its count."""
    tz = _check_timezone(timezone)
    fig, ax = _new(title or "Routing endpoint latency")
    req = attempts[attempts["latency_ms"].notna() | (attempts["outcome"] == "timeout")]
    deadline_s = policy.deadline_s
    floor_s = deadline_s * AT_RISK_FRACTION if at_risk_s is None else at_risk_s
    answered = req[req["outcome"] != "timeout"]
    lat_top = float(answered["latency_ms"].max() / 1000) if answered["latency_ms"].notna().any() else 0.0
    top = max(deadline_s * 1.25, lat_top * 1.05)
    strip = deadline_s + (top - deadline_s) * 0.55  # the timeout strip: well clear of the line
    for outcome in OUTCOMES:
        part = req[req["outcome"] == outcome]
        if not len(part):
            continue
        if outcome == "timeout":
            ax.plot(
                _naive(part["time"], tz),
                np.full(len(part), strip),
                "^",
                markersize=6,
                color=OUTCOME_COLORS["timeout"],
                markeredgecolor="black",
                markeredgewidth=0.5,
                label=f"timeout: {len(part):,} (no answer by {deadline_s:g} s)",
                zorder=4,
            )
            continue
        ax.plot(
            _naive(part["time"], tz),
            part["latency_ms"].to_numpy() / 1000,
            ".",
            markersize=3,
            alpha=0.6,
            color=OUTCOME_COLORS[outcome],
            label=f"{outcome}: {len(part):,}",
            zorder=3,
        )
    timed = req[req["latency_ms"].notna()]
    if len(timed):
        hourly = latency_by_hour(timed, policy=policy, at_risk_s=at_risk_s, freq=freq)
        starts = pd.DatetimeIndex(hourly.index).tz_convert(tz).tz_localize(None).to_numpy()
        ends = starts + pd.Timedelta(freq).to_timedelta64()
        x = np.column_stack([starts, ends, ends]).ravel()  # one flat segment per bucket, gaps between
        for q, style in (("p50", "-"), ("p90", "--")):
            v = hourly[f"{q}_ms"].to_numpy(dtype=float) / 1000
            y = np.column_stack([v, v, np.full_like(v, np.nan)]).ravel()
            ax.plot(x, y, color="black", linewidth=1.2, linestyle=style, label=f"{q} per {freq}")
    ax.axhline(deadline_s, color="#d62728", linewidth=1.2, label=f"deadline {deadline_s:g} s")
    ax.axhspan(floor_s, deadline_s, color="#ff7f0e", alpha=0.12, label=f"at risk > {floor_s:g} s")
    ax.set_ylim(0, top)
    ax.set_ylabel("latency (s)")
    _time_axis(ax, req["time"], tz)
    _legend_outside(ax)
    return fig


def latency_distribution_chart(
    attempts: pd.DataFrame, *, policy: Policy = DIALPAD, bins: int = 60, title: str | None = None
) -> Figure:
    """Histogram of request latencies (log-spaced bins) with the empirical CDF
    on a second axis and the deadline; the legend gives the share over it."""
    fig, ax = _new(title or "Latency distribution")
    lat = attempts["latency_ms"].dropna().to_numpy(dtype=float) / 1000
    deadline_s = policy.deadline_s
    if lat.size:
        low = max(lat.min(), 1e-3)
        high = max(lat.max(), deadline_s) * 1.05
        edges = np.geomspace(low, high, bins + 1)
        ax.hist(lat, bins=edges, color="#1f77b4", alpha=0.7)
        ax.set_xscale("log")
        cdf = ax.twinx()
        xs = np.sort(lat)
        cdf.plot(xs, np.arange(1, xs.size + 1) / xs.size, color="black", linewidth=1)
        cdf.set_ylim(0, 1.01)
        cdf.set_ylabel("share of requests ≤ x")
        over = float(np.mean(lat > deadline_s))
    else:
        over = 0.0
    ax.axvline(
        deadline_s, color="#d62728", linewidth=1.2, label=f"deadline {deadline_s:g} s ({over:.1%} over)"
    )
    ax.set_xlabel("latency (s)")
    ax.set_ylabel("requests")
    ax.legend(loc="upper left", fontsize=8)
    return fig


def outcomes_per_hour_chart(
    attempts: pd.DataFrame, *, freq: str = "1h", title: str | None = None, timezone: str | None = None
) -> Figure:
    """Attempts per ``freq`` bucket (clock hours in ``timezone``) as bars stacked by outcome."""
    tz = _check_timezone(timezone)
    fig, ax = _new(title or f"Outcomes per {freq}")
    bucket = attempts["time"].dt.tz_convert(tz).dt.tz_localize(None).dt.floor(freq)
    counts = pd.crosstab(bucket, attempts["outcome"].astype(str)) if len(attempts) else pd.DataFrame()
    width = pd.Timedelta(freq) * 0.9
    bottom = np.zeros(len(counts))
    for outcome in OUTCOMES:
        if outcome in counts:
            values = counts[outcome].to_numpy(dtype=float)
            ax.bar(
                counts.index,
                values,
                width=width,
                bottom=bottom,
                align="edge",
                color=OUTCOME_COLORS[outcome],
                label=outcome,
            )
            bottom += values
    ax.set_ylabel("calls")
    _time_axis(ax, attempts["time"], tz)
    if len(counts):
        _legend_outside(ax)
    return fig
