"""httpx answers -> dialpad_nb.core.errors, the one conversion both clients use."""

import httpx
import pytest

from dialpad_nb.api.http_errors import error_from_response, message_from_body, parse_retry_after, strip_query
from dialpad_nb.core.errors import BadRequest, NotFound, RateLimited, ServerError

NOW_MS = 1_767_603_600_000  # 2026-01-05T09:00:00Z


def _response(status, *, json=None, text=None, headers=None):
    return httpx.Response(
        status,
        json=json,
        text=text,
        headers=headers,
        request=httpx.Request("GET", "http://h/api/v2/callrouters/1?apikey=SECRETKEY"),
    )


def test_dialpad_error_body_gives_the_message():
    r = _response(400, json={"error": {"code": 400, "message": "name: is required"}})
    exc = error_from_response(r, method="POST", url="http://h/api/v2/callrouters", now_ms=NOW_MS)
    assert isinstance(exc, BadRequest) and exc.status == 400 and exc.message == "name: is required"


@pytest.mark.parametrize(("status", "cls"), [(404, NotFound), (502, ServerError)])
def test_status_picks_the_class(status, cls):
    assert isinstance(
        error_from_response(_response(status, text="nope"), method="GET", url="u", now_ms=NOW_MS), cls
    )


def test_html_bodies_are_not_pasted_into_messages():
    r = _response(502, text="<html><body>Bad gateway</body></html>")
    assert message_from_body(r) == "Bad Gateway"


def test_retry_after_seconds_and_http_date():
    r = _response(429, json={"error": {"code": 429, "message": "slow"}}, headers={"Retry-After": "120"})
    exc = error_from_response(r, method="PATCH", url="u", now_ms=NOW_MS)
    assert isinstance(exc, RateLimited) and exc.retry_after_s == 120.0
    assert parse_retry_after("Mon, 05 Jan 2026 09:01:30 GMT", NOW_MS) == 90.0
    assert parse_retry_after("soon", NOW_MS) is None
    assert parse_retry_after(None, NOW_MS) is None


def test_strip_query_removes_an_api_key_from_urls():
    url = httpx.URL("http://h/api/v2/callrouters/1?apikey=SECRETKEY#frag")
    assert strip_query(url) == "http://h/api/v2/callrouters/1"


def test_strip_query_drops_userinfo_and_takes_text():
    assert strip_query("https://ops:hunter2@route.example/r?token=t#x") == "https://route.example/r"
    assert strip_query(httpx.URL("https://ops:hunter2@route.example/r")) == "https://route.example/r"
    assert strip_query("http://[::1/") == "<unparseable url>"
