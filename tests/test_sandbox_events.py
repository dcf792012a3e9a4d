"""Webhooks, call-event subscriptions and event delivery in the sandbox.

Delivery is driven by hand (``deliver_in_background=False``, ``Deliverer.run_due`` with a fake
wall clock), so retries and backoff are checked without waiting; one test runs the real
background thread to show dispatch never waits for a webhook."""

from __future__ import annotations

import json
import threading

import httpx
import pytest

from dialpad_nb.core.history import CALL_STATES
from dialpad_nb.core.policy import EventDelivery
from dialpad_nb.core.signing import verify
from dialpad_nb.sandbox.delivery import Deliverer, deliverer

from .helpers_history import HOOK_SECRET, History

HOOK = "http://127.0.0.1:9/events"


class Hook:
    """A webhook receiver as an httpx handler: answers ``statuses`` in turn (then 200)."""

    def __init__(self, *statuses: int) -> None:
        self.statuses = list(statuses)
        self.received: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.received.append(request)
        status = self.statuses.pop(0) if self.statuses else 200
        return httpx.Response(status, json={"ok": status < 300})


class FakeTime:
    def __init__(self) -> None:
        self.now = 1_800_000_000_000

    def __call__(self) -> int:
        return self.now


def setup(app_client_factory, hook: Hook, *, schedule: EventDelivery | None = None, **kw):
    history = History(
        app_client_factory,
        event_transport=httpx.MockTransport(hook),
        deliver_in_background=False,
        event_delivery=schedule or EventDelivery(),
        **kw,
    )
    clock = FakeTime()
    d = deliverer(history.state)
    d.timer = clock
    return history, d, clock


def make_hook(history: History, *, secret: str | None = HOOK_SECRET, url: str = HOOK) -> dict:
    body = {"hook_url": url} | ({"secret": secret} if secret else {})
    r = history.client.post("/api/v2/webhooks", json=body)
    assert r.status_code == 200, r.text
    return r.json()


def subscribe(history: History, hook: dict, states=("all",), **extra) -> dict:
    r = history.client.post(
        "/api/v2/subscriptions/call", json={"endpoint_id": hook["id"], "call_states": list(states), **extra}
    )
    assert r.status_code == 200, r.text
    return r.json()


def deliveries(history: History, **params) -> list[dict]:
    return history.client.get("/sandbox/v1/deliveries", params={"limit": 1000, **params}).json()["items"]


# --------------------------------------------------------------------------- CRUD


def test_webhook_crud_in_dialpads_shapes(app_client_factory):
    history = History(app_client_factory, page_size=2)
    client = history.client
    made = [make_hook(history, secret=HOOK_SECRET if i % 2 else None) for i in range(3)]
    assert made[1]["signature"] == {"type": "jwt", "algo": "HS256", "secret": HOOK_SECRET}
    assert made[0]["signature"] == {} and made[0]["hook_url"] == HOOK
    page = client.get("/api/v2/webhooks").json()
    assert [w["id"] for w in page["items"]] == [made[0]["id"], made[1]["id"]] and "cursor" in page
    rest = client.get("/api/v2/webhooks", params={"cursor": page["cursor"]}).json()
    assert [w["id"] for w in rest["items"]] == [made[2]["id"]] and "cursor" not in rest
    hid = made[1]["id"]
    changed = client.patch(
        f"/api/v2/webhooks/{hid}", json={"hook_url": "http://127.0.0.1:9/v2", "secret": ""}
    )
    assert changed.json() == {"id": hid, "hook_url": "http://127.0.0.1:9/v2", "signature": {}}
    assert client.get(f"/api/v2/webhooks/{hid}").json() == changed.json()
    assert client.delete(f"/api/v2/webhooks/{hid}").json() == changed.json()
    r = client.get(f"/api/v2/webhooks/{hid}")
    assert r.status_code == 404 and str(hid) in r.json()["error"]["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "hook_url"),
        ({"hook_url": "ftp://x"}, "hook_url"),
        ({"hook_url": HOOK, "secret": ""}, "secret"),
        ({"hook_url": HOOK, "secret": "a\nb"}, "secret"),
        ({"hook_url": HOOK, "hookurl": HOOK}, "hookurl"),
    ],
)
def test_bad_webhooks_are_400_naming_the_field(app_client_factory, body, field):
    r = app_client_factory().post("/api/v2/webhooks", json=body)
    assert r.status_code == 400 and field in r.json()["error"]["message"]


def test_subscription_crud_filters_and_the_webhook_it_names(app_client_factory):
    history = History(app_client_factory)
    client = history.client
    hook = make_hook(history)
    rid = history.router["id"]
    sub = subscribe(history, hook, ["hangup", "calling", "hangup"], target_type="callrouter", target_id=rid)
    assert sub == {
        "id": sub["id"],
        "call_states": ["hangup", "calling"],
        "enabled": True,
        "group_calls_only": False,
        "target_id": rid,
        "target_type": "callrouter",
        "webhook": hook,
    }
    everyone = subscribe(history, hook, ["all"], enabled=False)
    assert "target_id" not in everyone and everyone["enabled"] is False
    listed = client.get("/api/v2/subscriptions/call", params={"target_type": "callrouter", "target_id": rid})
    assert [s["id"] for s in listed.json()["items"]] == [sub["id"]]
    patched = client.patch(
        f"/api/v2/subscriptions/call/{sub['id']}", json={"call_states": ["ringing"], "enabled": False}
    )
    assert patched.json()["call_states"] == ["ringing"] and patched.json()["enabled"] is False
    assert client.get(f"/api/v2/subscriptions/call/{sub['id']}").json() == patched.json()
    r = client.delete(f"/api/v2/webhooks/{hook['id']}")
    assert r.status_code == 409 and str(sub["id"]) in r.json()["error"]["message"]
    for s in (sub, everyone):
        assert client.delete(f"/api/v2/subscriptions/call/{s['id']}").status_code == 200
    assert client.get(f"/api/v2/subscriptions/call/{sub['id']}").status_code == 404
    assert client.delete(f"/api/v2/webhooks/{hook['id']}").status_code == 200


def test_a_subscription_to_a_webhook_that_does_not_exist_is_404_naming_it(app_client_factory):
    history = History(app_client_factory)
    r = history.client.post(
        "/api/v2/subscriptions/call", json={"endpoint_id": 5300000000000999, "call_states": ["hangup"]}
    )
    assert r.status_code == 404
    assert r.json()["error"]["message"] == "endpoint_id: no webhook with id 5300000000000999"
    sub = subscribe(history, make_hook(history))
    r = history.client.patch(
        f"/api/v2/subscriptions/call/{sub['id']}", json={"endpoint_id": 5300000000000998}
    )
    assert r.status_code == 404 and "5300000000000998" in r.json()["error"]["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"call_states": ["hangup"]}, "endpoint_id"),
        ({"call_states": []}, "call_states"),
        ({"call_states": ["hung_up"]}, "call_states[0]"),
        ({"call_states": ["hangup"], "target_type": "callrouter"}, "target_id"),
        ({"call_states": ["hangup"], "target_type": "callrouter", "target_id": 42}, "target_id"),
        ({"call_states": ["hangup"], "enabled": "yes"}, "enabled"),
    ],
)
def test_bad_subscriptions_are_400_naming_the_field(app_client_factory, body, field):
    history = History(app_client_factory)
    hook = make_hook(history)
    body = {"endpoint_id": hook["id"], **body} if field != "endpoint_id" else body
    r = history.client.post("/api/v2/subscriptions/call", json=body)
    assert r.status_code == 400 and field in r.json()["error"]["message"]


# --------------------------------------------------------------------------- delivery


def test_every_subscribed_state_is_delivered_signed_with_the_secret_at_send_time(app_client_factory):
    hook = Hook()
    history, d, _ = setup(app_client_factory, hook)
    subscribe(history, make_hook(history), ["all"], target_type="callrouter", target_id=history.router["id"])
    attempt = history.place(1)[0]
    assert hook.received == []  # queued, not sent by dispatch
    assert d.run_due() == 4
    events = [verify(r.content, HOOK_SECRET) for r in hook.received]
    assert [r.headers["content-type"] for r in hook.received] == ["application/jwt"] * 4
    assert [e["state"] for e in events] == list(CALL_STATES)
    (call,) = history.calls()
    times = [call[k] for k in ("date_started", "date_rang", "date_connected", "date_ended")]
    assert [e["event_timestamp"] for e in events] == times
    assert (
        events[0]["date_rang"] is None
        and events[1]["date_connected"] is None
        and events[2]["date_ended"] is None
    )
    assert {k: v for k, v in events[3].items() if k != "event_timestamp"} == {
        k: v for k, v in call.items() if k != "event_timestamp"
    }
    assert all(e["call_id"] == attempt["call_id"] for e in events)
    assert [x["status"] for x in deliveries(history)] == ["delivered"] * 4


def test_unsigned_hooks_get_json_and_filters_pick_the_calls(app_client_factory):
    hook = Hook()
    history, d, _ = setup(app_client_factory, hook)
    other = history.create_router("Other line")
    other_number = history.assign(other["id"])
    plain = make_hook(history, secret=None)
    subscribe(history, plain, ["hangup"], target_type="callrouter", target_id=other["id"])
    subscribe(
        history, plain, ["connected"], group_calls_only=True
    )  # final target a department/callcenter/office
    history.place(2)
    history.place(1, number=other_number)
    d.run_due()
    got = [
        (json.loads(r.content)["state"], json.loads(r.content)["entry_point_target"]["name"])
        for r in hook.received
    ]
    assert sorted(got) == sorted(
        [
            ("connected", "History line"),
            ("connected", "History line"),
            ("connected", "Other line"),
            ("hangup", "Other line"),
        ]
    )
    assert {r.headers["content-type"] for r in hook.received} == {"application/json"}


def test_a_down_webhook_is_retried_with_backoff_then_fails_and_dispatch_carries_on(app_client_factory):
    hook = Hook(503, 503, 503, 503, 200)
    schedule = EventDelivery(attempts=4, backoff_s=1.0, factor=2.0)
    history, d, clock = setup(app_client_factory, hook, schedule=schedule)
    subscribe(history, make_hook(history), ["hangup"])
    assert history.place(1)[0]["outcome"] == "ok"
    start = clock.now
    waits = []
    for _ in range(4):
        assert d.run_due() == 1
        assert d.run_due() == 0  # nothing else is due before the backoff
        nxt = d.next_due_ms()
        if nxt is None:
            break
        waits.append(nxt - clock.now)
        clock.now = nxt
    assert waits == [1000, 2000, 4000]
    (delivery,) = deliveries(history)
    assert delivery["status"] == "failed" and len(delivery["attempts"]) == 4
    assert [a["http_status"] for a in delivery["attempts"]] == [503] * 4
    assert [a["at"] - start for a in delivery["attempts"]] == [0, 1000, 3000, 7000]
    assert delivery["last_error"].startswith("HTTP 503") and delivery["next_at"] is None
    assert history.place(1)[0]["outcome"] == "ok"  # dispatch went on all along
    assert (
        d.run_due() == 1
        and deliveries(history, status="delivered")[0]["call_id"] == history.calls()[0]["call_id"]
    )


def test_a_hook_off_this_machine_is_not_called_unless_allowed(app_client_factory):
    history = History(app_client_factory, deliver_in_background=False)  # no event transport: real network
    subscribe(history, make_hook(history, url="https://events.example.com/hook?token=t0p"), ["hangup"])
    history.place(1)
    assert deliverer(history.state).run_due() == 1
    (delivery,) = deliveries(history)
    assert (
        delivery["status"] == "failed" and len(delivery["attempts"]) == 1
    )  # no retries: it will never be sent
    assert "not on this machine" in delivery["last_error"] and "allow_remote_events" in delivery["last_error"]
    assert "t0p" not in json.dumps(delivery)  # URLs are shown without their query


def test_queued_events_survive_a_restart_and_are_sent_after_it(app_client_factory, tmp_path):
    db = tmp_path / "sandbox.sqlite3"
    hook = Hook()
    history, _, _ = setup(app_client_factory, hook, db_path=db)
    subscribe(history, make_hook(history), ["calling", "hangup"])
    history.place(2)
    history.client.__exit__(None, None, None)  # stopped before anything was sent
    assert hook.received == []
    again = app_client_factory(
        db_path=db, event_transport=httpx.MockTransport(hook), deliver_in_background=False
    )
    d = deliverer(again.app.state.sandbox)
    assert d.run_due() == 4 and len(hook.received) == 4
    assert {x["status"] for x in again.get("/sandbox/v1/deliveries").json()["items"]} == {"delivered"}


def test_wait_idle_is_not_fooled_by_a_delivery_picked_up_while_it_looks(app_client_factory, monkeypatch):
    """The delivery loop takes a due delivery (puts it in flight) just after wait_idle saw nothing
    in flight: the delivery is still pending, so the sandbox is not idle."""
    hook = Hook()
    history, d, clock = setup(app_client_factory, hook)  # no background thread: nothing sends it
    subscribe(history, make_hook(history), ["hangup"])
    history.place(1)
    pending = d.due(limit=10)
    assert len(pending) == 1
    real = d.store.transaction

    def loop_takes_it_meanwhile():  # what the loop thread does between wait_idle's two looks
        with d._guard:
            d._inflight.add(int(pending[0]["id"]))
        return real()

    monkeypatch.setattr(d.store, "transaction", loop_takes_it_meanwhile)
    assert d.wait_idle(0.2) is False  # in flight, never sent here: not idle
    assert hook.received == []


def test_a_restarted_sandbox_sends_what_was_queued_on_its_own(app_client_factory, tmp_path):
    db = tmp_path / "sandbox.sqlite3"
    hook = Hook()
    history, _, _ = setup(app_client_factory, hook, db_path=db)
    subscribe(history, make_hook(history), ["hangup"])
    history.place(3)
    history.client.__exit__(None, None, None)
    again = app_client_factory(db_path=db, event_transport=httpx.MockTransport(hook))  # background delivery
    assert deliverer(again.app.state.sandbox).wait_idle(20)
    assert len(hook.received) == 3


def test_dispatch_never_waits_for_a_webhook(app_client_factory):
    entered, release = threading.Event(), threading.Event()

    def stuck(request: httpx.Request) -> httpx.Response:
        entered.set()
        release.wait(30)
        return httpx.Response(200)

    history = History(app_client_factory, event_transport=httpx.MockTransport(stuck))
    subscribe(history, make_hook(history), ["all"])
    history.place(1)
    assert entered.wait(10)  # the background deliverer is now blocked inside the hook ...
    try:
        more = history.place(5)  # ... and calls are still placed and recorded
        assert [a["outcome"] for a in more] == ["ok"] * 5 and len(history.calls()) == 6
    finally:
        release.set()
    assert deliverer(history.state).wait_idle(20)
    assert {x["status"] for x in deliveries(history)} == {"delivered"} and len(deliveries(history)) == 24


def test_deliveries_list_filters_and_refuses_bad_parameters(app_client_factory):
    hook = Hook()
    history, d, _ = setup(app_client_factory, hook)
    subscribe(history, make_hook(history), ["hangup"])
    placed = history.place(3)
    d.run_due()
    assert [x["call_id"] for x in deliveries(history, call_id=placed[1]["call_id"])] == [placed[1]["call_id"]]
    assert deliveries(history, status="failed") == []
    for params, field in (
        ({"status": "lost"}, "status"),
        ({"limit": "0"}, "limit"),
        ({"call_id": "x"}, "call_id"),
    ):
        r = history.client.get("/sandbox/v1/deliveries", params=params)
        assert r.status_code == 400 and field in r.json()["error"]["message"]
    page = history.client.get("/sandbox/v1/deliveries", params={"limit": 2}).json()
    rest = history.client.get("/sandbox/v1/deliveries", params={"limit": 2, "cursor": page["cursor"]}).json()
    assert len(page["items"]) == 2 and len(rest["items"]) == 1 and "cursor" not in rest


def test_the_deliverer_refuses_zero_workers():
    with pytest.raises(ValueError, match="workers"):
        Deliverer(None, workers=0)  # type: ignore[arg-type]
