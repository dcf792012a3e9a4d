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
