"""The dashboard's widgets without a browser (the browser test drives the served page): sample
traffic only with --demo, and a source that cannot be reached at the start."""

from __future__ import annotations

import pandas as pd

from dialpad_nb.core.errors import TransportError
from dialpad_nb.core.policy import DIALPAD
from dialpad_nb.health.window import error_count_curve
from dialpad_nb.ops import FleetDashboard, dashboard_from_env


def test_demo_shows_sample_routers_and_says_it_is_a_demo():
    dash = dashboard_from_env({"DIALPAD_NB_DASHBOARD_DEMO": "1", "DIALPAD_NB_DASHBOARD_INTERVAL_S": "3600"})
    try:
        assert "DEMO" in dash.title.value
        assert dash.fleet.value.count("class='dpnb-router'") == 4
        assert "Billing line" in dash.banner.value and "Returns line" in dash.banner.value
        assert "Support line" not in dash.banner.value
    finally:
        dash.stop()
        dash.client.close()
        for app in dash.client._dashboard_demo_apps:
            app.stop()


def test_without_a_key_or_demo_the_fleet_is_empty_and_says_how_to_fill_it():
    dash = dashboard_from_env({"DIALPAD_NB_DASHBOARD_INTERVAL_S": "3600"})
    try:
        assert "No routers." in dash.fleet.value
        assert "--demo" in dash.title.value and "DIALPAD_API_KEY" in dash.title.value
    finally:
        dash.stop()
        dash.client.close()


def test_a_source_unreachable_at_the_start_is_said_and_retried():
    tries = []

    def factory():
        tries.append(1)
        raise TransportError("connection refused", method="GET", url="http://127.0.0.1:9/api/v2/callrouters")

    dash = FleetDashboard(factory, interval_s=3600)
    try:
        assert "Source unreachable" in dash.status.value and "No data yet" in dash.status.value
        assert "Traceback" not in dash.status.value
        dash.refresh_button.click()
        assert len(tries) == 2  # tried again
    finally:
        dash.stop()


def test_a_reenable_with_reset_after_the_last_call_is_drawn_and_the_window_chart_ends_at_the_sources_now(
    monkeypatch,
):
    import dialpad_nb.ops.dashboard as module

    drawn: list[tuple] = []
    real_chart = module.error_window_chart

    def chart(sim, **kw):
        drawn.append((sim, kw))
        return real_chart(sim, **kw)

    monkeypatch.setattr(module, "error_window_chart", chart)
    dash = dashboard_from_env({"DIALPAD_NB_DASHBOARD_DEMO": "1", "DIALPAD_NB_DASHBOARD_INTERVAL_S": "3600"})
    try:
        billing = next(rid for rid, r in dash.tracker.routers.items() if r.name == "Billing line")
        standing = dash.tracker.routers[billing]
        assert not standing.state.enabled  # the demo's disabled router, 11 errors in its window
        dash.client.update_router(billing, enabled=True, reset_error_count=True, override_patch_guard=True)
        dash.refresh_button.click()
        dash.selector.value = billing
        sim, kw = drawn[-1]
        assert kw["until"] == dash.last_good_ms  # no line past the source's clock
        assert standing.last_reenable_ms is not None and standing.last_reenable_ms > standing.last_attempt_ms
        patches = kw["patches"]
        assert patches[["enabled", "reset_error_count"]].values.tolist()[-1] == [True, True]
        curve = error_count_curve(sim, router_id=billing, patches=patches)
        now = pd.Timestamp(dash.last_good_ms, unit="ms", tz="UTC")
        held = curve.loc[curve["time"] <= now, "error_count"].tolist()
        assert max(held) == DIALPAD.error_threshold + 1 and held[-1] == 0  # drawn reset by the source's now
    finally:
        dash.stop()
        dash.client.close()
        for app in dash.client._dashboard_demo_apps:
            app.stop()
