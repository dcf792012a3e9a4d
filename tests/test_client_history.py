"""The client's call history (``client.calls``), ``get_call``, webhooks and subscriptions, against a
canned Dialpad (httpx MockTransport): paging, filters, pacing, pages that break, the frame."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
import pandas as pd
import pytest

from dialpad_nb.api.client import DialpadClient
from dialpad_nb.api.history import CALL_HISTORY_DTYPES, CallSubscription, RequestPacer, Webhook
from dialpad_nb.core.clock import SimulatedClock
from dialpad_nb.core.errors import (
    IncompleteRead,
    NotFound,
    ServerError,
    TransportError,
    Unauthorized,
    ValidationError,
)

from .helpers_client import BASE, KEY
from .helpers_history import ROUTER, T0, routed_call

EVENTS_SPEC = json.loads(
    (__import__("pathlib").Path(__file__).parent / "data" / "openapi-calls-events.json").read_text()
)


class FakeHistory:
    """call.list over ``calls`` (newest first), ``size`` per page; ``fail`` maps a page number
    (1-based) to a list of responses to give before the real page."""

    def __init__(self, calls: list[dict], size: int = 3, fail: dict[int, list] | None = None) -> None:
        self.calls = sorted(calls, key=lambda c: -c["date_started"])
        self.size = size
        self.fail = fail or {}
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        if path.startswith("/api/v2/call/"):
            cid = int(path.rsplit("/", 1)[1])
            found = [c for c in self.calls if int(c["call_id"]) == cid]
            if not found:
                return httpx.Response(404, json={"error": {"code": 404, "message": f"no call with id {cid}"}})
            return httpx.Response(200, json=found[0])
        q = request.url.params
        position = int(q.get("cursor", "p0")[1:])
        page_no = position // self.size + 1
        queued = self.fail.get(page_no)
        if queued:
            answer = queued.pop(0)
            if isinstance(answer, Exception):
                raise answer
            return answer
        selected = [c for c in self.calls if self._match(c, q)]
        page = selected[position : position + self.size]
        body: dict = {"items": page}
        if position + self.size < len(selected):
            body["cursor"] = f"p{position + self.size}"
        return httpx.Response(200, json=body)

    @staticmethod
    def _match(call: dict, q) -> bool:
        if "started_after" in q and not call["date_started"] > int(q["started_after"]):
            return False
        if "started_before" in q and not call["date_started"] < int(q["started_before"]):
            return False
        return True


def client_for(handler, **kw) -> tuple[DialpadClient, list[float]]:
    sleeps: list[float] = []
    client = DialpadClient(
        base_url=BASE,
        api_key=KEY,
        transport=httpx.MockTransport(handler),
        clock=kw.pop("clock", SimulatedClock(T0 + 3_600_000)),
        sleep=sleeps.append,
        **kw,
    )
    return client, sleeps


def test_calls_pages_everything_into_one_typed_row_per_call():
    calls = [routed_call(i) for i in range(5)] + [
        routed_call(5, error="http_status"),
        routed_call(6, disabled=True),
    ]
    fake = FakeHistory(calls)
    client, _ = client_for(fake)
    frame = client.calls(ROUTER, progress=False)
    assert {c: str(d) for c, d in frame.dtypes.items()} == CALL_HISTORY_DTYPES
    assert list(frame["call_id"]) == [c["call_id"] for c in fake.calls] and frame.attrs["pages"] == 3
    assert [r.url.params["target_type"] for r in fake.requests] == ["callrouter"] * 3
    assert [r.url.params.get("cursor") for r in fake.requests] == [None, "p3", "p6"]
    newest, error, ok = frame.iloc[0], frame.iloc[1], frame.iloc[2]
    assert (newest["requested"], newest["breadcrumbs"], newest["target_name"]) == (False, 0, "Support Tier 1")
    assert (error["response_error"], error["response_status"], error["latency_ms"]) == (
        "http_status",
        503,
        12.0,
    )
    assert (error["routed_target_id"], error["routed_target_type"]) == (5001000000000105, "department")
    assert (ok["router_id"], ok["router_name"], ok["routing_url"]) == (
        ROUTER,
        "Front desk",
        "https://ops.example/route",
    )
    assert pd.isna(ok["response_error"]) and pd.isna(ok["latency_ms"])
    assert ok["date_started"] == pd.Timestamp(T0 + 4 * 60_000, unit="ms", tz="UTC")
    assert json.loads(ok["raw"]) == fake.calls[2]  # the record as Dialpad sent it
    assert frame.attrs["source"] == "call.list" and frame.attrs["router_id"] == ROUTER


def test_since_is_inclusive_until_exclusive_and_a_timedelta_counts_back_from_the_clock():
    fake = FakeHistory([routed_call(i) for i in range(10)])
    client, _ = client_for(fake, clock=SimulatedClock(T0 + 9 * 60_000))
    frame = client.calls(ROUTER, since=datetime.fromtimestamp((T0 + 2 * 60_000) / 1000, UTC), until=T0 + 5 * 60_000,
                         progress=False)  # fmt: skip
    assert list(frame["call_id"] - 7_000_000_000_000_000) == [4, 3, 2]
    assert fake.requests[0].url.params["started_after"] == str(T0 + 2 * 60_000 - 1)
    recent = client.calls(ROUTER, since=timedelta(minutes=2), progress=False)
    assert list(recent["call_id"] - 7_000_000_000_000_000) == [9, 8, 7]
    with pytest.raises(ValidationError, match="since"):
        client.calls(ROUTER, since=T0 + 1, until=T0, progress=False)


def test_router_by_name_or_object_and_target_filters():
    seen: list[dict] = []

    def handler(request):
        seen.append(dict(request.url.params))
        if request.url.path == "/api/v2/callrouters":
            return httpx.Response(200, json={"items": [{"id": str(ROUTER), "name": "Front desk", "routing_url": "https://x.example",
                "office_id": "1", "default_target_id": "2", "default_target_type": "department"}]})  # fmt: skip
        return FakeHistory([])(request)

    client, _ = client_for(handler)
    assert client.calls("front DESK", progress=False).attrs["router_name"] == "Front desk"
    assert client.calls(target=(5002000000000202, "callcenter"), progress=False).attrs["target"] == (
        5002000000000202,
        "callcenter",
    )
    assert seen == [{}, {"target_id": str(ROUTER), "target_type": "callrouter"},
                    {"target_id": "5002000000000202", "target_type": "callcenter"}]  # fmt: skip
    with pytest.raises(ValidationError, match="no call router named 'Back desk'.*'Front desk'"):
        client.calls("Back desk", progress=False)
    with pytest.raises(ValidationError, match="router or target"):
        client.calls(ROUTER, target=(1, "user"), progress=False)
    with pytest.raises(ValidationError, match="target_type"):
        client.calls(target=(1, "spaceship"), progress=False)


def test_a_page_that_breaks_is_asked_again_and_the_read_completes():
    fake = FakeHistory(
        [routed_call(i) for i in range(7)],
        fail={
            2: [
                httpx.Response(500, json={"error": {"code": 500, "message": "boom"}}),
                httpx.Response(200, text="{trunc"),
            ]
        },
    )
    client, sleeps = client_for(fake)
    frame = client.calls(ROUTER, progress=False)
    assert len(frame) == 7 and frame["call_id"].is_unique
    assert sleeps == [0.5, 1.0]  # two page retries, backed off


def test_a_page_that_keeps_breaking_raises_incomplete_read_keeping_what_was_read():
    request = httpx.Request("GET", BASE)
    fake = FakeHistory(
        [routed_call(i) for i in range(7)], fail={2: [httpx.ReadTimeout("slow", request=request)] * 12}
    )
    client, _ = client_for(fake, max_retries=1)
    with pytest.raises(IncompleteRead) as info:
        client.calls(ROUTER, progress=False, page_retries=2)
    exc = info.value
    assert (exc.pages, exc.records, exc.cursor) == (1, 3, "p3")
    assert "after 1 page(s), 3 call(s)" in str(exc) and "page 2" in str(exc) and "tried 3 times" in str(exc)
    assert isinstance(exc.cause, TransportError) and exc.__cause__ is exc.cause
    assert list(exc.partial["call_id"]) == [c["call_id"] for c in fake.calls[:3]]
    assert exc.partial.attrs["incomplete"] is True
    fake.fail.clear()
    rest = client.calls(ROUTER, cursor=exc.cursor, progress=False)  # resume from the failed page
    assert list(pd.concat([exc.partial, rest])["call_id"]) == [c["call_id"] for c in fake.calls]


def test_a_refusal_mid_way_is_incomplete_and_a_refusal_at_once_is_the_error_itself():
    fake = FakeHistory(
        [routed_call(i) for i in range(7)],
        fail={3: [httpx.Response(401, json={"error": {"code": 401, "message": "key revoked"}})]},
    )
    client, sleeps = client_for(fake)
    with pytest.raises(IncompleteRead) as info:
        client.calls(ROUTER, progress=False)
    assert isinstance(info.value.cause, Unauthorized) and info.value.records == 6 and sleeps == []
    first = FakeHistory(
        [routed_call(1)], fail={1: [httpx.Response(401, json={"error": {"code": 401, "message": "bad key"}})]}
    )
    client, _ = client_for(first)
    with pytest.raises(Unauthorized, match="bad key"):
        client.calls(ROUTER, progress=False)
    broken = FakeHistory([routed_call(1)], fail={1: [httpx.Response(503)] * 20})
    client, _ = client_for(broken, max_retries=0)
    with pytest.raises(ServerError):
        client.calls(ROUTER, progress=False, page_retries=1)


def test_malformed_records_are_kept_raw_not_dropped():
    weird = [
        routed_call(2),
        {"call_id": "x", "routing_breadcrumbs": "no"},
        ["not", "a", "call"],
        routed_call(1, ids_as_text=True),
    ]

    def handler(request):
        return httpx.Response(200, json={"items": weird})

    client, _ = client_for(handler)
    frame = client.calls(progress=False)
    assert len(frame) == 4 and frame["call_id"].isna().tolist() == [False, True, True, False]
    assert json.loads(frame["raw"].iloc[2]) == ["not", "a", "call"]
    assert frame["call_id"].iloc[3] == 7_000_000_000_000_001  # ids sent as text are read too


def test_the_pacer_keeps_to_the_limit_in_any_sliding_minute():
    now = [0.0]
    waits: list[float] = []

    def sleep(s):
        waits.append(s)
        now[0] += s

    pacer = RequestPacer(3, timer=lambda: now[0], sleep=sleep)
    for t in (0.0, 1.0, 2.0, 3.0, 3.5, 200.0):
        now[0] = max(now[0], t)
        pacer.wait()
    # the 4th waits until the 1st is a minute old (t=60), the 5th until the 2nd is (t=61);
    # the 6th, long after, does not wait
    assert waits == [57.0, 1.0] and pacer.waited_s == 58.0


def test_call_list_requests_go_through_the_pacer():
    fake = FakeHistory([routed_call(i) for i in range(9)], size=1)
    client, sleeps = client_for(fake)
    client._pacer("call.list").per_minute = 4  # the real limit is 1200/min; 4 makes it bite at once
    client.calls(ROUTER, progress=False)
    assert len(fake.requests) == 9 and len(sleeps) >= 1 and all(s > 0 for s in sleeps)


def test_get_call_returns_the_record_and_404_names_it():
    fake = FakeHistory([routed_call(3)])
    client, _ = client_for(fake)
    assert client.get_call(7_000_000_000_000_003) == fake.calls[0]
    with pytest.raises(NotFound, match="no call with id 7000000000000009"):
        client.get_call(7_000_000_000_000_009)


def test_webhook_and_subscription_methods_send_dialpads_shapes():
    from openapi_schema_validator import OAS30Validator

    sent: list[tuple[str, str, dict | None]] = []
    hook = {
        "id": "5300000000000001",
        "hook_url": "https://ops.example/events",
        "signature": {"type": "jwt", "algo": "HS256", "secret": "s" * 40},
    }
    sub = {"id": "5400000000000001", "call_states": ["hangup"], "enabled": True, "group_calls_only": False,
           "target_id": str(ROUTER), "target_type": "callrouter", "webhook": hook}  # fmt: skip

    def handler(request):
        body = json.loads(request.content) if request.content else None
        sent.append((request.method, request.url.path, body))
        if "subscriptions" in request.url.path:
            return httpx.Response(
                200,
                json={"items": [sub]}
                if request.method == "GET" and request.url.path.endswith("call")
                else sub,
            )
        return httpx.Response(
            200,
            json={"items": [hook]}
            if request.method == "GET" and request.url.path.endswith("webhooks")
            else hook,
        )

    client, _ = client_for(handler)
    made = client.create_webhook("https://ops.example/events", secret="s" * 40)
    assert made == Webhook(5300000000000001, "https://ops.example/events") and made.signed
    assert "s" * 40 not in repr(made) and repr(made).endswith("secret='***')")
    assert client.list_webhooks() == [made] and client.get_webhook(made) == made
    client.update_webhook(made, secret="")
    client.delete_webhook(made.id)
    s = client.create_call_subscription(made, call_states=["hangup"], router=ROUTER)
    assert s == CallSubscription(5400000000000001, ("hangup",), made, True, False, ROUTER, "callrouter")
    assert client.list_call_subscriptions(ROUTER) == [s] and client.get_call_subscription(s.id) == s
    client.update_call_subscription(s, call_states=["all"], enabled=False)
    client.delete_call_subscription(s)
    bodies = {(m, p.rsplit("/", 1)[0] if p[-1].isdigit() else p): b for m, p, b in sent if b is not None}
    schemas = EVENTS_SPEC["components"]["schemas"]
    for (method, path), body in bodies.items():
        name = {"webhooks": "webhook.CreateWebhook" if method == "POST" else "webhook.UpdateWebhook",
                "call": "call_event_subscription.CreateCallEventSubscription" if method == "POST"
                else "call_event_subscription.UpdateCallEventSubscription"}[path.rsplit("/", 1)[1]]  # fmt: skip
        OAS30Validator({**schemas[f"schemas.{name}"], "components": EVENTS_SPEC["components"]}).validate(body)
    assert bodies[("POST", "/api/v2/subscriptions/call")] == {
        "endpoint_id": 5300000000000001, "call_states": ["hangup"], "target_id": ROUTER, "target_type": "callrouter",
        "enabled": True, "group_calls_only": False,
    }  # fmt: skip
    assert bodies[("PATCH", "/api/v2/webhooks")] == {"secret": ""}
    assert [p for m, p, _ in sent if m == "GET" and "subscriptions" in p] and sent[-1][0] == "DELETE"


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda c: c.create_webhook("ftp://x"), "hook_url"),
        (lambda c: c.create_webhook("https://x.example", secret="a\nb"), "secret"),
        (lambda c: c.update_webhook(1), "changes"),
        (lambda c: c.create_call_subscription(1, call_states=["hung_up"]), "call_states"),
        (lambda c: c.create_call_subscription(1, call_states=[]), "call_states"),
        (lambda c: c.create_call_subscription(1, enabled="yes"), "enabled"),
        (lambda c: c.update_call_subscription(1), "changes"),
        (lambda c: c.get_call("seven"), "call_id"),
    ],
)
def test_bad_input_is_refused_before_anything_is_sent(call, field):
    def handler(request):  # pragma: no cover - must not be reached
        raise AssertionError("sent")

    client, _ = client_for(handler)
    with pytest.raises(ValidationError) as info:
        call(client)
    assert info.value.field == field


def test_ids_taken_from_a_frame_are_accepted():
    fake = FakeHistory([routed_call(3)])
    client, _ = client_for(fake)
    frame = client.calls(ROUTER, progress=False)
    assert client.get_call(frame["call_id"].iloc[0])["call_id"] == 7_000_000_000_000_003  # a numpy int64
    assert client.calls(frame["router_id"].iloc[0], progress=False).attrs["router_id"] == ROUTER


def test_the_history_demo_is_sandbox_only_and_creates_nothing_on_an_account():
    from dialpad_nb.core.errors import SandboxOnly
    from dialpad_nb.samples import make_call_history

    def handler(request):  # only the question "is the control API there?" (an account: 404)
        if request.method == "GET" and request.url.path == "/sandbox/v1/clock":
            return httpx.Response(404, json={"error": {"code": 404, "message": "not found"}})
        raise AssertionError(f"sent {request.method} {request.url}")  # pragma: no cover

    client, _ = client_for(handler)
    with pytest.raises(SandboxOnly, match="only on a sandbox"):
        make_call_history(client, rules=lambda request: None)
