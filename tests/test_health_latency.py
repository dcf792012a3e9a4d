"""Latency statistics against the deadline and the at-risk band."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dialpad_nb.core.policy import DIALPAD
from dialpad_nb.health.attempts import attempts_from_records, empty_attempts
from dialpad_nb.health.latency import latency_band, latency_by_hour, latency_by_outcome, latency_summary

T0 = 1_767_600_000_000  # 08:00 UTC
MIN = 60_000


def log(rows):
    return attempts_from_records(
        [{"time": t, "outcome": o, "latency_ms": lat} for t, o, lat in rows], source="test"
    )


def test_percentiles_and_max_per_hour_match_numpy():
    lat = [float(x) for x in range(100, 10_100, 100)]  # 100 requests in hour 8
    rows = [(T0 + i * 30_000, "ok", v) for i, v in enumerate(lat[:100])] + [(T0 + 61 * MIN, "ok", 42.0)]
    table = latency_by_hour(log(rows))
    first = table.iloc[0]
    assert first["requests"] == 100
    for q, col in ((50, "p50_ms"), (90, "p90_ms"), (99, "p99_ms")):
        assert first[col] == pytest.approx(np.percentile(lat, q))
    assert first["max_ms"] == 10_000.0
    assert table.index.tolist() == [
        pd.Timestamp(T0, unit="ms", tz="UTC"),
        pd.Timestamp(T0 + 60 * MIN, unit="ms", tz="UTC"),
    ]
    assert table.iloc[1]["p99_ms"] == 42.0


def test_shares_over_the_deadline_and_in_the_at_risk_band_default_to_policy():
    deadline = DIALPAD.deadline_ms
    rows = [
        (T0, "ok", deadline * 0.5),
        (T0 + 1, "ok", deadline * 0.9),  # at risk (> 80 %)
        (T0 + 2, "ok", float(deadline)),  # exactly the deadline: in time, at risk
        (T0 + 3, "timeout", deadline + 1.0),  # over
        (T0 + 4, "skipped_disabled", np.nan),  # no request: not counted
    ]
    s = latency_summary(log(rows))
    assert s["requests"] == 4
    assert s["over_deadline"] == pytest.approx(1 / 4)
    assert s["at_risk"] == pytest.approx(2 / 4)
    narrower = latency_summary(log(rows), at_risk_s=DIALPAD.deadline_s * 0.95)
    assert narrower["at_risk"] == pytest.approx(1 / 4)
    stricter = latency_summary(log(rows), policy=DIALPAD.replace(deadline_s=DIALPAD.deadline_s * 0.85))
    assert stricter["over_deadline"] == pytest.approx(3 / 4)


def test_by_outcome_groups_requests_only():
    rows = [
        (T0, "ok", 10.0),
        (T0 + 1, "ok", 30.0),
        (T0 + 2, "http_status", 5.0),
        (T0 + 3, "skipped_disabled", np.nan),
    ]
    table = latency_by_outcome(log(rows))
    assert table["requests"].to_dict() == {"http_status": 1, "ok": 2}
    assert table.loc["ok", "p50_ms"] == 20.0


def test_at_risk_floor_must_lie_within_the_deadline():
    with pytest.raises(ValueError, match="at_risk_s"):
        latency_summary(log([(T0, "ok", 1.0)]), at_risk_s=DIALPAD.deadline_s + 1)


def test_no_requests_gives_zero_requests_and_empty_tables():
    assert latency_summary(empty_attempts())["requests"] == 0
    assert latency_by_hour(empty_attempts()).empty


def test_latency_band_edges_agree_with_the_shares():
    deadline = DIALPAD.deadline_ms
    floor = deadline * 0.8
    frame = log(
        [(T0, "ok", v) for v in (1000.0, 1000.1, floor, floor + 0.1, float(deadline), deadline + 0.1)]
    )
    frame = pd.concat([frame, log([(T0, "skipped_disabled", np.nan)])], ignore_index=True)
    bands = latency_band(frame).astype(object).tolist()
    assert bands[:6] == ["≤ 1 s", "1–4 s", "1–4 s", "at risk 4–5 s", "at risk 4–5 s", "over 5 s"]
    assert pd.isna(bands[6])
    s = latency_summary(frame)
    assert s["at_risk"] == pytest.approx(bands.count("at risk 4–5 s") / 6)
