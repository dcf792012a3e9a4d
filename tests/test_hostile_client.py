"""The client against a hostile or broken server (issue #9): redirects, malformed answers, endless
paging, and Dialpad's rate limits kept by pacing."""

from __future__ import annotations

import httpx
import pytest

from dialpad_nb.api.client import DialpadClient
from dialpad_nb.core.errors import APIError, MalformedResponse, RateLimited, Redirected
from tests.helpers_client import BASE, KEY, ROUTERS, Script, make_client


def redirect(status: int = 308):
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, headers={"Location": "https://elsewhere.example/api?token=SEKRIT"})

    return handler


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_an_error_naming_where_it_pointed_and_is_never_followed(status):
    seen: list[httpx.Request] = []

    def handler(request):
        seen.append(request)
        return redirect(status)(request)

    client, _ = make_client(handler)
    with pytest.raises(Redirected) as info:
        client.delete_router(7001)  # returned None on a 308 before, having deleted nothing
    err = info.value
    assert err.status == status and err.location == "https://elsewhere.example/api"
    assert "https://elsewhere.example/api" in str(err) and "SEKRIT" not in str(err)
    assert len(seen) == 1  # not followed, not retried


@pytest.mark.parametrize(
    ("answer", "field"),
    [
        ({**ROUTERS["7001"], "signature": "jwt"}, "signature"),
        ({**ROUTERS["7001"], "id": "²"}, "id"),
        ({**ROUTERS["7001"], "phone_numbers": 5}, "phone_numbers"),
        ({**ROUTERS["7001"], "enabled": "no"}, "enabled"),
        ([1, 2], "body"),
        ("text", "body"),
    ],
)
def test_a_malformed_answer_is_the_packages_response_error_naming_the_field(answer, field):
    client, _ = make_client(Script(httpx.Response(200, json=answer)))
    with pytest.raises(MalformedResponse) as info:
        client.get_router(7001)
    assert info.value.field == field and isinstance(info.value, APIError)


@pytest.mark.parametrize(
    ("page", "field"),
    [
        ({"items": {"a": 1}}, "items"),
        ({"items": 5}, "items"),
        ({"items": [], "cursor": 17}, "cursor"),
    ],
)
def test_a_malformed_page_names_the_field(page, field):
    client, _ = make_client(Script(httpx.Response(200, json=page)))
    with pytest.raises(MalformedResponse) as info:
        client.list_routers()
    assert info.value.field == field


def endless(request: httpx.Request) -> httpx.Response:
    """A server that always has one more page (a new cursor, new items)."""
    n = int(request.url.params.get("cursor") or 0)
    item = {**ROUTERS["7001"], "id": str(9000 + n)}
    return httpx.Response(200, json={"items": [item], "cursor": str(n + 1)})


def test_paging_stops_after_max_pages():
    pages: list[int] = []

    def handler(request):
        pages.append(1)
        return endless(request)

    client, _ = make_client(handler, max_pages=50)
    with pytest.raises(MalformedResponse, match="more than 50 pages"):
        client.list_routers()
    assert len(pages) == 50


def test_paging_stops_on_a_page_repeated_under_a_new_cursor():
    def handler(request):
        n = int(request.url.params.get("cursor") or 0)
        return httpx.Response(200, json={"items": [ROUTERS["7001"]], "cursor": str(n + 1)})

    client, _ = make_client(handler)
    with pytest.raises(MalformedResponse, match="same page came back"):
        client.list_routers()


def test_a_router_shown_never_shows_its_url_query():
    answer = {**ROUTERS["7001"], "routing_url": "https://ops.example/route?token=SEKRIT"}
    client, _ = make_client(Script(httpx.Response(200, json=answer)))
    router = client.get_router(7001)
    for shown in (repr(router), str(router), router._repr_html_()):
        assert "SEKRIT" not in shown and "token=***" in shown


# --------------------------------------------------------------------------- pacing


def ok(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json=ROUTERS["7001"])


def test_the_client_paces_itself_to_dialpads_company_limit():
    client, sleeps = make_client(ok)
    for _ in range(30):
        client.get_router(7001)
    # 10 at once (half a second's allowance: a margin for jitter), then one every 1/20 s
    assert len(sleeps) == 20 and sleeps == pytest.approx([0.05] * 20)


def test_the_bucket_is_shared_by_all_of_the_clients_calls():
    client, sleeps = make_client(ok)
    for i in range(21):
        client.get_router(7001) if i % 2 else client.list_numbers()
    assert len(sleeps) >= 1  # 21 calls of two endpoints still pass the one company bucket


def test_rate_limits_false_turns_pacing_off():
    client, sleeps = make_client(ok, rate_limits=False)
    for _ in range(30):
        client.get_router(7001)
    assert sleeps == [] and client.pacing is None


def test_a_429_holds_every_call_for_its_retry_after_and_post_is_retried():
    script = Script(
        httpx.Response(
            429, json={"error": {"code": 429, "message": "rate limit"}}, headers={"Retry-After": "2"}
        ),
        httpx.Response(200, json=ROUTERS["7001"]),
    )
    client, sleeps = make_client(script)
    client.create_router(
        name="R", routing_url="https://ops.example/r", office_id=ROUTERS["7001"]["office_id"],
        default_target_id=ROUTERS["7001"]["default_target_id"], default_target_type="callcenter",
    )  # fmt: skip
    assert sleeps == [pytest.approx(2.0)]


def test_a_patch_429_is_not_retried():
    script = Script(
        httpx.Response(
            429, json={"error": {"code": 429, "message": "once per 5 min"}}, headers={"Retry-After": "2"}
        )
    )
    client, sleeps = make_client(script)
    with pytest.raises(RateLimited):
        client.update_router(7001, name="x")
    assert sleeps == []


@pytest.mark.http
def test_a_bulk_loop_against_a_rate_limited_sandbox_gets_no_429(sandbox_factory):
    server = sandbox_factory(rate_limits=True)
    with DialpadClient(base_url=server.url, api_key=server.api_key, max_retries=0) as client:
        for _ in range(30):  # 1.5 s of Dialpad's allowance: the client waits rather than be refused
            client.list_offices()
    with DialpadClient(base_url=server.url, api_key=server.api_key, max_retries=0, rate_limits=False) as rude:
        with pytest.raises(RateLimited) as info:
            for _ in range(30):
                rude.list_offices()
    assert info.value.retry_after_s is not None and info.value.retry_after_s >= 1


def test_base_url_and_key_are_never_in_a_redirect_error():
    client = DialpadClient(
        base_url=BASE, api_key=KEY, transport=httpx.MockTransport(redirect()), sleep=lambda s: None
    )
    with pytest.raises(Redirected) as info:
        client.list_routers()
    assert KEY not in repr(info.value) and KEY not in str(info.value)
