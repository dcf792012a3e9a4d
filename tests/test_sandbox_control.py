"""The sandbox control API's clock (``/sandbox/v1/clock``)."""

from __future__ import annotations

import pytest

from dialpad_nb.core.clock import SimulatedClock, SystemClock

T0 = 1_767_603_600_000  # SimulatedClock()'s fixed start, 2026-01-05T09:00:00Z


def test_get_clock(app_client):
    assert app_client.get("/sandbox/v1/clock").json() == {
        "now": T0,
        "iso": "2026-01-05T09:00:00+00:00",
        "simulated": True,
    }


def test_advance_and_set_move_the_apps_clock(app_client):
    r = app_client.post("/sandbox/v1/clock", json={"advance_seconds": 90.5})
    assert r.json()["now"] == T0 + 90_500
    assert app_client.app.state.sandbox.clock.now_ms() == T0 + 90_500
    r = app_client.post("/sandbox/v1/clock", json={"now": "2026-01-05T10:00:00Z"})
    assert r.json() == {"now": T0 + 3_600_000, "iso": "2026-01-05T10:00:00+00:00", "simulated": True}
    assert app_client.post("/sandbox/v1/clock", json={"now": T0 + 3_600_001}).json()["now"] == T0 + 3_600_001


@pytest.mark.parametrize(
    ("payload", "needle"),
    [
        ({"now": T0 - 1}, "monotonic"),
        ({"advance_seconds": -1}, "advance_seconds"),
        ({"advance_seconds": "10"}, "advance_seconds"),
        ({"advance_seconds": True}, "advance_seconds"),
        ({"now": "yesterday"}, "now"),
        ({}, "exactly one"),
        ({"now": T0, "advance_seconds": 1}, "exactly one"),
        ({"tick": 1}, "tick"),
    ],
)
def test_bad_clock_moves_are_400_and_leave_the_clock(app_client, payload, needle):
    r = app_client.post("/sandbox/v1/clock", json=payload)
    assert r.status_code == 400
    assert needle in r.json()["error"]["message"]
    assert app_client.get("/sandbox/v1/clock").json()["now"] == T0


def test_the_system_clock_cannot_be_set(app_client_factory):
    client = app_client_factory(clock=SystemClock())
    assert client.get("/sandbox/v1/clock").json()["simulated"] is False
    r = client.post("/sandbox/v1/clock", json={"advance_seconds": 1})
    assert r.status_code == 400 and "system clock" in r.json()["error"]["message"]


def test_control_api_needs_the_key(app_client):
    r = app_client.post(
        "/sandbox/v1/clock", json={"advance_seconds": 1}, headers={"Authorization": "Bearer no"}
    )
    assert r.status_code == 401
    assert app_client.get("/sandbox/v1/clock").json()["now"] == T0


def test_control_routes_are_not_under_the_dialpad_api(app_client):
    assert app_client.get("/api/v2/clock").status_code == 404


def test_a_restarted_simulated_clock_never_goes_back(tmp_path, app_client_factory):
    db = tmp_path / "clock.sqlite3"
    first = app_client_factory(db_path=db)
    first.post("/sandbox/v1/clock", json={"advance_seconds": 7200})
    first.__exit__(None, None, None)  # lifespan shutdown: the store is closed
    second = app_client_factory(db_path=db, clock=SimulatedClock())
    assert second.get("/sandbox/v1/clock").json()["now"] == T0 + 7_200_000
