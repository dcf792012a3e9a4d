"""Call dispatch against an in-memory store, the endpoint swapped via httpx.MockTransport."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dialpad_nb.core.clock import SimulatedClock
from dialpad_nb.core.errors import ValidationError
from dialpad_nb.core.policy import DIALPAD, RouterHealthState
from dialpad_nb.core.protocol import ATTEMPT_KEYS
from dialpad_nb.core.signing import verify
from dialpad_nb.samples.company import CALLCENTERS, COMPANY, DEPARTMENTS, OFFICES, USERS
from dialpad_nb.sandbox.dispatch import CALL_ID_BASE, Dispatcher, NumberNotAssigned
from dialpad_nb.sandbox.store import SandboxStore

SECRET = "dispatch-test-secret-0123456789abcdef"
SF = OFFICES[0]["id"]
SALES = CALLCENTERS[0]["id"]
RECEPTION = DEPARTMENTS[4]["id"]
ADA = USERS[0]["id"]
T0 = 1_767_603_600_000  # 2026-01-05T09:00:00Z
CALLER = "+14155550123"
MIN = 60_000


class Endpoint:
    """A scripted routing endpoint for MockTransport: ``mode`` says how it answers."""

    def __init__(self, mode: str = "ok") -> None:
        self.mode = mode
        self.requests: list[httpx.Request] = []
        self.lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self.requests.append(request)
        m = self.mode
        if m == "ok":
            return httpx.Response(200, json={"target_id": SALES, "target_type": "callcenter"})
        if m == "action_route":
            return httpx.Response(200, json={"action": "route", "target_id": str(ADA), "target_type": "user"})
        if m == "500":
            return httpx.Response(500, text="boom")
        if m == "garbage":
            return httpx.Response(200, text="<html>oops</html>")
        if m == "no_type":
            return httpx.Response(200, json={"target_id": SALES})
        if m == "planet":
            return httpx.Response(200, json={"target_id": SALES, "target_type": "planet"})
        if m == "unknown_id":
            return httpx.Response(200, json={"target_id": 123456789, "target_type": "user"})
        if m == "wrong_type":
            return httpx.Response(200, json={"target_id": SALES, "target_type": "department"})
        if m == "connect":
            raise httpx.ConnectError("connection refused", request=request)
        if m == "timeout":
            raise httpx.ReadTimeout("timed out", request=request)
        raise AssertionError(m)


@pytest.fixture
def world():
    store = SandboxStore(":memory:")
    clock = SimulatedClock(T0)
    endpoint = Endpoint()
    dispatcher = Dispatcher(
        store, clock, directory=COMPANY.directory(), transport=httpx.MockTransport(endpoint), deadline_s=1.0
    )
    yield store, clock, endpoint, dispatcher
    dispatcher.close()
    store.close()


def add_router(store, *, secret=None, url="http://endpoint.test/route?key=abc", enabled=True):
    router = store.create_router(
        {
            "name": "Main line",
            "routing_url": url,
            "office_id": SF,
            "default_target_id": RECEPTION,
            "default_target_type": "department",
            "secret": secret,
            "enabled": enabled,
        },
        now_ms=T0,
    )
    number = store.assign_number(router["id"])["number"]
    return router["id"], number


def test_ok_call_routes_to_the_answer_and_records_everything(world):
    store, clock, endpoint, d = world
    rid, number = add_router(store)
    rec = d.place_call(number, CALLER)
    assert tuple(rec) == ATTEMPT_KEYS
    assert rec == {
        "attempt_id": 1,
        "call_id": CALL_ID_BASE + 1,
        "router_id": rid,
        "external_number": CALLER,
        "internal_number": number,
        "at": T0,
        "latency_ms": rec["latency_ms"],
        "outcome": "ok",
        "http_status": 200,
        "detail": None,
        "target_id": SALES,
        "target_type": "callcenter",
        "is_default": False,
        "error_count": 0,
        "disabled_after": False,
        "enabled_before": True,
    }
    (req,) = endpoint.requests
    assert req.headers["content-type"] == "application/json"
    assert json.loads(req.content) == {
        "date_started": T0,
        "call_id": CALL_ID_BASE + 1,
        "external_number": CALLER,
        "internal_number": number,
        "contact_id": None,
        "contact_type": None,
    }
    assert store.list_attempts()[0]["attempt_id"] == 1


def test_signed_router_posts_an_hs256_jwt(world):
    store, clock, endpoint, d = world
    _, number = add_router(store, secret=SECRET)
    rec = d.place_call(number, CALLER, call_id=42)
    (req,) = endpoint.requests
    assert req.headers["content-type"] == "application/jwt"
    payload = verify(req.content, SECRET)
    assert payload["call_id"] == 42 and payload["internal_number"] == number
    assert rec["outcome"] == "ok" and rec["call_id"] == 42


def test_action_route_answer_is_accepted(world):
    store, clock, endpoint, d = world
    endpoint.mode = "action_route"
    _, number = add_router(store)
    rec = d.place_call(number, CALLER)
    assert (rec["outcome"], rec["target_id"], rec["target_type"]) == ("ok", ADA, "user")


@pytest.mark.parametrize(
    "mode, outcome, status, detail",
    [
        ("500", "http_status", 500, "HTTP 500"),
        ("garbage", "invalid_response", 200, "not JSON"),
        ("no_type", "invalid_response", 200, "target_type"),
        ("planet", "unknown_target", 200, "'planet'"),
        ("unknown_id", "unknown_target", 200, "not in the company directory"),
        ("wrong_type", "unknown_target", 200, "is a callcenter, not a department"),
        ("connect", "connect_error", None, "could not reach"),
        ("timeout", "timeout", None, "within 1 s"),
    ],
)
def test_each_error_goes_to_the_default_and_counts(world, mode, outcome, status, detail):
    store, clock, endpoint, d = world
    endpoint.mode = mode
    rid, number = add_router(store)
    rec = d.place_call(number, CALLER)
    assert rec["outcome"] == outcome and rec["http_status"] == status
    assert detail in rec["detail"]
    assert (rec["target_id"], rec["target_type"], rec["is_default"]) == (RECEPTION, "department", True)
    assert rec["error_count"] == 1 and store.error_times(rid) == [T0]


def test_details_never_carry_the_url_query(world):
    store, clock, endpoint, d = world
    endpoint.mode = "connect"
    _, number = add_router(store)
    assert "key=abc" not in d.place_call(number, CALLER)["detail"]


def test_unknown_target_reason_accepts_the_companys_routers(world):
    store, clock, endpoint, d = world
    other, _ = add_router(store)
    assert d.unknown_target_reason(other, "callrouter") is None
    assert "not a call router" in d.unknown_target_reason(999, "callrouter")


def test_eleventh_error_disables_and_emails_the_office_admin(world):
    store, clock, endpoint, d = world
    endpoint.mode = "500"
    rid, number = add_router(store, secret=SECRET)
    recs = [d.place_call(number, CALLER, at=T0 + i * MIN) for i in range(11)]
    assert [r["error_count"] for r in recs] == list(range(1, 12))
    assert [r["disabled_after"] for r in recs] == [False] * 10 + [True]
    assert store.get_router(rid)["enabled"] is False
    (mail,) = store.list_outbox()
    assert mail["to_addr"] == OFFICES[0]["admin_email"] and mail["router_id"] == rid
    assert "Main line" in mail["subject"] and "11" in mail["subject"] and str(rid) in mail["subject"]
    assert "11 routing errors" in mail["body"]
    assert SECRET not in mail["subject"] + mail["body"] and "key=abc" not in mail["body"]


def test_disabled_router_gets_no_request_and_no_count(world):
    store, clock, endpoint, d = world
    rid, number = add_router(store, enabled=False)
    rec = d.place_call(number, CALLER)
    assert endpoint.requests == []
    assert rec["outcome"] == "skipped_disabled" and rec["latency_ms"] is None and rec["http_status"] is None
    assert rec["is_default"] and rec["enabled_before"] is False and rec["error_count"] == 0
    assert store.error_times(rid) == []


def _disable(store, clock, endpoint, d):
    endpoint.mode = "500"
    rid, number = add_router(store)
    for i in range(11):
        d.place_call(number, CALLER, at=T0 + i * MIN)
    return rid, number


def test_reenable_keeps_the_count_and_the_next_error_disables_again(world):
    store, clock, endpoint, d = world
    rid, number = _disable(store, clock, endpoint, d)
    store.set_enabled(rid, True)
    rec = d.place_call(number, CALLER, at=T0 + 20 * MIN)
    assert rec["error_count"] == 12 and rec["disabled_after"] is True
    assert len(store.list_outbox()) == 2


def test_reenable_with_reset_starts_from_zero(world):
    store, clock, endpoint, d = world
    rid, number = _disable(store, clock, endpoint, d)
    store.clear_errors(rid)
    store.set_enabled(rid, True)
    recs = [d.place_call(number, CALLER, at=T0 + (20 + i) * MIN) for i in range(10)]
    assert recs[-1]["error_count"] == 10 and not any(r["disabled_after"] for r in recs)
    assert d.router_errors(rid)["enabled"] is True


def test_errors_expire_after_an_hour_of_simulated_time(world):
    store, clock, endpoint, d = world
    endpoint.mode = "500"
    rid, number = add_router(store)
    for i in range(10):
        d.place_call(number, CALLER, at=T0 + i * MIN)
    clock.set(T0 + 60 * MIN)  # the error at T0 is exactly an hour old: expired
    info = d.router_errors(rid)
    assert info["error_count"] == 9 and info["error_times"][0] == T0 + MIN
    assert info["threshold"] == 10 and info["window_s"] == 3600.0
    rec = d.place_call(number, CALLER)
    assert rec["error_count"] == 10 and rec["disabled_after"] is False


def test_at_moves_the_clock_and_cannot_go_back(world):
    store, clock, endpoint, d = world
    _, number = add_router(store)
    rec = d.place_call(number, CALLER, at="2026-01-05T10:00:00Z")
    assert rec["at"] == T0 + 60 * MIN == clock.now_ms()
    with pytest.raises(ValidationError, match="earlier than the sandbox clock") as err:
        d.place_call(number, CALLER, at=T0)
    assert err.value.field == "at"
    with pytest.raises(ValidationError) as err:
        d.place_call(number, CALLER, at="teatime")
    assert err.value.field == "at"
    assert len(store.list_attempts()) == 1


@pytest.mark.parametrize(
    "to, from_, field", [("555-0100", CALLER, "to"), (None, CALLER, "to"), ("+14155550100", "x", "from")]
)
def test_bad_numbers_name_the_field(world, to, from_, field):
    store, clock, endpoint, d = world
    add_router(store)
    with pytest.raises(ValidationError) as err:
        d.place_call(to, from_)
    assert err.value.field == field


def test_unassigned_number_is_not_found(world):
    store, clock, endpoint, d = world
    add_router(store)
    with pytest.raises(NumberNotAssigned, match=r"\+14155559999"):
        d.place_call("+14155559999", CALLER)


def test_concurrent_calls_lose_no_record_and_count_exactly(world):
    store, clock, endpoint, d = world
    endpoint.mode = "500"
    rid, number = add_router(store)
    other_rid, other_number = add_router(store)
    targets = [number, other_number] * 40
    with ThreadPoolExecutor(16) as pool:
        recs = list(pool.map(lambda n: d.place_call(n, CALLER), targets))
    assert len({r["attempt_id"] for r in recs}) == 80 == len(store.list_attempts())
    assert len({r["call_id"] for r in recs}) == 80
    for router in (rid, other_rid):
        mine = sorted((r for r in recs if r["router_id"] == router), key=lambda r: r["attempt_id"])
        assert [r["outcome"] for r in mine] == ["http_status"] * 11 + ["skipped_disabled"] * 29
        assert [r["error_count"] for r in mine[:11]] == list(range(1, 12))
        assert [r["disabled_after"] for r in mine].count(True) == 1
    assert len(store.list_outbox()) == 2
    assert len(endpoint.requests) == 22


def test_batch_is_validated_before_any_call_is_placed(world):
    store, clock, endpoint, d = world
    _, number = add_router(store)
    calls = [{"to": number, "from": CALLER}, {"to": number, "from": "nope"}]
    with pytest.raises(ValidationError) as err:
        d.place_calls(calls)
    assert err.value.field == "calls[1].from"
    with pytest.raises(NumberNotAssigned, match=r"calls\[0\]\.to"):
        d.place_calls([{"to": "+14155559999", "from": CALLER}])
    with pytest.raises(ValidationError) as err:
        d.place_calls(
            [{"to": number, "from": CALLER, "at": T0 + 5}, {"to": number, "from": CALLER, "at": T0}]
        )
    assert err.value.field == "calls[1].at"
    assert store.list_attempts() == [] and endpoint.requests == []


def test_batch_keeps_input_order_with_concurrency(world):
    store, clock, endpoint, d = world
    _, a = add_router(store)
    _, b = add_router(store)
    calls = [{"to": [a, b][i % 2], "from": CALLER, "call_id": 100 + i} for i in range(20)]
    recs = d.place_calls(calls, concurrency=4)
    assert [r["call_id"] for r in recs] == list(range(100, 120))
    assert {r["outcome"] for r in recs} == {"ok"}


def test_router_errors_of_unknown_router(world):
    store, clock, endpoint, d = world
    with pytest.raises(LookupError):
        d.router_errors(1)


def test_deadline_must_be_positive():
    with pytest.raises(ValidationError, match="routing_deadline_s"):
        Dispatcher(SandboxStore(":memory:"), SimulatedClock(T0), directory=COMPANY.directory(), deadline_s=0)


@settings(max_examples=20, deadline=None)
@given(
    events=st.lists(
        st.tuples(st.integers(min_value=0, max_value=15 * MIN), st.booleans()), min_size=1, max_size=30
    )
)
def test_stored_window_agrees_with_one_live_state(events):
    """Dispatch rebuilds the rule from SQLite for every call; a single live
    RouterHealthState fed the same calls must give the same counts and disables."""
    store, clock = SandboxStore(":memory:"), SimulatedClock(T0)
    endpoint = Endpoint()
    d = Dispatcher(store, clock, directory=COMPANY.directory(), transport=httpx.MockTransport(endpoint))
    try:
        _, number = add_router(store)
        live, t = RouterHealthState(DIALPAD), T0
        for gap, fails in events:
            t += gap
            endpoint.mode = "500" if fails else "ok"
            rec = d.place_call(number, CALLER, at=t)
            v = live.record(t, error=fails)
            assert rec["enabled_before"] == v.requested
            assert (rec["error_count"], rec["disabled_after"]) == (v.error_count, v.disabled_now)
    finally:
        d.close()
        store.close()


def test_a_valid_answer_after_the_deadline_is_a_timeout():
    from dialpad_nb.core.models import RoutingRequest
    from dialpad_nb.core.protocol import request_route

    ticks = iter([100.0, 100.0 + 5.2])  # the answer took 5.2 s by this timer
    with httpx.Client(transport=httpx.MockTransport(Endpoint("ok"))) as http:
        result = request_route(
            http,
            routing_url="http://endpoint.test/route",
            secret=None,
            request=RoutingRequest(T0, 1, CALLER, "+14155551001"),
            deadline_s=5.0,
            unknown_target_reason=lambda tid, ttype: None,
            timer=lambda: next(ticks),
        )
    assert (result.outcome, result.http_status, result.decision) == ("timeout", 200, None)
    assert round(result.latency_ms) == 5200 and "after the 5 s deadline" in result.detail


def test_without_a_transport_only_loopback_endpoints_are_called():
    # An offline sandbox must not send call data to whatever host a router names.
    store, clock = SandboxStore(":memory:"), SimulatedClock(T0)
    d = Dispatcher(store, clock, directory=COMPANY.directory(), deadline_s=1.0)
    try:
        rid, number = add_router(store, url="https://routing.example.com/route?token=abc")
        rec = d.place_call(number, CALLER)
        assert rec["outcome"] == "connect_error" and rec["is_default"] and rec["error_count"] == 1
        assert rec["latency_ms"] is None  # nothing was sent
        assert "not on this machine" in rec["detail"] and "--allow-remote-routing" in rec["detail"]
        assert "token=abc" not in rec["detail"]
    finally:
        d.close()
        store.close()


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:9/route", "http://localhost:9/route", "http://[::1]:9/route"]
)
def test_loopback_endpoints_are_called_without_a_transport(url):
    store, clock = SandboxStore(":memory:"), SimulatedClock(T0)
    d = Dispatcher(store, clock, directory=COMPANY.directory(), deadline_s=1.0)
    try:
        rid, number = add_router(store, url=url)
        rec = d.place_call(number, CALLER)
        # port 9 (discard) has no listener here: the request was really attempted and refused
        assert rec["outcome"] == "connect_error" and rec["latency_ms"] is not None
        assert "not on this machine" not in rec["detail"]
    finally:
        d.close()
        store.close()


def test_allow_remote_routing_sends_to_other_hosts():
    endpoint = Endpoint()
    store, clock = SandboxStore(":memory:"), SimulatedClock(T0)
    d = Dispatcher(
        store,
        clock,
        directory=COMPANY.directory(),
        deadline_s=1.0,
        allow_remote_routing=True,
        transport=httpx.MockTransport(endpoint),
    )
    try:
        rid, number = add_router(store, url="https://routing.example.com/route")
        assert d.place_call(number, CALLER)["outcome"] == "ok"
        assert len(endpoint.requests) == 1
    finally:
        d.close()
        store.close()
