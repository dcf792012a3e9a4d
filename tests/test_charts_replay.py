"""Replay charts: Figures (not pyplot state), target names on axes, values from the tables."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from dialpad_nb.charts.replay import flow_chart, hourly_heatmap, volume_chart
from tests.helpers_rules import make_calls

VOLUME = pd.DataFrame(
    {"target_type": ["callcenter"] * 3, "before": [10, 0, 5], "after": [7, 4, 5]},
    index=pd.Index(["Inbound Sales", "VIP Desk", "Reception"], name="target"),
)
FLOWS = pd.DataFrame(
    {"from": ["Inbound Sales", "Reception"], "to": ["VIP Desk", "VIP Desk"], "calls": [3, 1]}
)


def decisions() -> pd.DataFrame:
    # 17:00Z and 17:30Z = 09:00/09:30 in San Francisco; 03:00Z = 19:00
    calls = make_calls(
        [
            {"date_started": t, "external_number": "+1", "internal_number": "+14155550100"}
            for t in ("2026-01-14T17:00:00Z", "2026-01-14T17:30:00Z", "2026-01-14T03:00:00Z")
        ]
    )
    out = calls[["call_id", "date_started"]].copy()
    out["before_name"] = pd.Categorical(["Inbound Sales", "Inbound Sales", "After Hours"])
    out["after_name"] = pd.Categorical(["VIP Desk", "Inbound Sales", "After Hours"])
    return out


@pytest.fixture(autouse=True)
def no_pyplot_figures():
    before = plt.get_fignums()
    yield
    assert plt.get_fignums() == before, "a chart left a figure in pyplot's state"


def test_volume_chart_bars_match_the_table():
    fig = volume_chart(VOLUME)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["VIP Desk", "Reception", "Inbound Sales"]  # ascending by 'after': biggest on top
    before, after = ax.containers
    assert [b.get_width() for b in before] == [0, 5, 10]
    assert [b.get_width() for b in after] == [4, 5, 7]
    assert sorted(t.get_text() for t in ax.texts) == ["+4", "-3"]


def test_hourly_heatmap_counts_local_hours_per_target():
    fig = hourly_heatmap(decisions(), timezone="America/Los_Angeles")
    heat_axes = [ax for ax in fig.axes if ax.images]
    assert len(heat_axes) == 2
    before_ax, after_ax = heat_axes
    names = [t.get_text() for t in after_ax.get_yticklabels()]
    assert names == ["After Hours", "Inbound Sales", "VIP Desk"]
    grid = np.asarray(after_ax.images[0].get_array())
    assert grid.shape == (3, 24)
    assert grid[names.index("VIP Desk"), 9] == 1 and grid[names.index("Inbound Sales"), 9] == 1
    assert grid[names.index("After Hours"), 19] == 1
    assert np.asarray(before_ax.images[0].get_array())[names.index("Inbound Sales"), 9] == 2
    assert "America/Los_Angeles" in after_ax.get_xlabel()


def test_hourly_heatmap_leaves_out_a_side_without_decisions():
    d = decisions()
    d["before_name"] = pd.Categorical([None, None, None], categories=["x"])
    fig = hourly_heatmap(d, timezone="UTC")
    assert len([ax for ax in fig.axes if ax.images]) == 1


def test_flow_chart_cells_and_labels():
    fig = flow_chart(FLOWS)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["Inbound Sales", "Reception"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["VIP Desk"]
    assert sorted(t.get_text() for t in ax.texts) == ["1", "3"]


def test_flow_chart_with_no_changes_says_so():
    fig = flow_chart(FLOWS.iloc[:0])
    assert [t.get_text() for t in fig.axes[0].texts] == ["no call changes target"]


def test_missing_columns_are_named():
    with pytest.raises(ValueError, match="volume: needs column"):
        volume_chart(VOLUME.drop(columns=["after"]))
    with pytest.raises(ValueError, match="flows: needs column"):
        flow_chart(FLOWS.drop(columns=["calls"]))


def busy_day() -> pd.DataFrame:
    """VIP Desk: 3 calls at 09:xx on Wednesday and 1 on Thursday (local); Reception: 1 at 10:xx."""
    local = [
        ("2026-01-14T09:05", "VIP Desk"),
        ("2026-01-14T09:20", "VIP Desk"),
        ("2026-01-14T09:40", "VIP Desk"),
        ("2026-01-15T09:10", "VIP Desk"),
        ("2026-01-15T10:10", "Reception"),
    ]
    stamps = pd.to_datetime([t for t, _ in local]).tz_localize("America/Los_Angeles").tz_convert("UTC")
    return pd.DataFrame(
        {
            "call_id": range(len(local)),
            "date_started": pd.Series(stamps).astype("datetime64[ms, UTC]"),
            "before_name": pd.Categorical([None] * len(local), categories=["x"]),
            "after_name": pd.Categorical([n for _, n in local]),
        }
    )


def test_heatmap_shows_calls_per_hour_peak_or_mean_not_the_months_total():
    tz = "America/Los_Angeles"
    peak = hourly_heatmap(busy_day(), timezone=tz, per="peak")
    ax = next(a for a in peak.axes if a.images)
    names = [t.get_text() for t in ax.get_yticklabels()]
    grid = np.asarray(ax.images[0].get_array())
    assert grid[names.index("VIP Desk"), 9] == 3  # Wednesday's 09:00 hour, not 3 + 1
    mean = next(a for a in hourly_heatmap(busy_day(), timezone=tz, per="mean").axes if a.images)
    assert np.asarray(mean.images[0].get_array())[names.index("VIP Desk"), 9] == 2  # 4 calls / 2 days
    total = next(a for a in hourly_heatmap(busy_day(), timezone=tz, per="total").axes if a.images)
    assert np.asarray(total.images[0].get_array())[names.index("VIP Desk"), 9] == 4
    assert "peak calls in one hour" in ax.get_title()


def test_heatmap_against_capacity_marks_the_hours_over_it():
    fig = hourly_heatmap(
        busy_day(), timezone="America/Los_Angeles", capacity={"VIP Desk": 2, "Reception": 25}
    )
    ax = next(a for a in fig.axes if a.images)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["Reception (cap 25/h)", "VIP Desk (cap 2/h)"]
    grid = np.asarray(ax.images[0].get_array())
    assert grid[1, 9] == pytest.approx(1.5) and grid[0, 10] == pytest.approx(1 / 25)  # ÷ capacity
    # over capacity: red (the colormap's "over" colour) and the count written in the cell
    image = ax.images[0]
    assert image.norm.vmax == 1.0 and image.cmap.get_over()[:3] == pytest.approx(
        (214 / 255, 39 / 255, 40 / 255)
    )
    assert [(t.get_text(), t.get_position()) for t in ax.texts] == [("3", (9, 1))]
    assert "capacity" in fig.axes[-1].get_ylabel()  # the colour bar says what the colour is


def test_heatmap_of_a_comparison_uses_its_timezone_and_capacity():
    class Result:  # the attributes hourly_heatmap reads from a Comparison
        decisions = busy_day()
        timezone = "America/Los_Angeles"
        peaks = pd.DataFrame(
            {"capacity": pd.array([2, pd.NA], dtype="Int64")}, index=["VIP Desk", "Reception"]
        )

    ax = next(a for a in hourly_heatmap(Result()).axes if a.images)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["Reception (no capacity)", "VIP Desk (cap 2/h)"]
    assert ax.get_xlabel() == "hour of day (America/Los_Angeles)"
    assert np.isnan(np.asarray(ax.images[0].get_array().filled(np.nan))[0]).all()  # grey: nothing to compare
    with pytest.raises(ValueError, match="capacity is calls per hour"):
        hourly_heatmap(Result(), per="total")
