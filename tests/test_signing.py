import base64
import json
import time

import jwt
import pytest

from dialpad_nb.core.errors import TokenError
from dialpad_nb.core.signing import sign, verify

SECRET = "s" * 40
PAYLOAD = {
    "date_started": 1_767_603_600_000,
    "call_id": 42,
    "external_number": "+14155550123",
    "internal_number": "+14155550100",
    "contact_id": None,
    "contact_type": None,
}


def _b64(obj) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def test_round_trip_keeps_the_payload_exactly():
    token = sign(PAYLOAD, SECRET)
    assert verify(token, SECRET) == PAYLOAD
    assert jwt.get_unverified_header(token)["alg"] == "HS256"


def test_wrong_secret_is_bad_signature_and_message_hides_secret():
    token = sign(PAYLOAD, SECRET)
    with pytest.raises(TokenError) as info:
        verify(token, "t" * 40)
    assert info.value.reason == "bad_signature"
    assert SECRET not in str(info.value) and "t" * 40 not in str(info.value)


def test_alg_none_is_refused():
    token = _b64({"alg": "none", "typ": "JWT"}) + "." + _b64(PAYLOAD) + "."
    with pytest.raises(TokenError) as info:
        verify(token, SECRET)
    assert info.value.reason == "bad_algorithm"


def test_other_hmac_algorithm_is_refused():
    token = jwt.encode(PAYLOAD, SECRET * 2, algorithm="HS512")  # 80 bytes: no short-key warning
    with pytest.raises(TokenError) as info:
        verify(token, SECRET * 2)
    assert info.value.reason == "bad_algorithm"


@pytest.mark.parametrize("garbage", ["", "abc", "a.b", "a.b.c", "!!!.###.$$$"])
def test_malformed_tokens_are_refused(garbage):
    with pytest.raises(TokenError) as info:
        verify(garbage, SECRET)
    assert info.value.reason in {"malformed", "bad_algorithm"}


def test_expired_token_is_refused_unless_within_leeway():
    token = sign({**PAYLOAD, "exp": int(time.time()) - 30}, SECRET)
    with pytest.raises(TokenError) as info:
        verify(token, SECRET)
    assert info.value.reason == "expired"
    assert verify(token, SECRET, leeway_s=3600)["call_id"] == 42


def test_non_object_payload_is_refused():
    token = jwt.api_jws.encode(b"[1,2]", SECRET, algorithm="HS256")
    with pytest.raises(TokenError):
        verify(token, SECRET)


def test_bytes_token_and_surrounding_whitespace_are_accepted():
    token = sign(PAYLOAD, SECRET)
    assert verify(f"  {token}\n".encode(), SECRET)["call_id"] == 42


def test_sign_needs_a_secret():
    with pytest.raises(ValueError, match="secret"):
        sign(PAYLOAD, "")
