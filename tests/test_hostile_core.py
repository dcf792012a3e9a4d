"""Hostile input at the root (issue #9): ids, times, names, URLs, JSON bodies, rate-limit buckets."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dialpad_nb.core.clock import MAX_MS, SimulatedClock
from dialpad_nb.core.errors import ValidationError
from dialpad_nb.core.models import (
    MAX_NAME_LENGTH,
    MAX_URL_LENGTH,
    CallRouter,
    RoutingRequest,
    parse_id,
    redact_url,
    validate_name,
    validate_secret,
    validate_url,
)
from dialpad_nb.core.pacing import RateLimiter, TokenBucket, endpoint_key
from dialpad_nb.core.policy import DIALPAD
from dialpad_nb.core.strict_json import MAX_DEPTH, decode_json


@pytest.mark.parametrize("text", ["²", "٣", "１２", "1²", "1" * 21, "1" * 5000, "-1", "0x10", "1_000", ""])
def test_parse_id_takes_ascii_digits_only(text):
    with pytest.raises(ValidationError) as info:
        parse_id(text, field="office_id")
    assert info.value.field == "office_id" and len(str(info.value)) < 120


def test_parse_id_still_takes_ids_as_ints_and_decimal_strings():
    assert parse_id(" 7300000000000002 ") == parse_id(7300000000000002) == 7300000000000002
    assert parse_id("0" * 5 + "42") == 42


@given(st.text(max_size=30))
def test_parse_id_answers_an_id_or_a_validation_error_for_any_text(text):
    try:
        out = parse_id(text)
    except ValidationError:
        return
    assert 0 < out < 2**63 and text.strip().isascii()


@pytest.mark.parametrize(
    "move",
    [
        lambda c: c.advance(300_000_000_000),
        lambda c: c.advance(float("inf")),
        lambda c: c.advance(float("nan")),
        lambda c: c.set(10**30),
        lambda c: c.set(1e17),
        lambda c: c.set(MAX_MS + 1),
        lambda c: c.advance_to_at_least(10**17),
    ],
)
def test_simulated_clock_refuses_times_outside_the_years_1970_to_9999(move):
    clock = SimulatedClock()
    before = clock.now_ms()
    with pytest.raises(ValidationError) as info:
        move(clock)
    assert info.value.field in ("now", "advance_seconds")
    assert clock.now_ms() == before  # nothing moved


def test_simulated_clock_can_still_reach_the_last_millisecond():
    clock = SimulatedClock()
    assert clock.set(MAX_MS) == MAX_MS
    with pytest.raises(ValidationError):
        clock.advance(0.001)


@pytest.mark.parametrize(
    "url",
    ["http://[abc/", "http://[::1", "http://host:99999/", "ftp://x/", "https://", "https://a b/", "x" * 10],
)
def test_a_url_that_cannot_be_one_is_a_validation_error(url):
    with pytest.raises(ValidationError) as info:
        validate_url(url)
    assert info.value.field == "routing_url"


def test_names_urls_and_secrets_have_limits_and_must_be_real_unicode():
    validate_name("n" * MAX_NAME_LENGTH)
    for bad in ("n" * (MAX_NAME_LENGTH + 1), "n" * 10_000_000, "a\ud800b", "two\nlines", "  "):
        with pytest.raises(ValidationError) as info:
            validate_name(bad)
        assert info.value.field == "name" and len(str(info.value)) < 200
    with pytest.raises(ValidationError, match="at most"):
        validate_url("https://ops.example/" + "a" * MAX_URL_LENGTH)
    with pytest.raises(ValidationError, match="lone surrogate"):
        validate_url("https://ops.example/\udc80")
    with pytest.raises(ValidationError, match="lone surrogate") as info:
        validate_secret("s" * 40 + "\ud800")
    assert "s" * 40 not in str(info.value)


def test_query_secrets_never_show_in_a_routers_repr_str_or_html():
    url = "https://user:pw@ops.example/route?token=SEKRIT-TOKEN&v=2#frag"
    router = CallRouter.from_api(
        {
            "id": 1,
            "name": "R",
            "routing_url": url,
            "office_id": 2,
            "default_target_id": 3,
            "default_target_type": "office",
        }
    )
    for shown in (repr(router), str(router), router._repr_html_(), json.dumps(router.to_dict())):
        assert "SEKRIT" not in shown and "pw@" not in shown
        assert "ops.example/route" in shown
    assert redact_url(url) == "https://***@ops.example/route?token=***&v=***#***"
    assert router.routing_url == url  # the real value stays for code that must call it
    assert redact_url("http://[abc/") == "<unparseable url>"


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"signature": "jwt"}, "signature"),
        ({"id": "²"}, "id"),
        ({"enabled": "yes"}, "enabled"),
        ({"phone_numbers": "+14155550100"}, "phone_numbers"),
        ({"name": 5}, "name"),
    ],
)
def test_a_malformed_router_object_names_the_field(data, field):
    good = {"id": 1, "name": "R", "routing_url": "https://a.example/", "office_id": 2}
    good |= {"default_target_id": 3, "default_target_type": "office"}
    with pytest.raises(ValidationError) as info:
        CallRouter.from_api({**good, **data})
    assert info.value.field == field


@pytest.mark.parametrize("ds", [float("nan"), float("inf"), 1e30, -5])
def test_routing_request_refuses_non_finite_and_impossible_times(ds):
    req = {
        "date_started": ds,
        "call_id": 1,
        "external_number": "+14155550100",
        "internal_number": "+14155550101",
    }
    with pytest.raises(ValidationError) as info:
        RoutingRequest.from_json(req)
    assert info.value.field == "date_started"


# --------------------------------------------------------------------------- strict JSON


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        (b'{"a":' * 20_000 + b"1" + b"}" * 20_000, "nested deeper"),
        (b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1), "nested deeper"),
        (b'{"x": NaN}', "NaN"),
        (b'{"x": -Infinity}', "Infinity"),
        (b'{"x": 1e400}', "not a finite number"),
        (b'{"x": ' + b"9" * 5000 + b"}", "5,000 digits"),
        (b'{"name": "\\ud800"}', "lone surrogate"),
        (b'{"\\udfff": 1}', "lone surrogate"),
        (b'{"a": 1', "line 1, column 8"),
        (b"\xff\xfe", "not UTF-8"),
    ],
)
def test_decode_json_refuses_what_breaks_code_further_on(raw, needle):
    with pytest.raises(ValidationError) as info:
        decode_json(raw, field="body")
    assert needle in str(info.value) and str(info.value).startswith("body")
    assert len(str(info.value)) < 200  # never the text itself


def test_decode_json_names_the_place_of_a_bad_string():
    with pytest.raises(ValidationError) as info:
        decode_json(b'{"calls": [{"to": "ok"}, {"to": "\\udc00"}]}', field="body")
    assert info.value.field == "body.calls[1].to"


@settings(max_examples=200)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
        lambda c: st.lists(c) | st.dictionaries(st.text(), c),
        max_leaves=20,
    )
)
def test_decode_json_decodes_what_json_would_or_refuses_with_a_validation_error(value):
    try:
        raw = json.dumps(value).encode("utf-8", "surrogatepass")
    except (ValueError, UnicodeEncodeError):
        return
    try:
        out = decode_json(raw)
    except ValidationError:
        return
    assert json.dumps(out) == json.dumps(json.loads(raw))


# --------------------------------------------------------------------------- pacing


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_token_bucket_lets_a_burst_through_then_paces_evenly():
    t = FakeTime()
    bucket = TokenBucket(rate_per_s=20, capacity=20, monotonic=t)
    waits = [bucket.take() for _ in range(25)]
    assert waits[:20] == [0.0] * 20
    assert waits[20:] == pytest.approx([0.05, 0.10, 0.15, 0.20, 0.25])
    t.now = 10.0
    assert bucket.try_take() == 0.0  # refilled


def test_rate_limiter_reads_dialpads_numbers_from_the_policy():
    assert DIALPAD.company_requests_per_s == 20 and DIALPAD.endpoint_requests_per_min == 1200
    t = FakeTime()
    limiter = RateLimiter(DIALPAD.replace(endpoint_requests_per_min=3), monotonic=t)
    key = endpoint_key("GET", "/api/v2/callrouters/123")
    assert key == endpoint_key("GET", "/api/v2/callrouters/456") == "GET /api/v2/callrouters/{id}"
    assert [limiter.admit(key) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.admit(key) == pytest.approx(20.0)  # 3/min: the next in 20 s
    assert limiter.admit("GET /api/v2/numbers") == 0.0  # another endpoint, same company


def test_hold_makes_every_taker_wait_the_retry_after():
    t = FakeTime()
    bucket = TokenBucket(rate_per_s=20, capacity=20, monotonic=t)
    bucket.hold(3.0)
    assert bucket.take() == pytest.approx(3.0)
