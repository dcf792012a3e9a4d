"""The sandbox's control API for dispatch (``/sandbox/v1``) and its Python wrapper.

The routing endpoint is an ``httpx.MockTransport`` handed to the sandbox; the
sandbox itself is in-process (TestClient) or a real loopback server (wrapper tests).
"""

from __future__ import annotations

import threading

import httpx
import pytest

from dialpad_nb.api.control import ATTEMPT_FRAME_COLUMNS, SandboxControl, sandbox_control
from dialpad_nb.core.errors import BadRequest, NotFound, TransportError, Unauthorized
from dialpad_nb.core.protocol import ATTEMPT_KEYS
from dialpad_nb.samples.company import CALLCENTERS, DEPARTMENTS, OFFICES

SF = OFFICES[0]["id"]
SALES = CALLCENTERS[0]["id"]
RECEPTION = DEPARTMENTS[4]["id"]
CALLER = "+14155550123"
T0 = 1_767_603_600_000


class Endpoint:
    def __init__(self) -> None:
        self.fail = False
        self.count = 0
        self.lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self.count += 1
        if self.fail:
            return httpx.Response(503, text="down")
        return httpx.Response(200, json={"target_id": SALES, "target_type": "callcenter"})


ROUTER = {
    "name": "Main line",
    "routing_url": "http://endpoint.test/route",
    "office_id": SF,
    "default_target_id": RECEPTION,
    "default_target_type": "department",
}


@pytest.fixture
def endpoint():
    return Endpoint()


@pytest.fixture
def api(app_client_factory, endpoint):
    return app_client_factory(transport=httpx.MockTransport(endpoint), page_size=3)


def new_router(api) -> tuple[int, str]:
    r = api.post("/api/v2/callrouters", json=ROUTER)
    assert r.status_code == 200, r.text
    rid = r.json()["id"]
    n = api.post(f"/api/v2/callrouters/{rid}/assign_number", json={})
    assert n.status_code == 200, n.text
    return int(rid), n.json()["number"]


def test_post_call_returns_the_attempt_record(api):
    rid, number = new_router(api)
    r = api.post("/sandbox/v1/calls", json={"to": number, "from": CALLER})
    assert r.status_code == 200
    rec = r.json()
    assert list(rec) == list(ATTEMPT_KEYS)
    assert (rec["router_id"], rec["outcome"], rec["target_id"], rec["at"]) == (rid, "ok", SALES, T0)


def test_call_with_iso_at_moves_the_clock(api):
    _, number = new_router(api)
    r = api.post("/sandbox/v1/calls", json={"to": number, "from": CALLER, "at": "2026-01-05T09:30:00Z"})
    assert r.json()["at"] == T0 + 30 * 60_000
    assert api.get("/sandbox/v1/clock").json()["now"] == T0 + 30 * 60_000


def test_call_at_before_now_is_400_saying_why(api):
    _, number = new_router(api)
    api.post("/sandbox/v1/clock", json={"advance_seconds": 60})
    r = api.post("/sandbox/v1/calls", json={"to": number, "from": CALLER, "at": T0})
    assert r.status_code == 400
    assert "at:" in r.json()["error"]["message"] and "only moves forward" in r.json()["error"]["message"]


@pytest.mark.parametrize(
    "body, status, words",
    [
        ({"to": "+14155559999", "from": CALLER}, 404, "not assigned"),
        ({"to": "4155551001", "from": CALLER}, 400, "to:"),
        ({"to": "+14155551001", "from": "anonymous"}, 400, "from:"),
        ({"to": "+14155551001", "from": CALLER, "when": 5}, 400, "'when'"),
        ({"to": "+14155551001", "from": CALLER, "call_id": "abc"}, 400, "call_id"),
        ({"calls": "nope"}, 400, "calls:"),
        ({"calls": [], "concurrency": 0}, 400, "concurrency"),
    ],
)
def test_bad_calls_are_refused_naming_what_was_wrong(api, body, status, words):
    new_router(api)
    r = api.post("/sandbox/v1/calls", json=body)
    assert r.status_code == status and words in r.json()["error"]["message"]
    assert api.get("/sandbox/v1/attempts").json()["items"] == []


def test_batch_forms_return_records_in_order(api):
    _, number = new_router(api)
    calls = [{"to": number, "from": CALLER, "call_id": 500 + i} for i in range(4)]
    a = api.post("/sandbox/v1/calls", json={"calls": calls[:2]}).json()
    b = api.post("/sandbox/v1/calls:batch", json={"calls": calls[2:], "concurrency": 2}).json()
    assert [r["call_id"] for r in a + b] == [500, 501, 502, 503]


def test_batch_with_one_bad_call_places_none(api, endpoint):
    _, number = new_router(api)
    r = api.post("/sandbox/v1/calls:batch", json={"calls": [{"to": number, "from": CALLER}, {"to": number}]})
    assert r.status_code == 400 and "calls[1].from" in r.json()["error"]["message"]
    assert endpoint.count == 0


def test_attempts_are_paged_and_filtered_by_router(api):
    a, na = new_router(api)
    b, nb = new_router(api)
    for n in [na, nb, na, na, nb]:
        api.post("/sandbox/v1/calls", json={"to": n, "from": CALLER})
    first = api.get("/sandbox/v1/attempts").json()
    assert len(first["items"]) == 3 and first["cursor"]
    rest = api.get("/sandbox/v1/attempts", params={"cursor": first["cursor"]}).json()
    assert "cursor" not in rest
    assert [r["attempt_id"] for r in first["items"] + rest["items"]] == [1, 2, 3, 4, 5]
    only_a = api.get("/sandbox/v1/attempts", params={"router_id": a, "limit": 10}).json()["items"]
    assert [r["router_id"] for r in only_a] == [a, a, a]
    assert api.get("/sandbox/v1/attempts", params={"limit": 0}).status_code == 400
    assert api.get("/sandbox/v1/attempts", params={"cursor": "bogus"}).status_code == 400


def test_router_errors_outbox_and_reenable_over_patch(api, endpoint):
    rid, number = new_router(api)
    endpoint.fail = True
    for i in range(11):
        api.post("/sandbox/v1/calls", json={"to": number, "from": CALLER, "at": T0 + i * 1000})
    info = api.get(f"/sandbox/v1/routers/{rid}/errors").json()
    assert info == {
        "router_id": rid,
        "error_count": 11,
        "window_s": 3600.0,
        "threshold": 10,
        "enabled": False,
        "error_times": [T0 + i * 1000 for i in range(11)],
    }
    assert api.get(f"/api/v2/callrouters/{rid}").json()["enabled"] is False
    (mail,) = api.get("/sandbox/v1/outbox").json()["items"]
    assert list(mail) == ["id", "at", "router_id", "to", "subject", "body"]
    assert mail["to"] == OFFICES[0]["admin_email"] and mail["at"] == T0 + 10_000
    r = api.patch(f"/api/v2/callrouters/{rid}", json={"enabled": True, "reset_error_count": True})
    assert r.status_code == 200
    assert api.get(f"/sandbox/v1/routers/{rid}/errors").json()["error_count"] == 0


def test_router_errors_of_unknown_router_is_404(api):
    assert api.get("/sandbox/v1/routers/123/errors").status_code == 404
    r = api.get("/sandbox/v1/routers/abc/errors")  # not an id at all: a 400 naming it
    assert r.status_code == 400 and "router_id" in r.json()["error"]["message"]


def test_control_api_needs_the_key(app_client_factory):
    client = app_client_factory()
    r = client.post("/sandbox/v1/calls", json={}, headers={"Authorization": "Bearer wrong"})
    assert r.status_code == 401


# --------------------------------------------------------------------------- the wrapper, over loopback


@pytest.mark.http
def test_wrapper_places_calls_and_reads_attempts(sandbox_factory, endpoint):
    from dialpad_nb.api.client import DialpadClient

    server = sandbox_factory(transport=httpx.MockTransport(endpoint), page_size=2)
    with DialpadClient(base_url=server.url, api_key=server.api_key) as client:
        router = client.create_router(**ROUTER)
        number = client.assign_number(router.id).number
    with sandbox_control(server) as control:
        assert control.clock() == T0
        rec = control.place_call(number, CALLER, at="2026-01-05T09:01:00Z")
        assert rec["outcome"] == "ok" and rec["at"] == T0 + 60_000
        recs = control.place_calls([{"to": number, "from_": CALLER, "call_id": 9 + i} for i in range(4)])
        assert [r["call_id"] for r in recs] == [9, 10, 11, 12]
        df = control.attempts()
        assert tuple(df.columns) == ATTEMPT_FRAME_COLUMNS and len(df) == 5  # 3 pages of 2
        assert str(df["time"].iloc[0]) == "2026-01-05 09:01:00+00:00"
        assert df["latency_ms"].notna().all() and df["detail"].isna().all()
        assert len(control.attempts(router_id=router.id)) == 5
        assert control.advance(30) == T0 + 90_000
        assert control.set_clock("2026-01-05T10:00:00Z") == T0 + 3_600_000
        assert control.error_count(router.id) == 0
        assert control.outbox().empty and list(control.outbox().columns)[:3] == ["id", "at", "time"]
        with pytest.raises(NotFound, match="not assigned"):
            control.place_call("+14155559999", CALLER)
        with pytest.raises(BadRequest, match="from"):
            control.place_call(number, "x")
        with pytest.raises(BadRequest, match="monotonic"):
            control.set_clock(T0)


@pytest.mark.http
def test_wrapper_errors_never_show_the_key(sandbox):
    with SandboxControl(sandbox.url, "wrong-key-xyz") as control, pytest.raises(Unauthorized) as err:
        control.clock()
    assert "wrong-key-xyz" not in str(err.value) and "wrong-key-xyz" not in repr(control)
    with sandbox_control(sandbox) as control:
        assert sandbox.api_key not in repr(control)


@pytest.mark.http
def test_a_sandbox_client_offers_the_control_api_and_closes_it():
    from dialpad_nb import connect

    client = connect({})
    control = client.control
    assert control is client.control and control.clock() == T0
    client.close()
    with pytest.raises(TransportError, match="closed|cannot reach"):
        control.clock()


def test_a_dialpad_client_has_no_control_api_and_says_what_to_do():
    from dialpad_nb import DialpadClient, SandboxOnly

    client = DialpadClient(base_url="https://dialpad.com", api_key="k" * 20)
    with pytest.raises(SandboxOnly, match="call history"):
        client.control  # noqa: B018
    client.close()


@pytest.mark.http
def test_concurrent_http_calls_lose_no_record(sandbox_factory, endpoint):
    from concurrent.futures import ThreadPoolExecutor

    from dialpad_nb.api.client import DialpadClient

    server = sandbox_factory(transport=httpx.MockTransport(endpoint))
    with DialpadClient(base_url=server.url, api_key=server.api_key) as client:
        numbers = []
        for _ in range(3):
            router = client.create_router(**ROUTER)
            numbers.append(client.assign_number(router.id).number)
    with sandbox_control(server) as control, ThreadPoolExecutor(12) as pool:
        recs = list(pool.map(lambda i: control.place_call(numbers[i % 3], CALLER), range(60)))
        assert len(control.attempts()) == 60
    assert sorted(r["attempt_id"] for r in recs) == list(range(1, 61))
    assert len({r["call_id"] for r in recs}) == 60 and endpoint.count == 60


def test_count_outcomes_in_policy_order():
    from dialpad_nb.api.control import count_outcomes

    records = [{"outcome": o} for o in ("timeout", "ok", "skipped_disabled", "ok", "timeout", "ok")]
    assert count_outcomes(records) == {"calls": 6, "ok": 3, "timeout": 2, "skipped_disabled": 1}
    assert list(count_outcomes(records)) == ["calls", "ok", "timeout", "skipped_disabled"]
    assert count_outcomes([]) == {"calls": 0}


@pytest.mark.http
def test_call_series_places_calls_apart_and_summarises_them(sandbox_factory, endpoint):
    from dialpad_nb.api.client import DialpadClient

    server = sandbox_factory(transport=httpx.MockTransport(endpoint))
    with DialpadClient(base_url=server.url, api_key=server.api_key) as client:
        router = client.create_router(**ROUTER)
        number = client.assign_number(router.id).number
    with sandbox_control(server) as control:
        assert control.place_call_series(number, CALLER, 3, router_id=router.id) == {
            "calls": 3,
            "ok": 3,
            "errors in window now": 0,
        }
        endpoint.fail = True
        assert control.place_call_series(number, CALLER, 2, every_s=30) == {"calls": 2, "http_status": 2}
        assert control.error_count(router.id) == 2
        times = control.attempts()["at"].tolist()
        assert times == [T0 + 60_000, T0 + 120_000, T0 + 180_000, T0 + 210_000, T0 + 240_000]
        for bad in (
            {"count": 0},
            {"count": 2.5},
            {"count": 2, "every_s": 0},
            {"count": 2, "every_s": float("nan")},
        ):
            with pytest.raises(ValueError, match="count|every_s"):
                control.place_call_series(number, CALLER, **bad)
        assert len(control.attempts()) == 5  # nothing placed by the refused series
