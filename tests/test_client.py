"""DialpadClient over httpx.MockTransport: every method's success and failure paths, retries,
the PATCH guard, validation before sending, and that neither httpx errors nor the API key leak."""

from __future__ import annotations

import logging
from email.utils import format_datetime

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dialpad_nb.api.client import DialpadClient
from dialpad_nb.core.clock import SimulatedClock, ms_to_datetime
from dialpad_nb.core.directory import Directory
from dialpad_nb.core.errors import (
    APIError,
    BadRequest,
    DialpadError,
    DialpadTimeout,
    MalformedResponse,
    NotFound,
    PatchGuardError,
    RateLimited,
    ServerError,
    TransportError,
    Unauthorized,
    ValidationError,
)
from dialpad_nb.core.models import CallRouter, DirectoryEntry
from dialpad_nb.core.policy import DIALPAD
from tests.helpers_client import (
    BASE,
    KEY,
    ROUTERS,
    SEA,
    SECRET,
    SF,
    TIER1,
    Recorder,
    Script,
    error,
    fake_dialpad,
    make_client,
)

CREATE = dict(
    name="Support",
    routing_url="https://ops.example/route",
    office_id=SF,
    default_target_id=TIER1["id"],
    default_target_type="callcenter",
)


def ok_router(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json=ROUTERS["7001"])


def wrong_key(request: httpx.Request) -> httpx.Response:
    return error(401, "invalid API key")


def html_gateway_error(request: httpx.Request) -> httpx.Response:
    return httpx.Response(502, text="<html><body>Bad Gateway</body></html>")


def refuse(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("[Errno 111] Connection refused", request=request)


# --------------------------------------------------------------------------- routers


def test_list_routers_follows_the_cursor_and_accepts_string_ids():
    rec = Recorder()
    client, _ = make_client(rec)
    routers = client.list_routers()
    assert [r.id for r in routers] == [7001, 7002]
    assert all(isinstance(r, CallRouter) for r in routers)
    assert [r.url.params.get("cursor") for r in rec.requests] == [None, "page2"]


def test_list_routers_filters_by_office():
    rec = Recorder()
    client, _ = make_client(rec)
    assert [r.name for r in client.list_routers(office_id=str(SEA))] == ["Returns line"]
    assert rec.requests[0].url.params["office_id"] == str(SEA)


def test_iter_routers_is_lazy():
    rec = Recorder()
    client, _ = make_client(rec)
    first = next(client.iter_routers())
    assert first.id == 7001 and len(rec.requests) == 1


@pytest.mark.parametrize("router_id", [7001, "7001", " 7001 "])
def test_get_router_accepts_int_or_str_ids(router_id):
    client, _ = make_client()
    router = client.get_router(router_id)
    assert router.id == 7001 and router.default_target_type == "callcenter" and router.has_secret


def test_get_unknown_router_is_not_found_with_dialpad_message_and_request():
    client, _ = make_client()
    with pytest.raises(NotFound) as info:
        client.get_router(999)
    err = info.value
    assert err.status == 404 and err.message == "call router 999 not found"
    assert err.method == "GET" and err.url == f"{BASE}/api/v2/callrouters/999"
    assert "call router 999 not found" in str(err)


@pytest.mark.parametrize("bad", [0, -3, "abc", None, True, 2**63])
def test_bad_router_id_is_refused_before_sending(bad):
    rec = Recorder()
    client, _ = make_client(rec)
    with pytest.raises(ValidationError) as info:
        client.get_router(bad)
    assert info.value.field == "router_id" and rec.requests == []


def test_create_router_sends_ints_and_returns_the_router():
    rec = Recorder()
    client, _ = make_client(rec)
    router = client.create_router(**CREATE, secret=SECRET)
    body = httpx.Response(200, content=rec.requests[0].content).json()
    assert body == {**CREATE, "secret": SECRET, "enabled": True}
    assert router.id == 7003 and router.has_secret and router.enabled


def test_create_router_by_target_name_takes_the_office_from_the_directory():
    rec = Recorder()
    client, _ = make_client(rec)
    router = client.create_router(
        name="Support", routing_url="https://ops.example/r", default_target="support tier 1"
    )
    assert (router.default_target_id, router.default_target_type, router.office_id) == (
        TIER1["id"],
        "callcenter",
        SF,
    )


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "two\nlines"}, "name"),
        ({"routing_url": "ftp://x"}, "routing_url"),
        ({"routing_url": "not a url"}, "routing_url"),
        ({"office_id": "SF"}, "office_id"),
        ({"office_id": None}, "office_id"),
        ({"default_target_id": None}, "default_target_id"),
        ({"default_target_type": "team"}, "default_target_type"),
        ({"default_target_type": None}, "default_target_type"),
        ({"secret": "short"}, "secret"),
        ({"enabled": "yes"}, "enabled"),
        ({"default_target": "Nobody Here"}, "default_target"),
    ],
)
def test_create_router_validates_each_field_before_sending(change, field):
    rec = Recorder()
    client, _ = make_client(rec)
    with pytest.raises(ValidationError) as info:
        client.create_router(**{**CREATE, **change})
    assert info.value.field == field
    assert [r for r in rec.requests if r.method == "POST"] == []


def test_secret_validation_message_never_repeats_the_secret():
    client, _ = make_client()
    with pytest.raises(ValidationError) as info:
        client.create_router(**CREATE, secret="tiny-secret-value")
    assert "tiny-secret-value" not in str(info.value)


def test_create_router_answered_400_is_bad_request_with_the_message():
    client, _ = make_client(Script(error(400, "routing_url must be https")))
    with pytest.raises(BadRequest, match="routing_url must be https"):
        client.create_router(**CREATE)


def test_update_router_sends_only_the_fields_given():
    rec = Recorder()
    client, _ = make_client(rec)
    router = client.update_router(
        "7001", routing_url="https://ops.example/v2", enabled=True, reset_error_count=True
    )
    body = httpx.Response(200, content=rec.requests[0].content).json()
    assert body == {"routing_url": "https://ops.example/v2", "enabled": True, "reset_error_count": True}
    assert rec.requests[0].method == "PATCH" and router.routing_url == "https://ops.example/v2"


def test_update_router_by_target_name():
    rec = Recorder()
    client, _ = make_client(rec)
    client.update_router(7001, default_target="Returns")
    body = httpx.Response(200, content=rec.requests[-1].content).json()
    assert body == {"default_target_id": 5_001_000_000_000_104, "default_target_type": "department"}


def test_update_router_with_nothing_to_change_is_refused():
    rec = Recorder()
    client, _ = make_client(rec)
    with pytest.raises(ValidationError) as info:
        client.update_router(7001)
    assert info.value.field == "changes" and rec.requests == []


def test_update_router_validates_fields():
    client, _ = make_client()
    with pytest.raises(ValidationError) as info:
        client.update_router(7001, default_target_type="robot")
    assert info.value.field == "default_target_type"
    with pytest.raises(ValidationError) as info:
        client.update_router(7001, secret="x" * 31)
    assert info.value.field == "secret"


def test_update_unknown_router_is_not_found_and_does_not_arm_the_guard():
    client, _ = make_client()
    with pytest.raises(NotFound):
        client.update_router(4242, name="x")
    assert client.next_update_allowed(4242) is None


def test_enable_and_disable_send_enabled():
    rec = Recorder()
    client, _ = make_client(rec)
    client.disable_router(7001)
    client.enable_router(7002, reset_error_count=True)
    bodies = [httpx.Response(200, content=r.content).json() for r in rec.requests]
    assert bodies == [{"enabled": False}, {"enabled": True, "reset_error_count": True}]


def test_delete_router_and_unknown_router():
    rec = Recorder()
    client, _ = make_client(rec)
    assert client.delete_router("7001") is None
    assert rec.requests[0].method == "DELETE" and rec.requests[0].url.path == "/api/v2/callrouters/7001"
    with pytest.raises(NotFound):
        client.delete_router(31337)


def test_assign_number_by_area_code_and_by_number():
    rec = Recorder()
    client, _ = make_client(rec)
    number = client.assign_number(7001, area_code=628)
    assert number.number == "+16285550177" and number.target_id == 7001 and number.status == "call_router"
    client.assign_number("7001", number="(415) 555-0188", primary=False)
    bodies = [httpx.Response(200, content=r.content).json() for r in rec.requests]
    assert bodies == [{"area_code": "628", "primary": True}, {"number": "+14155550188", "primary": False}]


@pytest.mark.parametrize(
    ("kw", "field"), [({"area_code": "41a"}, "area_code"), ({"number": "555"}, "number")]
)
def test_assign_number_validates(kw, field):
    rec = Recorder()
    client, _ = make_client(rec)
    with pytest.raises(ValidationError) as info:
        client.assign_number(7001, **kw)
    assert info.value.field == field and rec.requests == []


def test_assign_number_to_unknown_router():
    client, _ = make_client()
    with pytest.raises(NotFound, match="call router 5 not found"):
        client.assign_number(5, area_code="415")


# --------------------------------------------------------------------------- numbers & directory


def test_list_numbers_all_pages_and_by_status():
    rec = Recorder()
    client, _ = make_client(rec)
    assert [n.number for n in client.list_numbers()] == ["+14155550123", "+14155550199"]
    assert [n.number for n in client.list_numbers(status="available")] == ["+14155550199"]
    assert rec.requests[-1].url.params["status"] == "available"
    with pytest.raises(ValidationError) as info:
        client.list_numbers(status="free")
    assert info.value.field == "status"


def test_get_and_unassign_number():
    client, _ = make_client()
    number = client.get_number("+1 415 555 0123")
    assert number.target_id == 7001 and number.target_type == "callrouter"
    released = client.unassign_number("+14155550123")
    assert released.status == "available" and released.target_id is None
    with pytest.raises(NotFound):
        client.get_number("+14155550000")
    with pytest.raises(ValidationError) as info:
        client.unassign_number("call me")
    assert info.value.field == "number"


def test_offices():
    client, _ = make_client()
    assert [o.id for o in client.list_offices()] == [SF, SEA]
    assert client.get_office(str(SEA)).admin_email == "seattle-admin@harborpine.example"
    with pytest.raises(NotFound):
        client.get_office(12345)


def test_users_departments_callcenters_with_office_filter():
    rec = Recorder()
    client, _ = make_client(rec)
    assert len(client.list_users()) == 12
    assert {u.office_id for u in client.list_users(office_id=SEA)} == {SEA}
    assert "office_id" not in rec.requests[-1].url.params  # Dialpad's user list has no office filter
    assert [d.name for d in client.list_departments(SEA)] == ["Returns"]
    assert [c.name for c in client.list_callcenters(SEA)] == ["After Hours", "Spanish Line"]
    assert client.list_users()[0].email == "ada.okafor@harborpine.example"


def test_targets_directory_with_names_and_frame():
    rec = Recorder()
    client, _ = make_client(rec)
    directory = client.targets()
    assert isinstance(directory, Directory) and len(directory) == 2 + 5 + 6 + 12
    frame = directory.to_frame()
    assert list(frame.columns) == ["type", "name", "id", "office_id", "email"]
    assert frame.loc[frame.name == "Support Tier 1", "id"].item() == TIER1["id"]
    assert "Support Tier 1" in directory._repr_html_()
    calls = len(rec.requests)
    client.targets()
    assert len(rec.requests) == calls  # cached
    client.targets(refresh=True)
    assert len(rec.requests) > calls


def test_resolve_target_by_name_id_and_errors():
    client, _ = make_client()
    assert client.resolve_target("Support Tier 1").id == TIER1["id"]
    assert client.resolve_target(str(TIER1["id"])).name == "Support Tier 1"
    assert client.resolve_target(TIER1["id"], "callcenter").type == "callcenter"
    assert client.targets().name_of(TIER1["id"], "callcenter") == "Support Tier 1 (callcenter)"
    assert client.targets().name_of(1, "user") == "user 1 (not in directory)"
    with pytest.raises(ValidationError, match="did you mean 'Support Tier 1'"):
        client.resolve_target("Suport Tier 1")
    with pytest.raises(ValidationError, match="no callcenter with id 1"):
        client.resolve_target(1, "callcenter")
    with pytest.raises(ValidationError) as info:
        client.resolve_target("Sales", "robot")
    assert info.value.field == "default_target_type"


def test_ambiguous_target_name_asks_for_the_type():
    directory = Directory(
        (DirectoryEntry(1, "department", "Sales"), DirectoryEntry(2, "callcenter", "Sales"))
    )
    with pytest.raises(ValidationError, match="ambiguous"):
        directory.resolve("sales")
    assert directory.resolve("sales", "callcenter").id == 2


# --------------------------------------------------------------------------- PATCH guard


def test_second_update_inside_the_window_is_refused_locally_then_allowed_after_it():
    rec = Recorder()
    clock = SimulatedClock("2026-01-05T09:00:00Z")
    client, _ = make_client(rec, clock=clock)
    client.update_router(7001, name="A")
    clock.advance(DIALPAD.patch_interval_s - 1)
    with pytest.raises(PatchGuardError) as info:
        client.update_router(7001, name="B")
    err = info.value
    assert err.router_id == 7001 and err.next_allowed == ms_to_datetime(clock.now_ms() + 1000)
    assert "09:05:00 UTC" in str(err) and "override_patch_guard=True" in str(err) and "in 1 s" in str(err)
    assert "Lockout trap" not in str(err)
    assert len(rec.requests) == 1  # nothing sent
    client.update_router(7002, name="other routers are not affected")
    clock.advance(1)
    client.update_router(7001, name="B")
    assert len(rec.requests) == 3


def test_override_sends_anyway():
    rec = Recorder()
    client, _ = make_client(rec)
    client.update_router(7001, name="A")
    client.update_router(7001, name="B", override_patch_guard=True)
    assert len(rec.requests) == 2


def test_reenable_after_url_change_names_the_lockout_trap():
    client, _ = make_client()
    client.update_router(7001, routing_url="https://ops.example/fixed")
    with pytest.raises(PatchGuardError, match="combine the URL change and the re-enable in one update"):
        client.enable_router(7001)


def test_guard_learns_from_a_429_retry_after():
    clock = SimulatedClock("2026-01-05T09:00:00Z")
    script = Script(error(429, "rate limit exceeded", {"Retry-After": "120"}))
    client, sleeps = make_client(script, clock=clock)
    with pytest.raises(RateLimited) as info:
        client.update_router(7001, enabled=True)
    assert info.value.retry_after_s == 120 and sleeps == [] and len(script.requests) == 1
    with pytest.raises(PatchGuardError, match="09:02:00 UTC"):
        client.update_router(7001, enabled=True)


def test_delete_forgets_the_guard():
    client, _ = make_client()
    client.update_router(7001, name="A")
    assert client.next_update_allowed(7001) is not None
    client.delete_router(7001)
    assert client.next_update_allowed(7001) is None


# --------------------------------------------------------------------------- retries


def test_get_retries_on_503_with_exponential_backoff():
    script = Script(error(503, "busy"), error(503, "busy"), httpx.Response(200, json=ROUTERS["7001"]))
    client, sleeps = make_client(script, backoff_s=0.5)
    assert client.get_router(7001).id == 7001
    assert sleeps == [0.5, 1.0] and len(script.requests) == 3


def test_get_honours_retry_after_seconds_and_http_date():
    clock = SimulatedClock("2026-01-05T09:00:00Z")
    when = format_datetime(ms_to_datetime(clock.now_ms() + 7000), usegmt=True)
    script = Script(
        error(429, "slow down", {"Retry-After": "3"}),
        error(429, "slow down", {"Retry-After": when}),
        httpx.Response(200, json=ROUTERS["7001"]),
    )
    client, sleeps = make_client(script, clock=clock, backoff_s=0.1)
    client.get_router(7001)
    assert sleeps == [3.0, 7.0]


def test_retry_after_longer_than_the_cap_is_not_waited_for():
    script = Script(error(429, "come back in an hour", {"Retry-After": "3600"}))
    client, sleeps = make_client(script)
    with pytest.raises(RateLimited) as info:
        client.get_router(7001)
    assert info.value.retry_after_s == 3600 and sleeps == []


def test_retries_are_bounded():
    script = Script(*[error(502, "bad gateway")] * 3)
    client, sleeps = make_client(script, max_retries=2)
    with pytest.raises(ServerError, match="bad gateway"):
        client.list_routers()
    assert len(script.requests) == 3 and len(sleeps) == 2


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.create_router(**CREATE),
        lambda c: c.update_router(7001, name="x"),
        lambda c: c.assign_number(7001, area_code="415"),
    ],
    ids=["create", "update", "assign_number"],
)
def test_post_and_patch_are_never_retried(call):
    script = Script(error(503, "busy"), httpx.Response(200, json=ROUTERS["7001"]))
    client, sleeps = make_client(script)
    with pytest.raises(ServerError):
        call(client)
    assert len(script.requests) == 1 and sleeps == []


def test_delete_is_retried_on_429_and_connection_failure_but_not_on_503():
    request = httpx.Request("DELETE", BASE)
    script = Script(
        error(429, "slow", {"Retry-After": "1"}),
        httpx.ConnectError("refused", request=request),
        httpx.Response(200),
    )
    client, sleeps = make_client(script)
    client.delete_router(7001)
    assert len(script.requests) == 3 and sleeps == [1.0, 1.0]
    script = Script(error(503, "busy"), httpx.Response(200))
    client, _ = make_client(script)
    with pytest.raises(ServerError):
        client.delete_router(7001)
    assert len(script.requests) == 1


def test_get_retries_transport_errors_then_reports_them_readably():
    client, sleeps = make_client(refuse, max_retries=2)
    with pytest.raises(TransportError) as info:
        client.list_offices()
    assert str(info.value).startswith(
        f"cannot reach the Dialpad API (or sandbox) at {BASE}: connection refused"
    )
    assert info.value.url == f"{BASE}/api/v2/offices" and len(sleeps) == 2


def test_timeout_is_dialpad_timeout():
    request = httpx.Request("GET", BASE)
    script = Script(*[httpx.ReadTimeout("timed out", request=request)] * 2)
    client, _ = make_client(script, max_retries=1)
    with pytest.raises(DialpadTimeout, match="timeout"):
        client.get_router(7001)


def test_wrong_key_is_unauthorized():
    client, _ = make_client(wrong_key)
    with pytest.raises(Unauthorized, match="invalid API key") as info:
        client.list_routers()
    assert info.value.status == 401


def test_non_json_error_body_gives_the_reason_phrase():
    client, _ = make_client(html_gateway_error, max_retries=0)
    with pytest.raises(ServerError) as info:
        client.get_router(7001)
    assert info.value.message == "Bad Gateway" and "<html>" not in str(info.value)


def test_unexpected_answer_shape_is_an_api_error():
    client, _ = make_client(Script(httpx.Response(200, json={"name": "no id"})))
    with pytest.raises(MalformedResponse, match=r"unexpected answer \(id\)") as info:
        client.get_router(7001)
    assert isinstance(info.value, APIError) and info.value.field == "id"


# --------------------------------------------------------------------------- nothing leaks

HTTPX_ERRORS = [
    httpx.ConnectError("refused"),
    httpx.ConnectTimeout("slow"),
    httpx.ReadTimeout("slow"),
    httpx.RemoteProtocolError("garbage"),
    httpx.ReadError("reset"),
    httpx.WriteError("broken pipe"),
    httpx.PoolTimeout("pool"),
    httpx.ProxyError("proxy"),
    httpx.UnsupportedProtocol("gopher"),
    httpx.DecodingError("bad gzip"),
    httpx.TooManyRedirects("loop"),
    httpx.StreamConsumed(),
    httpx.InvalidURL("bad"),
]
PUBLIC_CALLS = {
    "list_routers": lambda c: c.list_routers(),
    "iter_routers": lambda c: list(c.iter_routers()),
    "get_router": lambda c: c.get_router(7001),
    "create_router": lambda c: c.create_router(**CREATE),
    "update_router": lambda c: c.update_router(7001, name="x"),
    "enable_router": lambda c: c.enable_router(7001),
    "disable_router": lambda c: c.disable_router(7001),
    "delete_router": lambda c: c.delete_router(7001),
    "assign_number": lambda c: c.assign_number(7001, area_code="415"),
    "list_numbers": lambda c: c.list_numbers(),
    "iter_numbers": lambda c: list(c.iter_numbers()),
    "get_number": lambda c: c.get_number("+14155550123"),
    "unassign_number": lambda c: c.unassign_number("+14155550123"),
    "list_offices": lambda c: c.list_offices(),
    "get_office": lambda c: c.get_office(SF),
    "list_users": lambda c: c.list_users(),
    "list_departments": lambda c: c.list_departments(),
    "list_callcenters": lambda c: c.list_callcenters(),
    "targets": lambda c: c.targets(),
    "resolve_target": lambda c: c.resolve_target("Sales"),
    "describe_router": lambda c: c.describe_router(7001),
    "fleet": lambda c: c.fleet(),
    "find_router": lambda c: c.find_router("Support"),
    # call history, webhooks, call-event subscriptions (api/history.py)
    "calls": lambda c: c.calls(7001, progress=False, page_retries=0),
    "get_call": lambda c: c.get_call(7000000000000001),
    "create_webhook": lambda c: c.create_webhook("https://ops.example/events", secret=SECRET),
    "list_webhooks": lambda c: c.list_webhooks(),
    "get_webhook": lambda c: c.get_webhook(5300000000000001),
    "update_webhook": lambda c: c.update_webhook(5300000000000001, hook_url="https://ops.example/v2"),
    "delete_webhook": lambda c: c.delete_webhook(5300000000000001),
    "create_call_subscription": lambda c: c.create_call_subscription(5300000000000001, router=7001),
    "list_call_subscriptions": lambda c: c.list_call_subscriptions(7001),
    "get_call_subscription": lambda c: c.get_call_subscription(5400000000000001),
    "update_call_subscription": lambda c: c.update_call_subscription(5400000000000001, enabled=False),
    "delete_call_subscription": lambda c: c.delete_call_subscription(5400000000000001),
}


def test_every_public_method_is_covered_by_the_leak_test():
    public = {
        name
        for name in dir(DialpadClient)
        if not name.startswith("_") and callable(getattr(DialpadClient, name))
    }
    # wait_for_update sends nothing unless this client updated the router (tests/test_capabilities.py)
    assert public - set(PUBLIC_CALLS) == {"attach_sandbox", "close", "next_update_allowed", "wait_for_update"}


@pytest.mark.parametrize("exc", HTTPX_ERRORS, ids=lambda e: type(e).__name__)
@pytest.mark.parametrize("name", sorted(PUBLIC_CALLS))
def test_no_httpx_exception_leaks_from_any_public_method(name, exc):
    script = Script(*[exc] * 4)
    client, _ = make_client(script)
    with pytest.raises(DialpadError) as info:
        PUBLIC_CALLS[name](client)
    assert isinstance(info.value, TransportError)
    assert not isinstance(info.value, httpx.HTTPError)
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_the_api_key_never_shows(caplog):
    caplog.set_level(logging.DEBUG)
    client, _ = make_client(Script(error(404, "nope"), error(429, "slow", {"Retry-After": "999"})))
    texts = [repr(client), str(client), repr(vars(client))]
    for call in (lambda: client.get_router(1), lambda: client.list_routers()):
        with pytest.raises(APIError) as info:
            call()
        texts += [str(info.value), repr(info.value), repr(vars(info.value))]
    texts += [r.getMessage() for r in caplog.records]
    assert caplog.records  # requests are logged ...
    assert not [t for t in texts if KEY in t]  # ... but never with the key


def test_the_key_travels_only_in_the_authorization_header():
    rec = Recorder()
    client, _ = make_client(rec)
    client.list_offices()
    request = rec.requests[0]
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert KEY not in str(request.url)


def test_router_repr_html_and_dict_redact_the_secret():
    client, _ = make_client()
    router = client.get_router(7001)
    assert router.secret == SECRET
    for text in (
        repr(router),
        str(router),
        router._repr_html_(),
        repr(router.to_dict()),
        repr(router.signature),
    ):
        assert SECRET not in text
    assert "signed=True" in repr(router) and router.signature["secret"] == "***"


def test_constructor_validates_and_labels():
    with pytest.raises(ValidationError) as info:
        DialpadClient(base_url="https://dialpad.com", api_key="")
    assert info.value.field == "api_key"
    with pytest.raises(ValidationError) as info:
        DialpadClient(base_url="dialpad.com", api_key=KEY)
    assert info.value.field == "base_url"
    assert (
        repr(DialpadClient(base_url="https://dialpad.com", api_key=KEY)) == "DialpadClient(live dialpad.com)"
    )
    sandbox = DialpadClient(base_url="https://sandbox.dialpad.com/", api_key=KEY)
    assert repr(sandbox) == "DialpadClient(Dialpad's sandbox at sandbox.dialpad.com)"


def test_close_and_context_manager():
    with make_client(fake_dialpad)[0] as client:
        client.list_offices()
    with pytest.raises(TransportError):
        client.list_offices()


# --------------------------------------------------------------------------- paging property


class Pager:
    """Serves ``items`` as a cursor-paginated router list, ``page_size`` per page."""

    def __init__(self, items: list[dict], page_size: int) -> None:
        self.items, self.page_size = items, page_size

    def __call__(self, request: httpx.Request) -> httpx.Response:
        start = int(request.url.params.get("cursor") or 0)
        end = start + self.page_size
        body = {"items": self.items[start:end]}
        if end < len(self.items):
            body["cursor"] = str(end)
        return httpx.Response(200, json=body)


@settings(max_examples=40, deadline=None)
@given(count=st.integers(0, 25), page_size=st.integers(1, 7))
def test_paging_returns_the_same_routers_as_one_page(count, page_size):
    items = [{**ROUTERS["7001"], "id": str(i + 1), "name": f"R{i}"} for i in range(count)]
    paged, _ = make_client(Pager(items, page_size))
    whole, _ = make_client(Pager(items, max(count, 1)))
    assert paged.list_routers() == whole.list_routers()
    assert [r.id for r in paged.list_routers()] == list(range(1, count + 1))


def test_a_repeated_cursor_stops_instead_of_looping():
    client, _ = make_client(Script(*[httpx.Response(200, json={"items": [], "cursor": "same"})] * 3))
    with pytest.raises(APIError, match="same page cursor twice"):
        client.list_routers()


def test_describe_router_names_its_office_and_default_target_and_hides_the_secret():
    rec = Recorder()
    client, _ = make_client(rec)
    router = client.get_router(7001)
    assert "Support Tier 1" not in repr(router)  # the model holds ids only
    view = client.describe_router(router)
    assert view.router is router
    assert view.default_target == "Support Tier 1 (callcenter)"
    office = client.targets().find(SF, "office").name
    assert view.office == f"{office} (office)"
    assert view.to_dict()["default_target"] == f"Support Tier 1 (callcenter), id {TIER1['id']}"
    assert "default_target='Support Tier 1 (callcenter)'" in repr(view) and "signed=True" in repr(view)
    page = view._repr_html_()
    assert "Support Tier 1 (callcenter)" in page and "Call router 7001: Support line" in page
    for text in (repr(view), str(view), page, str(view.to_dict())):
        assert SECRET not in text
    assert client.describe_router("7001") == view  # by id: read, then described
    gone = CallRouter.from_api({**ROUTERS["7001"], "default_target_id": "999", "default_target_type": "user"})
    assert client.targets().describe(gone).default_target == "user 999 (not in directory)"
