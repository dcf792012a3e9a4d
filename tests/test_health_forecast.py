"""Forecast: budget left now and the expected time until disable."""

from __future__ import annotations

import pandas as pd
import pytest

from dialpad_nb.core.policy import DIALPAD
from dialpad_nb.health.attempts import attempts_from_records
from dialpad_nb.health.budget import disable_eta_s, forecast
from dialpad_nb.health.window import make_patches

T0 = 1_767_600_000_000
MIN = 60_000
W = DIALPAD.window_s
THR = DIALPAD.error_threshold


def log(rows, router=1):
    return attempts_from_records(
        [{"time": t, "router_id": router, "outcome": o, "latency_ms": 10.0} for t, o in rows], source="test"
    )


def test_zero_pace_never_disables():
    assert disable_eta_s([60.0] * THR, 0.0, threshold=THR, window_s=W) is None
    assert disable_eta_s([60.0] * (THR + 1), 0.0, threshold=THR, window_s=W) is None


def test_pace_fills_the_budget_before_held_errors_expire():
    # THR errors held, 1 more needed, 12 per hour -> 300 s
    assert disable_eta_s([60.0] * THR, 12 / 3600, threshold=THR, window_s=W) == pytest.approx(300.0)


def test_held_errors_expiring_first_can_mean_never():
    # the held errors all expire within 100 s; 1 error/hour never reaches THR + 1 alone
    assert disable_eta_s([W - 100] * THR, 1 / 3600, threshold=THR, window_s=W) is None


def test_eta_accounts_for_expiry_of_old_errors():
    # threshold 2: one error expiring in 10 s, one fresh; pace 36/h: needs 2 new errors once the old one has gone
    assert disable_eta_s([W - 10, 10.0], 36 / 3600, threshold=2, window_s=W) == pytest.approx(200.0)


def test_steady_state_within_threshold_is_never():
    assert disable_eta_s([], THR / W, threshold=THR, window_s=W) is None
    assert disable_eta_s([], (THR + 1) / W, threshold=THR, window_s=W) == pytest.approx(W)


def test_forecast_budget_and_eta_from_a_log():
    rows = [(T0 + i * 5 * MIN, "ok") for i in range(12)]
    rows += [(T0 + 60 * MIN + i * MIN, "timeout") for i in range(6)]  # 6 errors in the last 15 min
    f = forecast(log(rows))
    assert f.enabled and f.error_count == 6 and f.budget_left == THR - 6
    assert f.pace_per_hour == pytest.approx(6 * 4)
    assert f.eta == pd.Timedelta(seconds=(THR + 1 - 6) / (24 / 3600))
    assert f.status == "at_risk"
    assert f.disabled_at == f.now + f.eta
    assert "budget 4 left" in str(f)


def test_forecast_of_a_disabled_router_has_no_budget():
    f = forecast(log([(T0 + i, "timeout") for i in range(THR + 1)]))
    assert not f.enabled and f.budget_left == 0 and f.eta is None and f.status == "disabled"
    assert "disabled" in f.describe()


def test_forecast_after_reenable_with_reset_starts_from_zero():
    rows = [(T0 + i, "timeout") for i in range(THR + 1)]
    f = forecast(log(rows), now=T0 + 10 * MIN, patches=make_patches([(T0 + MIN, 1, True, True)]))
    assert f.enabled and f.error_count == 0 and f.budget_left == THR
    f = forecast(log(rows), now=T0 + 10 * MIN, patches=make_patches([(T0 + MIN, 1, True, False)]))
    # over the threshold already: the next error disables; 11 errors in the last 15 min = 44/h
    assert f.enabled and f.error_count == THR + 1 and f.budget_left == 0
    assert f.eta == pd.Timedelta(seconds=round(3600 / 44, 3))


def test_forecast_needs_a_router_when_the_log_has_several():
    both = pd.concat([log([(T0, "ok")], router=1), log([(T0, "ok")], router=2)], ignore_index=True)
    with pytest.raises(ValueError, match="several routers"):
        forecast(both)
    assert forecast(both, router_id=2).router_id == 2
