"""The sandbox's call history: every dispatched call is a concluded CallProto, listed most
recent first, filtered, paged, fetched one by one, and kept in SQLite across restarts
(including a database made by the previous schema)."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import pytest

from dialpad_nb.core.clock import SimulatedClock
from dialpad_nb.core.history import simulated_timeline
from dialpad_nb.sandbox.store import SCHEMA_VERSION, SandboxStore

from .helpers_history import CALLER, RECEPTION, ROUTING_URL, TIER1, VIP, History

V1_DB = Path(__file__).parent / "data" / "sandbox-schema-v1.sqlite3"


@pytest.fixture
def history(app_client_factory):
    return History(app_client_factory, page_size=4)


def test_a_good_call_has_its_breadcrumb_names_and_seeded_times(history):
    attempt = history.place(1, caller="+12065550188")[0]
    (call,) = history.calls()
    router = history.router
    assert call["call_id"] == attempt["call_id"] and call["date_started"] == attempt["at"]
    assert call["state"] == "hangup" and call["direction"] == "inbound"
    assert call["entry_point_target"] == {
        "id": str(router["id"]),
        "type": "callrouter",
        "name": "History line",
        "phone": history.number,
        "email": None,
    }
    assert (call["target"]["id"], call["target"]["type"], call["target"]["name"]) == (
        str(VIP),
        "callcenter",
        "VIP Desk",
    )
    (crumb,) = call["routing_breadcrumbs"]
    assert crumb == {
        "breadcrumb_type": "callrouter",
        "date": attempt["at"],
        "url": ROUTING_URL,
        "request": history.endpoint.requests[0]["body"],  # exactly what the endpoint received
        "response": {"target_id": VIP, "target_type": "callcenter", "action": "route"},  # its answer, as sent
        "target_id": VIP,
        "target_type": "callcenter",
    }
    times = simulated_timeline(history.state.store.seed, call["call_id"], call["date_started"])
    assert {k: call[k] for k in times} == times
    assert call["date_started"] < call["date_rang"] < call["date_connected"] < call["date_ended"]
    assert call["duration"] == call["date_ended"] - call["date_connected"]
    assert call["total_duration"] == call["date_ended"] - call["date_started"]


@pytest.mark.parametrize(
    ("mode", "error", "status"),
    [("503", "http_status", 503), ("garbage", "invalid_body", 200), ("ghost", "unknown_target", 200)],
)
def test_an_error_breadcrumb_says_why_and_the_call_went_to_the_default(history, mode, error, status):
    history.endpoint.mode = mode
    attempt = history.place(1)[0]
    (call,) = history.calls()
    (crumb,) = call["routing_breadcrumbs"]
    assert crumb["response"]["error"] == error and crumb["response"]["status"] == status
    assert isinstance(crumb["response"]["latency_ms"], int) and crumb["response"]["latency_ms"] >= 0
    assert (
        (crumb["target_id"], crumb["target_type"])
        == (RECEPTION, "department")
        == (
            attempt["target_id"],
            attempt["target_type"],
        )
    )
    assert (call["target"]["name"], call["target"]["type"]) == ("Reception", "department")


def test_a_call_to_a_disabled_router_has_no_breadcrumb(app_client_factory):
    history = History(app_client_factory, enabled=False)
    attempt = history.place(1)[0]
    assert attempt["outcome"] == "skipped_disabled"
    (call,) = history.calls()
    assert call["routing_breadcrumbs"] == [] and call["target"]["name"] == "Reception"
    assert history.endpoint.requests == []


def test_a_router_that_disables_itself_leaves_errors_then_skipped_calls(history):
    history.endpoint.mode = "503"
    history.place(13)
    calls = history.calls()
    crumbs = [len(c["routing_breadcrumbs"]) for c in reversed(calls)]  # oldest first
    assert crumbs == [1] * 11 + [0, 0]


def test_list_is_most_recent_first_paged_and_filtered(history):
    other = history.create_router("Other line")
    other_number = history.assign(other["id"])
    first = history.place(5)  # 5 calls on the history line, a minute apart
    history.endpoint.mode = "503"
    second = history.place(3, number=other_number)
    everything = history.calls()
    starts = [c["date_started"] for c in everything]
    assert starts == sorted(starts, reverse=True) and len(everything) == 8  # over 2 pages of 4

    by_router = history.calls(target_id=history.router["id"], target_type="callrouter")
    assert [c["call_id"] for c in by_router] == [a["call_id"] for a in reversed(first)]
    window = history.calls(started_after=first[1]["at"], started_before=first[4]["at"])  # both exclusive
    assert [c["call_id"] for c in window] == [first[3]["call_id"], first[2]["call_id"]]
    to_reception = history.calls(target_id=RECEPTION, target_type="department")  # the final target
    assert [c["call_id"] for c in to_reception] == [a["call_id"] for a in reversed(second)]
    assert history.calls(target_id=TIER1, target_type="callcenter")[0]["call_id"] == first[-1]["call_id"]


def test_calls_at_the_same_millisecond_keep_the_order_they_were_placed(history):
    now = history.state.clock.now_ms()
    r = history.client.post(
        "/sandbox/v1/calls:batch", json={"calls": [{"to": history.number, "from": CALLER, "at": now}] * 6}
    )
    placed = [a["call_id"] for a in r.json()]
    assert [c["call_id"] for c in history.calls()] == placed[::-1]  # 2 pages, no call lost or repeated


def test_get_one_call_404_for_an_unknown_id_400_for_a_non_id(history):
    attempt = history.place(1)[0]
    r = history.client.get(f"/api/v2/call/{attempt['call_id']}")
    assert r.status_code == 200 and r.json() == history.calls()[0]
    r = history.client.get("/api/v2/call/7000000000999999")
    assert r.status_code == 404 and "7000000000999999" in r.json()["error"]["message"]
    r = history.client.get("/api/v2/call/not-a-call")  # as for every path id (issue 9): 400 naming it
    assert r.status_code == 400 and r.json()["error"]["message"].startswith("id: ")


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"started_after": "yesterday"}, "started_after"),
        ({"started_before": "-5"}, "started_before"),
        ({"target_id": "5514135059149489"}, "target_type"),
        ({"target_type": "callrouter"}, "target_id"),
        ({"target_id": "12", "target_type": "spaceship"}, "target_type"),
        ({"cursor": "bm90LWEtY3Vyc29y"}, "cursor"),
    ],
)
def test_bad_list_parameters_are_400_naming_them(history, params, field):
    r = history.client.get("/api/v2/call", params=params)
    assert r.status_code == 400 and field in r.json()["error"]["message"]


def test_string_ids_when_the_sandbox_emits_ids_as_strings(app_client_factory):
    history = History(app_client_factory, id_format="string")
    history.place(1)
    (call,) = history.calls()
    assert isinstance(call["call_id"], str) and isinstance(call["routing_breadcrumbs"][0]["target_id"], str)
    assert history.client.get(f"/api/v2/call/{call['call_id']}").json()["call_id"] == call["call_id"]


def test_calls_survive_a_restart(app_client_factory, tmp_path):
    db = tmp_path / "sandbox.sqlite3"
    first = History(app_client_factory, db_path=db)
    first.place(3)
    before = first.calls()
    first.client.__exit__(None, None, None)
    again = app_client_factory(
        db_path=db, clock=SimulatedClock(), transport=httpx.MockTransport(first.endpoint)
    )
    r = again.get("/api/v2/call")
    assert r.json()["items"] == before


def test_a_database_made_by_the_previous_schema_opens_and_gets_the_new_tables(app_client_factory, tmp_path):
    db = tmp_path / "old.sqlite3"
    shutil.copy(V1_DB, db)  # made by the sandbox before call history existed (schema 1)
    client = app_client_factory(db_path=db)
    store: SandboxStore = client.app.state.sandbox.store
    assert store.get_meta("schema_version") == str(SCHEMA_VERSION) == "2"
    (router,) = client.get("/api/v2/callrouters").json()["items"]
    assert router["name"] == "Legacy line" and len(store.list_attempts()) == 1  # old data kept
    number = router["phone_numbers"][0]
    client.patch(f"/api/v2/callrouters/{router['id']}", json={"enabled": False})
    attempt = client.post("/sandbox/v1/calls", json={"to": number, "from": CALLER}).json()
    assert attempt["call_id"] == 7000000000000002  # the old call-id counter continues
    assert [c["call_id"] for c in client.get("/api/v2/call").json()["items"]] == [attempt["call_id"]]
    assert client.get("/api/v2/webhooks").json() == {"items": []}


def test_a_huge_answer_is_recorded_as_its_decision_only(app_client_factory):
    def chatty(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, json={"target_id": TIER1, "target_type": "callcenter", "notes": "x" * 100_000}
        )

    history = History(app_client_factory, transport=httpx.MockTransport(chatty))
    history.place(1)
    (call,) = history.calls()
    assert call["routing_breadcrumbs"][0]["response"] == {"target_id": TIER1, "target_type": "callcenter"}


@pytest.mark.parametrize(
    "params",
    [
        {"started_after": "9" * 40},
        {"target_id": "9" * 40, "target_type": "callrouter"},
        {"cursor": "%%%"},
        {"cursor": "Y2FsbDox"},  # "call:1": not three parts
    ],
)
def test_hostile_list_queries_are_4xx(history, params):
    assert history.client.get("/api/v2/call", params=params).status_code == 400
