import pytest
from hypothesis import given
from hypothesis import strategies as st

from dialpad_nb.core.errors import ValidationError
from dialpad_nb.core.models import (
    DIRECTORY_TYPES,
    NUMBER_STATUSES,
    TARGET_TYPES,
    CallRouter,
    Number,
    RoutingDecision,
    RoutingRequest,
    normalize_e164,
    parse_id,
    parse_routing_answer,
    redact,
    validate_e164,
    validate_secret,
    validate_target_type,
    validate_url,
)

from .helpers_openapi import spec

SECRET = "x" * 32 + "-very-secret"
API_ROUTER = {
    "id": "5165402724715258",
    "name": "Sales line",
    "routing_url": "https://example.ca/routingapi",
    "office_id": "6286560707051431",
    "default_target_id": "5835806903417907",
    "default_target_type": "user",
    "enabled": True,
    "phone_numbers": ["+14155550142"],
    "signature": {"type": "jwt", "algo": "HS256", "secret": SECRET},
}


def test_router_from_api_accepts_string_and_int_ids():
    r = CallRouter.from_api(API_ROUTER)
    assert r.id == 5165402724715258 and r.office_id == 6286560707051431
    r2 = CallRouter.from_api({**API_ROUTER, "id": 5165402724715258, "office_id": 6286560707051431})
    assert r2 == r


def test_router_secret_never_shows_in_repr_str_html_or_dict():
    r = CallRouter.from_api(API_ROUTER)
    for text in (repr(r), str(r), r._repr_html_(), str(r.to_dict()), str(r.signature)):
        assert SECRET not in text
    assert r.has_secret and r.secret == SECRET
    assert r.signature == {"type": "jwt", "algo": "HS256", "secret": "***"}
    assert "signed=True" in repr(r)


def test_unsigned_router_has_empty_signature():
    r = CallRouter.from_api({**API_ROUTER, "signature": {}})
    assert not r.has_secret and r.signature == {}


def test_redact_replaces_nested_secrets():
    assert redact({"a": [{"secret": "abc"}], "api_key": "k", "secret": ""}) == {
        "a": [{"secret": "***"}],
        "api_key": "***",
        "secret": "",
    }


@pytest.mark.parametrize("good", ["+14155550100", "+442071838750", "+5511987654321"])
def test_validate_e164_accepts(good):
    assert validate_e164(good) == good


@pytest.mark.parametrize(
    "bad",
    [
        "4155550100",
        "+0155550100",
        "+1-415-555",
        "+1",
        14155550100,
        None,
        "+1415555010012345",
        "+14155550100\n",  # re's $ would match before a final newline
        "+1\u0664\u0661\u0665\u0665\u0665\u0665\u0660\u0661\u0660\u0660",  # Arabic-Indic digits: not ASCII
    ],
)
def test_validate_e164_rejects_naming_field(bad):
    with pytest.raises(ValidationError) as info:
        validate_e164(bad, field="external_number")
    assert info.value.field == "external_number"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("(415) 555-0123", "+14155550123"),
        ("415.555.0123", "+14155550123"),
        ("1 415 555 0123", "+14155550123"),
        ("+1 (415) 555-0123", "+14155550123"),
        ("0044 20 7183 8750", "+442071838750"),
        ("n/a", None),
        (None, None),
        (float("nan"), None),
        ("12", None),
        ("+1\u0664\u0661\u0665\u0665\u0665\u0665\u0660\u0661\u0660\u0660", None),
    ],
)
def test_normalize_e164(raw, expected):
    assert normalize_e164(raw) == expected


@given(st.from_regex(r"\A\+1[2-9][0-9]{9}\Z"))
def test_normalize_is_idempotent_on_e164(number):
    assert normalize_e164(number) == number
    assert normalize_e164(normalize_e164(number)) == number


def test_validate_url():
    assert validate_url("https://example.com/route") == "https://example.com/route"
    for bad in ["example.com", "ftp://x/y", "", "https://", None]:
        with pytest.raises(ValidationError, match="routing_url"):
            validate_url(bad)


def test_validate_secret_checks_length_without_echoing():
    assert validate_secret("a" * 32) == "a" * 32
    with pytest.raises(ValidationError) as info:
        validate_secret("short-secret-value")
    assert "short-secret-value" not in str(info.value) and "32" in str(info.value)
    with pytest.raises(ValidationError, match="single line"):
        validate_secret("a" * 40 + "\n")


def test_validate_target_type_lists_choices():
    for t in TARGET_TYPES:
        assert validate_target_type(t) == t
    with pytest.raises(ValidationError, match="callcenter"):
        validate_target_type("team")


def test_enums_are_dialpads_own():
    schemas = spec()["components"]["schemas"]
    assert list(NUMBER_STATUSES) == schemas["schemas.number.NumberProto"]["properties"]["status"]["enum"]
    router = schemas["schemas.call_router.ApiCallRouterProto"]["properties"]
    assert list(TARGET_TYPES) == router["default_target_type"]["enum"]
    assert set(DIRECTORY_TYPES) <= set(TARGET_TYPES)  # every directory entry can be a routing target


def test_parse_id():
    assert parse_id("5165402724715258") == 5165402724715258
    for bad in [True, "12a", -3, 0, 2**63, 1.5, None]:
        with pytest.raises(ValidationError):
            parse_id(bad)


def test_routing_request_round_trip_and_validation():
    data = {
        "date_started": 1_767_603_600_000,
        "call_id": "77",
        "external_number": "+14155550123",
        "internal_number": "+14155550100",
        "contact_id": 991,
        "contact_type": "local",
    }
    req = RoutingRequest.from_json(data)
    assert req.call_id == 77 and req.contact_id == "991"
    assert RoutingRequest.from_json(req.to_json()) == req
    with pytest.raises(ValidationError, match="internal_number"):
        RoutingRequest.from_json({**data, "internal_number": "100"})
    with pytest.raises(ValidationError, match="call_id"):
        RoutingRequest.from_json({k: v for k, v in data.items() if k != "call_id"})
    with pytest.raises(ValidationError, match="payload"):
        RoutingRequest.from_json([1])


def test_parse_routing_answer_both_shapes():
    assert parse_routing_answer({"target_id": "12", "target_type": "callcenter"}) == RoutingDecision(
        12, "callcenter"
    )
    assert parse_routing_answer(
        {"action": "route", "target_id": 12, "target_type": "user"}
    ) == RoutingDecision(12, "user")
    with pytest.raises(ValidationError) as info:
        parse_routing_answer({"target_id": 12, "target_type": "team"})
    assert info.value.field == "target_type"
    for bad in [
        [],
        {"target_type": "user"},
        {"target_id": 1},
        {"action": "hangup", "target_id": 1, "target_type": "user"},
    ]:
        with pytest.raises(ValidationError):
            parse_routing_answer(bad)


def test_number_from_api():
    n = Number.from_api(
        {"number": "+14155550142", "status": "call_router", "target_id": "5", "target_type": "callrouter"}
    )
    assert n.target_id == 5 and n.status == "call_router"
