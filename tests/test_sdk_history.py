"""Dialpad's official ``python-dialpad`` SDK, unchanged, against the sandbox's call history, webhooks and
call-event subscriptions over real HTTP — including the acceptance check of issue 8:

  a router, a signed webhook and a ``hangup`` subscription are set up with the SDK, calls are placed,
  and ``calls.list`` by router returns them most recent first, with breadcrumbs whose ``url``,
  ``request`` and target match, while the receiver got every event signed with the webhook secret.
"""

from __future__ import annotations

import httpx
import pytest
import requests
from dialpad import DialpadClient

from dialpad_nb.api.control import DELIVERY_COLUMNS, SandboxControl
from dialpad_nb.core.errors import TokenError
from dialpad_nb.core.signing import verify
from dialpad_nb.endpoint import event_receiver, routing_endpoint, serve_endpoint, serve_receiver
from dialpad_nb.samples.company import CALLCENTERS, DEPARTMENTS, OFFICES

pytestmark = pytest.mark.http

SF = OFFICES[0]["id"]
ROUTER_SECRET = "sdk-router-secret-0123456789abcdefgh"
HOOK_SECRET = "sdk-webhook-secret-0123456789abcdefg"
CALLERS = ["+12065550188", "+14155550123", "+16465550142"]


def decide(request):
    """Seattle callers to After Hours, everyone else to Support Tier 1 (the endpoint's rule)."""
    target = CALLCENTERS[4] if request.external_number.startswith("+1206") else CALLCENTERS[1]
    return (target["id"], "callcenter", "by_area")


class Wire:
    """ASGI tap in front of the receiver: keeps each request's content type and body."""

    def __init__(self, app) -> None:
        self.app = app
        self.bodies: list[tuple[str, bytes]] = []

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        chunks = [await receive()]
        while chunks[-1].get("more_body"):
            chunks.append(await receive())
        ctype = dict(scope["headers"]).get(b"content-type", b"").decode()
        self.bodies.append((ctype, b"".join(c.get("body", b"") for c in chunks)))
        replay = iter(chunks)

        async def again():
            return next(replay)

        return await self.app(scope, again, send)


@pytest.fixture
def world(sandbox_factory, tmp_path):
    sandbox = sandbox_factory(page_size=3)
    endpoint_app = routing_endpoint(decide, secret=ROUTER_SECRET, fallback=(CALLCENTERS[1]["id"], "callcenter"),
                                    log_path=tmp_path / "endpoint.jsonl", clock=sandbox.clock)  # fmt: skip
    receiver_app = event_receiver(secret=HOOK_SECRET, log_path=tmp_path / "events.jsonl", clock=sandbox.clock)
    wire = Wire(receiver_app)
    endpoint, receiver = serve_endpoint(endpoint_app), serve_receiver(wire)
    control = httpx.Client(base_url=sandbox.url, headers={"Authorization": f"Bearer {sandbox.api_key}"})
    yield {
        "sandbox": sandbox,
        "sdk": DialpadClient(token=sandbox.api_key, base_url=sandbox.url),
        "endpoint": endpoint,
        "endpoint_log": endpoint_app.state.endpoint.log,
        "receiver": receiver,
        "events": receiver_app.state.receiver,
        "wire": wire,
        "control": control,
    }
    control.close()
    endpoint.stop()
    receiver.stop()


def test_the_issue_8_acceptance_check(world):
    sdk, control = world["sdk"], world["control"]
    routing_url = world["endpoint"].url + "/route?tenant=harbor"
    router = sdk.call_routers.create({
        "name": "SDK history line", "routing_url": routing_url, "office_id": SF,
        "default_target_id": DEPARTMENTS[4]["id"], "default_target_type": "department", "secret": ROUTER_SECRET,
    })  # fmt: skip
    number = sdk.call_routers.assign_number(router["id"], {"area_code": "415"})["number"]
    hook = sdk.webhooks.create({"hook_url": world["receiver"].url + "/dialpad/events", "secret": HOOK_SECRET})
    assert hook["signature"] == {"type": "jwt", "algo": "HS256", "secret": HOOK_SECRET}
    sub = sdk.call_event_subscriptions.create(
        {
            "endpoint_id": hook["id"],
            "call_states": ["hangup"],
            "target_type": "callrouter",
            "target_id": router["id"],
        }
    )
    assert sub["webhook"]["id"] == hook["id"] and sub["call_states"] == ["hangup"]

    now = control.get("/sandbox/v1/clock").json()["now"]
    calls = [{"to": number, "from": CALLERS[i % 3], "at": now + (i + 1) * 60_000} for i in range(7)]
    placed = control.post("/sandbox/v1/calls:batch", json={"calls": calls}).json()
    assert [a["outcome"] for a in placed] == ["ok"] * 7

    listed = list(sdk.calls.list(target_id=router["id"], target_type="callrouter"))  # 3 pages of 3
    assert [c["call_id"] for c in listed] == [a["call_id"] for a in reversed(placed)]  # most recent first
    starts = [c["date_started"] for c in listed]
    assert starts == sorted(starts, reverse=True)
    sent = {r["call_id"]: r for r in world["endpoint_log"].records()}
    for call in listed:
        (crumb,) = call["routing_breadcrumbs"]
        logged = sent[call["call_id"]]
        assert crumb["url"] == routing_url
        assert crumb["request"] == logged["payload"]  # what the endpoint received (verified from the JWT)
        assert (crumb["target_id"], crumb["target_type"]) == (logged["decision"]["target_id"], "callcenter")
        assert (call["target"]["id"], call["target"]["type"]) == (str(crumb["target_id"]), "callcenter")
        assert call["entry_point_target"]["id"] == str(router["id"])

    world["events"].log.wait_for(7, timeout_s=30)  # delivery is asynchronous: wait on the receiver
    assert world["events"].refused == 0 and world["events"].duplicates == 0
    records = world["events"].log.records()
    assert sorted(r["call_id"] for r in records) == sorted(a["call_id"] for a in placed)
    assert {(r["state"], r["signed"], r["outcome"]) for r in records} == {("hangup", True, "ok")}
    with SandboxControl(world["sandbox"].url, world["sandbox"].api_key) as sandbox_control:
        deliveries = sandbox_control.deliveries(webhook_id=hook["id"])
    assert tuple(deliveries.columns) == DELIVERY_COLUMNS and len(deliveries) == 7
    assert set(deliveries["status"]) == {"delivered"} and set(deliveries["state"]) == {"hangup"}
    assert (deliveries["attempts"] == 1).all() and set(deliveries["http_status"]) == {200}
    assert all(a[0]["signed"] and a[0]["url"].endswith("/dialpad/events") for a in deliveries["attempt_log"])
    bodies = world["wire"].bodies  # the bytes on the wire: compact HS256 JWTs of the webhook's secret
    assert len(bodies) == 7 and all(ct == "application/jwt" for ct, _ in bodies)
    events = [verify(body, HOOK_SECRET) for _, body in bodies]
    assert sorted(e["call_id"] for e in events) == sorted(a["call_id"] for a in placed)
    assert {e["state"] for e in events} == {"hangup"}
    with pytest.raises(TokenError):
        verify(bodies[0][1], "not-the-webhook-secret-0123456789abc")


def test_calls_list_with_every_filter_and_calls_get(world):
    sdk, control = world["sdk"], world["control"]
    router = sdk.call_routers.create({
        "name": "Filters", "routing_url": world["endpoint"].url, "office_id": SF,
        "default_target_id": DEPARTMENTS[4]["id"], "default_target_type": "department", "secret": ROUTER_SECRET,
    })  # fmt: skip
    number = sdk.call_routers.assign_number(router["id"], {})["number"]
    now = control.get("/sandbox/v1/clock").json()["now"]
    placed = control.post(
        "/sandbox/v1/calls:batch",
        json={
            "calls": [{"to": number, "from": CALLERS[i % 3], "at": now + (i + 1) * 60_000} for i in range(6)]
        },
    ).json()
    ids = [a["call_id"] for a in placed]
    everything = list(sdk.calls.list())
    assert [c["call_id"] for c in everything] == ids[::-1]
    window = list(sdk.calls.list(started_after=placed[0]["at"], started_before=placed[4]["at"]))
    assert [c["call_id"] for c in window] == ids[3:0:-1]
    after_hours = list(
        sdk.calls.list(target_id=CALLCENTERS[4]["id"], target_type="callcenter")
    )  # the final target
    assert [c["call_id"] for c in after_hours] == [ids[3], ids[0]]
    both = list(
        sdk.calls.list(target_id=router["id"], target_type="callrouter", started_after=placed[2]["at"])
    )
    assert [c["call_id"] for c in both] == ids[:2:-1]
    assert sdk.calls.get(ids[2]) == everything[3]
    with pytest.raises(requests.HTTPError) as err:
        sdk.calls.get(7000000000999999)
    assert err.value.response.status_code == 404


def test_webhooks_and_call_event_subscriptions_through_the_sdk(world):
    sdk = world["sdk"]
    made = [
        sdk.webhooks.create({"hook_url": f"{world['receiver'].url}/h{i}", "secret": HOOK_SECRET})
        for i in range(4)
    ]
    assert [w["id"] for w in sdk.webhooks.list()] == [w["id"] for w in made]  # 2 pages of 3
    assert sdk.webhooks.get(made[0]["id"]) == made[0]
    changed = sdk.webhooks.partial_update(str(made[0]["id"]), {"hook_url": world["receiver"].url + "/v2"})
    assert changed["hook_url"].endswith("/v2") and sdk.webhooks.get(made[0]["id"]) == changed
    assert sdk.webhooks.delete(made[3]["id"])["id"] == made[3]["id"]

    router = sdk.call_routers.create({
        "name": "Subscribed", "routing_url": world["endpoint"].url, "office_id": SF,
        "default_target_id": DEPARTMENTS[4]["id"], "default_target_type": "department",
    })  # fmt: skip
    subs = [
        sdk.call_event_subscriptions.create({"endpoint_id": made[i]["id"], "call_states": ["calling", "hangup"],
                                             **({"target_type": "callrouter", "target_id": router["id"]} if i else {})})
        for i in range(3)
    ]  # fmt: skip
    assert [s["id"] for s in sdk.call_event_subscriptions.list()] == [s["id"] for s in subs]
    mine = sdk.call_event_subscriptions.list(target_type="callrouter", target_id=router["id"])
    assert [s["id"] for s in mine] == [subs[1]["id"], subs[2]["id"]]
    assert sdk.call_event_subscriptions.get(subs[1]["id"]) == subs[1]
    updated = sdk.call_event_subscriptions.partial_update(
        subs[1]["id"], {"call_states": ["all"], "enabled": False}
    )
    assert (updated["call_states"], updated["enabled"]) == (["all"], False)
    assert sdk.call_event_subscriptions.delete(subs[2]["id"])["id"] == subs[2]["id"]
    with pytest.raises(requests.HTTPError) as err:
        sdk.call_event_subscriptions.create({"endpoint_id": 5300000000000999, "call_states": ["hangup"]})
    assert err.value.response.status_code == 404
    assert "5300000000000999" in err.value.response.json()["error"]["message"]
