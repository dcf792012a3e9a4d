"""Health charts: Figures drawn from the data and the policy, no pyplot state."""

from __future__ import annotations

import matplotlib
import matplotlib.dates

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
from matplotlib import pyplot as plt
from matplotlib.figure import Figure

from dialpad_nb.charts.health import (
    error_window_chart,
    latency_chart,
    latency_distribution_chart,
    outcomes_per_hour_chart,
)
from dialpad_nb.core.policy import DIALPAD
from dialpad_nb.health.attempts import attempts_from_records, empty_attempts
from dialpad_nb.health.window import make_patches, simulate

T0 = 1_767_600_000_000
MIN = 60_000


def log():
    rows = [
        {"time": T0 + i * MIN, "router_id": 1, "outcome": "ok", "latency_ms": 100.0 + i} for i in range(30)
    ]
    rows += [
        {"time": T0 + 30 * MIN + i * MIN, "router_id": 1, "outcome": "timeout", "latency_ms": 5001.0}
        for i in range(12)
    ]
    rows += [
        {"time": T0 + 90 * MIN + i * MIN, "router_id": 2, "outcome": "ok", "latency_ms": 4500.0}
        for i in range(5)
    ]
    return attempts_from_records(rows, source="test")


def hlines(ax):
    return sorted(
        {
            float(line.get_ydata()[0])
            for line in ax.get_lines()
            if len(set(np.asarray(line.get_ydata(), float))) == 1 and len(line.get_xdata()) == 2
        }
    )


@pytest.fixture(autouse=True)
def no_pyplot_figures():
    before = plt.get_fignums()
    yield
    assert plt.get_fignums() == before


def test_error_window_chart_threshold_line_disable_markers_and_patches():
    patches = make_patches([(T0 + 60 * MIN, 1, True, True), (T0 + 61 * MIN, 1, True, False)])
    sim = simulate(log(), patches=patches)
    fig = error_window_chart(sim, patches=patches)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert DIALPAD.error_threshold in hlines(ax)
    marks = [line for line in ax.get_lines() if line.get_marker() == "x" and len(line.get_xdata())]
    assert sum(len(m.get_xdata()) for m in marks) == int(sim["disabled_now"].sum()) == 1
    labels = ax.get_legend_handles_labels()[1]
    assert "router 1 re-enabled" in labels and "router 1 re-enabled + reset" in labels  # whose: 2 drawn
    assert f"> {DIALPAD.error_threshold}" in " ".join(t.get_text() for t in ax.texts)


def test_error_window_chart_until_ends_every_line_at_that_time_at_its_count_there():
    sim = simulate(log())  # router 1's last error is at T0 + 41 min: without until, its line runs to +101 min
    until = T0 + 50 * MIN
    fig = error_window_chart(sim, until=until)
    steps = [line for line in fig.axes[0].get_lines() if line.get_drawstyle() == "steps-post"]
    assert len(steps) == 2  # one per router
    end = matplotlib.dates.date2num(np.datetime64(until, "ms"))
    for line in steps:
        assert max(matplotlib.dates.date2num(x) for x in line.get_xdata()) == pytest.approx(end)
    router_1 = steps[0]
    mine = sim[(sim["router_id"] == 1).to_numpy(dtype=bool)]
    held = int(mine.loc[mine["time"] <= pd.Timestamp(until, unit="ms", tz="UTC"), "error_count"].iloc[-1])
    assert held == DIALPAD.error_threshold + 1  # the errors up to the disable, none expired by +50 min
    assert router_1.get_ydata()[-1] == held
    unclipped = error_window_chart(sim)
    last_x = max(matplotlib.dates.date2num(x) for x in unclipped.axes[0].get_lines()[0].get_xdata())
    assert last_x > end
    plt.close(fig)
    plt.close(unclipped)


def test_error_window_chart_follows_a_what_if_threshold():
    policy = DIALPAD.replace(error_threshold=3)
    sim = simulate(log(), policy=policy)
    ax = error_window_chart(sim, policy=policy).axes[0]
    assert 3 in hlines(ax) and DIALPAD.error_threshold not in hlines(ax)


def test_error_window_chart_needs_simulated_columns():
    with pytest.raises(ValueError, match="simulate"):
        error_window_chart(log())


def test_latency_chart_deadline_line_and_points_per_outcome():
    ax = latency_chart(log()).axes[0]
    assert DIALPAD.deadline_s in hlines(ax)
    points = {line.get_label(): len(line.get_xdata()) for line in ax.get_lines() if line.get_marker() == "."}
    assert points == {"ok: 35": 35}
    ax = latency_chart(log(), policy=DIALPAD.replace(deadline_s=3)).axes[0]
    assert 3 in hlines(ax)


def test_timeouts_are_drawn_above_the_deadline_and_counted_in_the_legend():
    ax = latency_chart(log()).axes[0]
    (timeouts,) = [line for line in ax.get_lines() if line.get_label().startswith("timeout")]
    assert timeouts.get_label() == f"timeout: 12 (no answer by {DIALPAD.deadline_s:g} s)"
    assert len(timeouts.get_xdata()) == 12
    # a distinct marker, clear of the deadline line (not dots sitting on it), inside the plot
    assert timeouts.get_marker() == "^" and timeouts.get_markersize() >= 6
    y = set(np.asarray(timeouts.get_ydata(), float))
    low, top = ax.get_ylim()
    (strip,) = y
    assert DIALPAD.deadline_s * 1.1 <= strip < top
    assert timeouts.get_label() in ax.get_legend_handles_labels()[1]


def test_latency_distribution_reports_the_share_over_the_deadline():
    fig = latency_distribution_chart(log())
    labels = fig.axes[0].get_legend_handles_labels()[1]
    assert labels == [f"deadline {DIALPAD.deadline_s:g} s ({12 / 47:.1%} over)"]
    cdf = fig.axes[1].get_lines()[0]
    assert cdf.get_ydata()[-1] == 1.0


def test_outcomes_per_hour_bars_sum_to_the_calls_in_each_hour():
    ax = outcomes_per_hour_chart(log()).axes[0]
    heights = {}
    for patch in ax.patches:
        heights[patch.get_x()] = heights.get(patch.get_x(), 0) + patch.get_height()
    assert sorted(heights.values()) == [5, 42]  # 08:00 hour: 30 ok + 12 timeouts; 09:00: 5 ok
    assert set(ax.get_legend_handles_labels()[1]) == {"ok", "timeout"}


def test_charts_draw_an_empty_log():
    for chart in (latency_chart, latency_distribution_chart, outcomes_per_hour_chart):
        assert isinstance(chart(empty_attempts()), Figure)


def test_error_window_chart_names_routers_in_the_legend():
    sim = simulate(log())
    labels = (
        error_window_chart(sim, router_names={1: "Support hotline"}).axes[0].get_legend_handles_labels()[1]
    )
    assert "Support hotline" in labels and "router 2" in labels and "router 1" not in labels


def test_legends_sit_outside_the_plot_area():
    patches = make_patches([(T0 + 60 * MIN, 1, True, True)])
    figures = [
        error_window_chart(simulate(log(), patches=patches), patches=patches),
        latency_chart(log()),
        outcomes_per_hour_chart(log()),
    ]
    for fig in figures:
        fig.canvas.draw()  # Figure() carries a canvas; draw() lays out the constrained layout
        ax = fig.axes[0]
        legend = ax.get_legend().get_window_extent()
        assert legend.x0 >= ax.get_window_extent().x1, fig.axes[0].get_title()


def test_latency_points_are_drawn_above_the_deadline_line():
    ax = latency_chart(log()).axes[0]
    deadline = next(line for line in ax.get_lines() if line.get_label().startswith("deadline"))
    for points in (line for line in ax.get_lines() if line.get_label().startswith(("ok", "timeout"))):
        assert points.get_zorder() > deadline.get_zorder()


def test_time_axis_names_the_first_day_in_utc():
    for fig in (error_window_chart(simulate(log())), latency_chart(log()), outcomes_per_hour_chart(log())):
        assert fig.axes[0].get_xlabel() == "time (UTC, from Mon 2026-01-05)"
    assert outcomes_per_hour_chart(empty_attempts()).axes[0].get_xlabel() == "time (UTC)"


def test_charts_draw_and_name_the_timezone_they_are_given():
    import pandas as pd

    tz = "America/Los_Angeles"  # T0 is Mon 08:00 UTC = Mon 00:00 in San Francisco (PST)
    window = error_window_chart(simulate(log()), timezone=tz).axes[0]
    latency = latency_chart(log(), timezone=tz).axes[0]
    outcomes = outcomes_per_hour_chart(log(), timezone=tz).axes[0]
    for ax in (window, latency, outcomes):
        assert ax.get_xlabel() == f"time ({tz}, from Mon 2026-01-05)"
    firsts = [
        pd.Timestamp(window.get_lines()[0].get_xdata()[0]),  # router 1's step line
        pd.Timestamp(
            next(li for li in latency.get_lines() if li.get_label().startswith("ok")).get_xdata()[0]
        ),
        pd.Timestamp(matplotlib.dates.num2date(min(p.get_x() for p in outcomes.patches))).tz_localize(None),
    ]
    assert [t.hour for t in firsts] == [0, 0, 0]  # local midnight, not 08:00 UTC
    with pytest.raises(ValueError, match="timezone: 'Mars/Olympus' is not a known timezone"):
        latency_chart(log(), timezone="Mars/Olympus")


def test_error_window_chart_draws_only_the_shown_routers_reenables():
    # router 1 was re-enabled twice; router 2 never was
    patches = make_patches([(T0 + 60 * MIN, 1, True, True), (T0 + 61 * MIN, 1, True, False)])
    sim = simulate(log(), patches=patches)
    router2 = sim[sim["router_id"] == 2]
    ax = error_window_chart(router2, patches=patches).axes[0]
    verticals = [line for line in ax.get_lines() if len(set(np.asarray(line.get_xdata()))) == 1 and line.get_linestyle() in ("--", ":")]  # fmt: skip
    assert verticals == []
    assert not any("re-enabled" in label for label in ax.get_legend_handles_labels()[1])
    # both routers drawn: the re-enables are there, and the legend says whose they are
    labels = error_window_chart(sim, patches=patches, router_names={1: "support"}).axes[0]
    assert {"support re-enabled", "support re-enabled + reset"} <= set(labels.get_legend_handles_labels()[1])
    # one router drawn: its own re-enables, labelled plainly
    router1 = error_window_chart(sim[sim["router_id"] == 1], patches=patches).axes[0]
    assert {"re-enabled", "re-enabled + reset"} <= set(router1.get_legend_handles_labels()[1])
