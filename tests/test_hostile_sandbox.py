"""The sandbox under hostile input (issue #9): a clear 400 naming the field, never a 500; the clock
cannot be broken by one request; a database with a broken clock recovers; rate limits on demand."""

from __future__ import annotations

import json
import logging
import sqlite3

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dialpad_nb.samples.company import DEPARTMENTS, OFFICES

SF = OFFICES[0]["id"]
DEPT = DEPARTMENTS[0]["id"]
GOOD = {
    "name": "Support",
    "routing_url": "https://ops.example/route",
    "office_id": SF,
    "default_target_id": DEPT,
    "default_target_type": "department",
}


def error_of(r, status: int) -> str:
    assert r.status_code == status, (r.status_code, r.text[:300])
    return r.json()["error"]["message"]


def post_raw(client, path: str, raw: bytes):
    return client.post(path, content=raw, headers={"Content-Type": "application/json"})


def router_id(client) -> int:
    return client.post("/api/v2/callrouters", json=GOOD).json()["id"]


# --------------------------------------------------------------------------- the six kinds of 500


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/api/v2/callrouters/%C2%B2", "id"),
        ("/api/v2/callrouters?office_id=%C2%B2", "office_id"),
        ("/api/v2/departments?office_id=%D9%A3", "office_id"),
        ("/api/v2/offices/%C2%B2", "id"),
        ("/sandbox/v1/attempts?limit=%C2%B2", "limit"),
        ("/sandbox/v1/attempts?router_id=%C2%B2", "router_id"),
        ("/sandbox/v1/routers/%C2%B2/errors", "router_id"),
        ("/api/v2/callrouters?cursor=%C2%B2", "cursor"),
    ],
)
def test_unicode_digits_in_path_and_query_are_a_400_naming_the_field(app_client, path, field):
    assert error_of(app_client.get(path), 400).startswith(f"{field}: ")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"office_id": "²"}, "office_id"),
        ({"default_target_id": "٣"}, "default_target_id"),
        ({"office_id": "1" * 5000}, "office_id"),
        ({"routing_url": "http://[abc/"}, "routing_url"),
        ({"routing_url": "https://ops.example/" + "a" * 5000}, "routing_url"),
        ({"name": "a\ud800b"}, "name"),
        ({"name": "n" * 10_000_000}, "name"),
    ],
)
def test_bad_create_bodies_are_a_400_naming_the_field(app_client, change, field):
    raw = json.dumps({**GOOD, **change}).encode()  # json.dumps writes the lone surrogate as \ud800
    message = error_of(post_raw(app_client, "/api/v2/callrouters", raw), 400)
    assert field in message and len(message) < 300
    assert app_client.get("/api/v2/callrouters").json()["items"] == []


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        (b'{"name": ' + b"1" * 5000 + b"}", "digits"),
        (b'{"name": 1' + b"0" * 4400 + b"}", "digits"),
        (b'{"a":' * 5000 + b"1" + b"}" * 5000, "nested deeper"),
        (b"[" * 100_000, "nested deeper"),
        (b'{"name": Infinity}', "Infinity"),
        (b'{"name": NaN}', "NaN"),
        (b'{"name": 1e400}', "finite"),
        (b'{"name": "\\ud800"}', "lone surrogate"),
    ],
)
@pytest.mark.parametrize(
    "path",
    [
        "/api/v2/callrouters",
        "/api/v2/callrouters/{rid}",
        "/api/v2/callrouters/{rid}/assign_number",
        "/sandbox/v1/clock",
        "/sandbox/v1/calls",
    ],
)
def test_hostile_json_on_any_body_route_is_a_400(app_client, raw, needle, path):
    path = path.format(rid=router_id(app_client)) if "{rid}" in path else path
    send = app_client.patch if path.count("/") == 4 and "callrouters/" in path else app_client.post
    r = send(path, content=raw, headers={"Content-Type": "application/json"})
    assert needle in error_of(r, 400)


def test_every_route_answers_a_not_an_id_path_with_400_and_unknown_ids_with_404(app_client):
    assert error_of(app_client.delete("/api/v2/callrouters/%C2%B2"), 400).startswith("id: ")
    assert error_of(app_client.post("/api/v2/callrouters/%C2%B2/assign_number", json={}), 400).startswith(
        "id: "
    )
    error_of(app_client.get("/api/v2/callrouters/42"), 404)
    assert "area_code" in error_of(
        app_client.post(
            f"/api/v2/callrouters/{router_id(app_client)}/assign_number", json={"area_code": "²²²"}
        ),
        400,
    )


# --------------------------------------------------------------------------- the clock


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"advance_seconds": 300_000_000_000}, "advance_seconds"),
        ({"advance_seconds": 1e300}, "advance_seconds"),
        ({"now": 1e30}, "now"),
        ({"now": 10**17}, "now"),
        ({"now": "99999-01-01T00:00:00Z"}, "now"),
        ({"now": -1}, "now"),
    ],
)
def test_one_request_cannot_break_the_clock(app_client, body, field):
    before = app_client.get("/sandbox/v1/clock").json()
    assert error_of(app_client.post("/sandbox/v1/clock", json=body), 400).startswith(f"{field}: ")
    assert app_client.get("/sandbox/v1/clock").json() == before


def test_a_call_at_an_impossible_time_is_a_400_and_moves_nothing(app_client):
    rid = router_id(app_client)
    number = app_client.post(f"/api/v2/callrouters/{rid}/assign_number", json={}).json()["number"]
    before = app_client.get("/sandbox/v1/clock").json()
    call = {"to": number, "from": "+14155550199", "at": 1e17}
    assert error_of(app_client.post("/sandbox/v1/calls", json=call), 400).startswith("at: ")
    assert error_of(app_client.post("/sandbox/v1/calls", json={"calls": [call]}), 400).startswith(
        "calls[0].at: "
    )
    assert app_client.get("/sandbox/v1/clock").json() == before
    assert app_client.get("/sandbox/v1/attempts").json()["items"] == []


def test_a_database_with_a_broken_clock_mark_recovers_on_restart(app_client_factory, tmp_path, caplog):
    db = tmp_path / "sandbox.db"
    first = app_client_factory(db_path=db)
    rid = router_id(first)
    assert first.patch(f"/api/v2/callrouters/{rid}", json={"name": "Renamed"}).status_code == 200
    good_now = first.get("/sandbox/v1/clock").json()["now"]
    first.__exit__(None, None, None)
    # what a sandbox before the fix could persist: a high-water mark and a PATCH time past 9999
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE meta SET value = ? WHERE key = 'clock_high_water_ms'", (str(10**30),))
        conn.execute("UPDATE router_patches SET at_ms = ?", (10**17,))
    with caplog.at_level(logging.WARNING, logger="dialpad_nb.sandbox.store"):
        again = app_client_factory(db_path=db)
        clock = again.get("/sandbox/v1/clock")
    assert clock.status_code == 200 and clock.json()["now"] == good_now
    assert "repaired times" in caplog.text
    # the PATCH limit answers again (the bad PATCH time is gone), then 429 with Retry-After
    assert again.patch(f"/api/v2/callrouters/{rid}", json={"name": "Again"}).status_code == 200
    r = again.patch(f"/api/v2/callrouters/{rid}", json={"name": "Third"})
    assert r.status_code == 429 and r.headers["Retry-After"] == "300"


# --------------------------------------------------------------------------- a 500 logs no request text


def test_a_500_is_dialpads_shape_and_logs_no_request_text(app_client_factory, caplog, monkeypatch):
    client = app_client_factory()
    store = client.app.state.sandbox.store

    def broken(router_id):
        raise KeyError(f"boom with request text PRIVATE-{router_id}")

    monkeypatch.setattr(store, "get_router", broken)
    with caplog.at_level(logging.DEBUG):
        r = client.get("/api/v2/callrouters/987654321")  # the TestClient would re-raise an escaped error
    assert r.status_code == 500
    assert r.json() == {"error": {"code": 500, "message": "internal sandbox error (KeyError)"}}
    server_side = "\n".join(  # (httpx's own line is the test client's, the caller's side)
        f"{rec.getMessage()} {rec.exc_text or ''}"
        for rec in caplog.records
        if not rec.name.startswith("httpx")
    )
    assert "PRIVATE" not in server_side and "987654321" not in server_side
    assert "sandbox error on GET" in server_side and "KeyError" in server_side
    assert not any(rec.exc_info for rec in caplog.records)  # no traceback logged at all


# --------------------------------------------------------------------------- rate limits


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_rate_limits_are_off_by_default(app_client):
    assert all(app_client.get("/api/v2/offices").status_code == 200 for _ in range(40))


def test_rate_limits_on_answer_429_with_retry_after_per_company(app_client_factory):
    t = FakeTime()
    client = app_client_factory(rate_limits=True, rate_clock=t)
    codes = [client.get("/api/v2/offices" if i % 2 else "/api/v2/callrouters").status_code for i in range(21)]
    assert codes == [200] * 20 + [429]  # 20 per second per company, whatever the endpoint
    r = client.get("/api/v2/offices")
    assert "20 requests per second" in error_of(r, 429) and r.headers["Retry-After"] == "1"
    assert client.get("/sandbox/v1/clock").status_code == 200  # the control API is not Dialpad's
    t.now += 1.0
    assert client.get("/api/v2/offices").status_code == 200


def test_rate_limits_on_per_endpoint_per_minute(app_client_factory):
    from dialpad_nb.core.policy import DIALPAD

    t = FakeTime()
    client = app_client_factory(
        rate_limits=True, rate_clock=t, policy=DIALPAD.replace(endpoint_requests_per_min=3)
    )
    assert [client.get("/api/v2/offices").status_code for _ in range(4)] == [200, 200, 200, 429]
    assert client.get("/api/v2/callrouters").status_code == 200  # another endpoint
    r = client.get("/api/v2/offices")
    assert r.status_code == 429 and r.headers["Retry-After"] == "20"


# --------------------------------------------------------------------------- property: any JSON, any route

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda c: (
        st.lists(c, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    *GOOD,
                    "secret",
                    "enabled",
                    "now",
                    "advance_seconds",
                    "to",
                    "from",
                    "at",
                    "calls",
                    "number",
                    "area_code",
                    "primary",
                    "x",
                ]
            )
            | st.text(max_size=8),
            c,
            max_size=6,
        )
    ),
    max_leaves=12,
)
ROUTES = [
    ("POST", "/api/v2/callrouters"),
    ("PATCH", "/api/v2/callrouters/{rid}"),
    ("POST", "/api/v2/callrouters/{rid}/assign_number"),
    ("DELETE", "/api/v2/callrouters/{rid}"),
    ("GET", "/api/v2/callrouters"),
    ("DELETE", "/api/v2/numbers/{number}"),
    ("POST", "/sandbox/v1/clock"),
    ("POST", "/sandbox/v1/calls"),
    ("POST", "/sandbox/v1/calls:batch"),
]


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,
)
@given(route=st.sampled_from(ROUTES), body=JSON | st.binary(max_size=40), junk_key=st.booleans())
def test_any_json_body_on_any_route_gets_2xx_or_4xx(app_client, route, body, junk_key):
    method, template = route
    path = template.format(rid=str(7_300_000_000_000_999), number="+14155551001")
    if isinstance(body, bytes):
        raw = body
    else:
        if junk_key and isinstance(body, dict):
            body = {**GOOD, **body}
        raw = json.dumps(body).encode("utf-8", "surrogatepass")
    r = app_client.request(method, path, content=raw, headers={"Content-Type": "application/json"})
    assert 200 <= r.status_code < 500, (method, path, raw[:200], r.text[:300])
    assert "error" in r.json() or r.status_code < 300
