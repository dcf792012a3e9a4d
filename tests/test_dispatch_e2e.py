"""End to end over real loopback HTTP: sandbox (uvicorn thread) → routing endpoint (uvicorn thread).

The sandbox's routing deadline is short (``DEADLINE_S``) so the slow case is quick;
slowness is a ``threading.Event`` the rule blocks on (released at teardown), never a sleep.
"""

from __future__ import annotations

import threading

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from dialpad_nb.api.control import sandbox_control
from dialpad_nb.core.models import RoutingRequest
from dialpad_nb.core.serving import serve_app, stop_all
from dialpad_nb.endpoint.app import routing_endpoint, serve_endpoint
from dialpad_nb.samples.company import CALLCENTERS, DEPARTMENTS, OFFICES
from tests.helpers_log import log_records

pytestmark = pytest.mark.http

DEADLINE_S = 1.0  # the sandbox's (real-time) routing deadline in these tests
SECRET = "e2e-router-secret-0123456789abcdefgh"
WRONG_SECRET = "e2e-other-secret-0123456789abcdefghij"
SF = OFFICES[0]["id"]
SALES = CALLCENTERS[0]["id"]
RECEPTION = DEPARTMENTS[4]["id"]
SUPPORT = DEPARTMENTS[1]["id"]
CALLER = "+14155550123"
T0 = 1_767_603_600_000
MIN = 60_000


class SwitchRule:
    """A rule whose behaviour is switched by the test: ok, slow (blocks), unknown target."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.release = threading.Event()

    def decide(self, request: RoutingRequest):
        if self.mode == "slow":
            self.release.wait(60)
        if self.mode == "unknown":
            return (123_456_789, "user")
        return {"target_id": SALES, "target_type": "callcenter", "rule": "sales_line"}


class BadEndpoint:
    """A misbehaving routing endpoint: answers 500, garbage or an unknown target type."""

    def __init__(self) -> None:
        self.mode = "500"
        self.requests = 0
        self.app = Starlette(routes=[Route("/{p:path}", self.handle, methods=["POST"])])

    async def handle(self, request: Request):
        self.requests += 1
        await request.body()
        if self.mode == "500":
            return PlainTextResponse("internal error", status_code=500)
        if self.mode == "garbage":
            return PlainTextResponse("<html>not json</html>")
        return JSONResponse({"target_id": SALES, "target_type": "planet"})


@pytest.fixture
def world(sandbox_factory, tmp_path):
    rule = SwitchRule()
    fallback = (SUPPORT, "department")
    patient = routing_endpoint(
        rule, secret=SECRET, fallback=fallback, budget_s=3.0, log_path=tmp_path / "p.jsonl"
    )
    guarded = routing_endpoint(
        rule, secret=SECRET, fallback=fallback, budget_s=0.2, log_path=tmp_path / "g.jsonl"
    )
    bad = BadEndpoint()
    served = [serve_endpoint(patient), serve_endpoint(guarded), serve_app(bad.app)]
    db = tmp_path / "sandbox.db"
    server = sandbox_factory(db_path=db, routing_deadline_s=DEADLINE_S)
    api = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {server.api_key}"})
    control = sandbox_control(server)
    w = {
        "rule": rule,
        "bad": bad,
        "patient_url": served[0].url + "/route",
        "guarded_url": served[1].url + "/route",
        "bad_url": served[2].url + "/route",
        "patient_log": tmp_path / "p.jsonl",
        "guarded_log": tmp_path / "g.jsonl",
        "server": server,
        "db": db,
        "api": api,
        "control": control,
        "sandbox_factory": sandbox_factory,
    }
    yield w
    rule.release.set()
    control.close()
    api.close()
    stop_all(*served)


def add_router(w, url: str, *, secret: str | None = SECRET) -> tuple[int, str]:
    body = {
        "name": "E2E line",
        "routing_url": url,
        "office_id": SF,
        "default_target_id": RECEPTION,
        "default_target_type": "department",
    }
    if secret:
        body["secret"] = secret
    r = w["api"].post("/api/v2/callrouters", json=body)
    assert r.status_code == 200, r.text
    rid = int(r.json()["id"])
    n = w["api"].post(f"/api/v2/callrouters/{rid}/assign_number", json={})
    assert n.status_code == 200, n.text
    return rid, n.json()["number"]


def log_of(path) -> list[dict]:
    return log_records(path) if path.exists() else []


def test_ok_signed_call_routes_to_the_endpoints_answer(world):
    rid, number = add_router(world, world["patient_url"])
    rec = world["control"].place_call(number, CALLER)
    assert (rec["outcome"], rec["http_status"], rec["target_id"], rec["is_default"]) == (
        "ok",
        200,
        SALES,
        False,
    )
    (logged,) = log_of(world["patient_log"])
    assert logged["call_id"] == rec["call_id"] and logged["signed"] is True
    assert logged["payload"]["internal_number"] == number and logged["payload"]["date_started"] == T0
    assert (logged["outcome"], logged["rule"]) == ("ok", "sales_line")


def test_slow_endpoint_times_out_to_the_default(world):
    world["rule"].mode = "slow"
    rid, number = add_router(world, world["patient_url"])
    rec = world["control"].place_call(number, CALLER)
    assert rec["outcome"] == "timeout" and rec["http_status"] is None
    assert (rec["target_id"], rec["is_default"], rec["error_count"]) == (RECEPTION, True, 1)
    assert f"{DEADLINE_S:g} s" in rec["detail"]


def test_endpoint_budget_answers_its_fallback_before_the_deadline(world):
    world["rule"].mode = "slow"
    rid, number = add_router(world, world["guarded_url"])
    rec = world["control"].place_call(number, CALLER)
    assert (rec["outcome"], rec["target_id"], rec["error_count"]) == ("ok", SUPPORT, 0)
    (logged,) = log_of(world["guarded_log"])
    assert logged["fallback"] is True and logged["outcome"] == "fallback"


@pytest.mark.parametrize(
    "mode, outcome, status",
    [("500", "http_status", 500), ("garbage", "invalid_response", 200), ("planet", "unknown_target", 200)],
)
def test_misbehaving_endpoint_is_an_error(world, mode, outcome, status):
    world["bad"].mode = mode
    rid, number = add_router(world, world["bad_url"], secret=None)
    rec = world["control"].place_call(number, CALLER)
    assert (rec["outcome"], rec["http_status"], rec["target_id"]) == (outcome, status, RECEPTION)
    assert world["control"].error_count(rid) == 1


def test_unknown_target_id_is_an_error(world):
    world["rule"].mode = "unknown"
    rid, number = add_router(world, world["patient_url"])
    rec = world["control"].place_call(number, CALLER)
    assert rec["outcome"] == "unknown_target" and "123456789" in rec["detail"] and rec["is_default"]


def test_wrong_secret_is_refused_by_the_endpoint_and_counted(world):
    rid, number = add_router(world, world["patient_url"], secret=WRONG_SECRET)
    rec = world["control"].place_call(number, CALLER)
    assert (rec["outcome"], rec["http_status"], rec["target_id"]) == ("http_status", 401, RECEPTION)
    (logged,) = log_of(world["patient_log"])
    assert logged["outcome"] == "unauthorized" and "bad_signature" in logged["error"]
    text = world["patient_log"].read_text()
    assert SECRET not in text and WRONG_SECRET not in text


def test_connection_refused_is_connect_error(world):
    import socket

    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    rid, number = add_router(world, f"http://127.0.0.1:{port}/route", secret=None)
    assert world["control"].place_call(number, CALLER)["outcome"] == "connect_error"


def _disable_via_endpoint(world) -> tuple[int, str]:
    """11 unknown-target answers from the kit inside an hour → disabled."""
    world["rule"].mode = "unknown"
    rid, number = add_router(world, world["patient_url"])
    recs = [world["control"].place_call(number, CALLER, at=T0 + i * MIN) for i in range(11)]
    assert [r["disabled_after"] for r in recs] == [False] * 10 + [True]
    return rid, number


def test_eleventh_error_disables_emails_and_stops_requests(world):
    control = world["control"]
    rid, number = _disable_via_endpoint(world)
    assert world["api"].get(f"/api/v2/callrouters/{rid}").json()["enabled"] is False
    outbox = control.outbox()
    assert len(outbox) == 1
    mail = outbox.iloc[0]
    assert mail["to"] == OFFICES[0]["admin_email"] and str(rid) in mail["subject"]
    assert SECRET not in mail["subject"] + mail["body"]
    logged_before = len(log_of(world["patient_log"]))
    world["rule"].mode = "ok"
    rec = control.place_call(number, CALLER)
    assert (rec["outcome"], rec["latency_ms"], rec["target_id"]) == ("skipped_disabled", None, RECEPTION)
    assert len(log_of(world["patient_log"])) == logged_before == 11


def test_reenable_without_reset_keeps_count_then_with_reset_clears(world):
    api, control = world["api"], world["control"]
    rid, number = _disable_via_endpoint(world)

    r = api.patch(f"/api/v2/callrouters/{rid}", json={"enabled": True})
    assert r.status_code == 200 and r.json()["enabled"] is True
    assert control.error_count(rid) == 11
    rec = control.place_call(number, CALLER)  # still failing: disabled again at once
    assert rec["error_count"] == 12 and rec["disabled_after"] is True
    assert len(control.outbox()) == 2

    assert api.patch(f"/api/v2/callrouters/{rid}", json={"enabled": True}).status_code == 429
    control.advance(300)  # past the PATCH limit
    r = api.patch(f"/api/v2/callrouters/{rid}", json={"enabled": True, "reset_error_count": True})
    assert r.status_code == 200
    assert control.error_count(rid) == 0
    recs = [control.place_call(number, CALLER) for _ in range(10)]
    assert recs[-1]["error_count"] == 10 and not any(r["disabled_after"] for r in recs)
    world["rule"].mode = "ok"
    assert control.place_call(number, CALLER)["outcome"] == "ok"


def test_restart_keeps_attempts_errors_and_the_clock(world):
    world["bad"].mode = "500"
    rid, number = add_router(world, world["bad_url"], secret=None)
    control = world["control"]
    control.place_calls([{"to": number, "from": CALLER, "at": T0 + i * MIN} for i in range(3)])
    before = control.attempt_records()
    world["server"].stop()
    again = world["sandbox_factory"](db_path=world["db"], routing_deadline_s=DEADLINE_S)
    with sandbox_control(again) as c2:
        assert c2.attempt_records() == before
        assert c2.error_count(rid) == 3
        assert c2.clock() == T0 + 2 * MIN
        rec = c2.place_call(number, CALLER)
        assert rec["attempt_id"] == 4 and rec["error_count"] == 4 and rec["call_id"] > before[-1]["call_id"]
