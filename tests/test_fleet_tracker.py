"""The incremental fleet tracker agrees with the vectorised forecast (twin paths), batch by batch."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dialpad_nb.core.policy import RouterHealthState
from dialpad_nb.health import FleetTracker, attempts_from_records, forecast, infer_patches, read_attempts_csv

DATA = Path(__file__).resolve().parents[1] / "data"
T0 = 1_767_000_000_000


def test_the_sample_fleet_in_batches_matches_the_forecast_of_each_router():
    attempts = read_attempts_csv(DATA / "attempts_sample.csv").attempts
    tracker = FleetTracker()
    for batch in (attempts.iloc[i : i + 997] for i in range(0, len(attempts), 997)):
        tracker.ingest(batch)
    end = attempts["time"].max()
    table = tracker.table(end).set_index("router_id")
    patches = infer_patches(attempts)  # the re-enables (and resets) the log shows
    for rid in attempts["router_id"].dropna().unique():
        fc = forecast(attempts, router_id=int(rid), now=end, patches=patches)
        row = table.loc[int(rid)]
        assert (row["enabled"], row["errors_in_window"], row["budget_left"]) == (
            fc.enabled,
            fc.error_count,
            fc.budget_left,
        )


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 7200), st.booleans()), min_size=1, max_size=60), st.integers(1, 5))
def test_any_log_in_any_batches_matches_the_forecast(calls, batches):
    rule = RouterHealthState()  # a log Dialpad could write: calls to a disabled router are skipped
    records = []
    for s, bad in sorted(calls):
        verdict = rule.record(T0 + s * 1000, error=bad)
        outcome = ("timeout" if bad else "ok") if verdict.requested else "skipped_disabled"
        records.append({"time": T0 + s * 1000, "router_id": 5, "outcome": outcome, "latency_ms": 10.0})
    attempts = attempts_from_records(records, source="test")
    tracker = FleetTracker()
    step = max(1, len(records) // batches)
    for i in range(0, len(records), step):
        tracker.ingest(attempts.iloc[i : i + step])
    now = attempts["time"].max()
    fc = forecast(attempts, router_id=5, now=now)
    row = tracker.table(now).iloc[0]
    assert (row["enabled"], row["errors_in_window"], row["budget_left"]) == (
        fc.enabled,
        fc.error_count,
        fc.budget_left,
    )
    eta = None if pd.isna(row["disable_eta_min"]) else row["disable_eta_min"] * 60
    assert eta == (None if fc.eta is None else pytest.approx(fc.eta.total_seconds(), abs=1e-3))


def test_a_recorded_count_lower_than_the_tracker_s_is_a_reset():
    tracker = FleetTracker()
    tracker.ingest(
        [{"at": T0 + i * 1000, "router_id": 1, "outcome": "timeout", "error_count": i + 1} for i in range(5)]
    )
    tracker.ingest(
        [{"at": T0 + 10_000, "router_id": 1, "outcome": "timeout", "error_count": 1}]
    )  # reset before it
    assert tracker.table(T0 + 11_000).loc[0, "errors_in_window"] == 1


def test_levels_follow_the_warning_defaults():
    tracker = FleetTracker()
    tracker.ingest([{"at": T0 + i * 1000, "router_id": 1, "outcome": "timeout"} for i in range(6)])
    assert tracker.level(1, T0 + 3_600_000 - 1) == "ok"  # budget 4, and no recent pace 1 h on
    tracker.ingest([{"at": T0 + 3_600_000 - 1 + i, "router_id": 1, "outcome": "timeout"} for i in (0, 0)])
    assert tracker.level(1, T0 + 3_600_000) == "warning"  # 2 fresh errors: a fast recent pace
