"""jwt_batch accepts exactly what ``jwt.decode(token, secret, algorithms=["HS256"], options=...)`` accepts,
with the options of ``signing.verify`` (the endpoint's check): aud/iss are not verified."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time

import jwt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dialpad_nb.calls import jwt_batch
from dialpad_nb.calls.jwt_batch import check_secret, verify_tokens

SECRET = "unit-test-secret-0123456789-abcdefghijkl"
PAYLOAD = {
    "date_started": 1_790_000_000_000,
    "call_id": 7_300_000_000_000_123,
    "external_number": "+14155550123",
    "internal_number": "+14155550142",
    "contact_id": None,
    "contact_type": None,
}
VERIFY_OPTIONS = {"require": [], "verify_aud": False, "verify_iss": False}  # as signing.verify
FAR_FUTURE = int(time.time()) + 10 * 365 * 86400
PAST = int(time.time()) - 86400


def b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def make_token(
    header: dict | bytes = None, payload: dict | bytes | list = None, *, key: str = SECRET
) -> bytes:
    """A compact JWT built by hand so that tests can break any part of it."""
    header = {"alg": "HS256", "typ": "JWT"} if header is None else header
    payload = PAYLOAD if payload is None else payload
    h = header if isinstance(header, bytes) else json.dumps(header, separators=(",", ":")).encode()
    p = payload if isinstance(payload, bytes) else json.dumps(payload, separators=(",", ":")).encode()
    body = b64(h) + b"." + b64(p)
    return body + b"." + b64(hmac.digest(key.encode(), body, "sha256"))


def pyjwt_verdict(token: bytes) -> dict | None:
    try:
        return jwt.decode(token, SECRET, algorithms=["HS256"], options=VERIFY_OPTIONS)
    except jwt.InvalidTokenError:
        return None


def batch_verdicts(tokens: list[bytes]) -> list[dict | None]:
    out = verify_tokens(tokens, SECRET).payloads()
    return [p if isinstance(p, dict) else None for p in out]


def flip(token: bytes, pos: int) -> bytes:
    """Change one character of the token to another base64url character."""
    c = token[pos : pos + 1]
    repl = b"B" if c != b"B" else b"C"
    return token[:pos] + repl + token[pos + 1 :]


VALID = make_token()

NAMED_CASES = {
    "valid": VALID,
    "valid, other field order": make_token(payload=dict(reversed(list(PAYLOAD.items())))),
    "signed with another secret": make_token(key="another-secret-0123456789-abcdefghijklm"),
    "last signature char changed": flip(VALID, len(VALID) - 1),
    "first signature char changed": flip(VALID, len(VALID) - 43),
    "payload char changed": flip(VALID, 40),
    "header char changed": flip(VALID, 3),
    "alg none, empty signature": b64(b'{"alg":"none","typ":"JWT"}')
    + b"."
    + b64(json.dumps(PAYLOAD).encode())
    + b".",
    "alg none, HS256 signature": make_token({"alg": "none", "typ": "JWT"}),
    "alg HS512 header": make_token({"alg": "HS512", "typ": "JWT"}),
    "alg hs256 lower case": make_token({"alg": "hs256"}),
    "no alg": make_token({"typ": "JWT"}),
    "header not an object": make_token(b'["HS256"]'),
    "header not JSON": make_token(b"{alg:HS256}"),
    "header with crit": make_token({"alg": "HS256", "crit": ["exp"]}),
    "header with b64 false": make_token({"alg": "HS256", "b64": False, "crit": ["b64"]}),
    "header with int kid": make_token({"alg": "HS256", "kid": 7}),
    "header with str kid": make_token({"alg": "HS256", "kid": "k1"}),
    "header with spaces": make_token(b'{ "alg" : "HS256" }'),
    "payload not JSON": make_token(payload=b"not json"),
    "payload a list": make_token(payload=[1, 2]),
    "payload a string": make_token(payload=b'"x"'),
    "payload with trailing space": make_token(payload=json.dumps(PAYLOAD).encode() + b" "),
    "payload with newline inside": make_token(payload=b'{"call_id":\n1}'),
    "payload JSON with NaN": make_token(payload=b'{"date_started": NaN}'),
    "payload duplicate key": make_token(payload=b'{"call_id": 1, "call_id": 2}'),
    "payload escaped key": make_token(payload=b'{"\\u0065xp": 1}'),
    "payload unicode": make_token(payload={"contact_type": "caf\u00e9"}),
    "payload invalid utf-8": make_token(payload=b'{"a": "\xff"}'),
    "payload utf-8 BOM": make_token(payload=b"\xef\xbb\xbf" + json.dumps(PAYLOAD).encode()),
    "exp in the past": make_token(payload={**PAYLOAD, "exp": PAST}),
    "exp in the future": make_token(payload={**PAYLOAD, "exp": FAR_FUTURE}),
    "exp a string": make_token(payload={**PAYLOAD, "exp": str(FAR_FUTURE)}),
    "exp null": make_token(payload={**PAYLOAD, "exp": None}),
    "exp not a number": make_token(payload={**PAYLOAD, "exp": "soon"}),
    "nbf in the future": make_token(payload={**PAYLOAD, "nbf": FAR_FUTURE}),
    "nbf in the past": make_token(payload={**PAYLOAD, "nbf": PAST}),
    "iat in the future": make_token(payload={**PAYLOAD, "iat": FAR_FUTURE}),
    "iat not a number": make_token(payload={**PAYLOAD, "iat": "x"}),
    "aud present": make_token(payload={**PAYLOAD, "aud": "someone"}),
    "aud empty": make_token(payload={**PAYLOAD, "aud": ""}),
    "sub not a string": make_token(payload={**PAYLOAD, "sub": 5}),
    "jti not a string": make_token(payload={**PAYLOAD, "jti": 5}),
    "signature padded with =": VALID + b"=",
    "signature padded with ==": VALID + b"==",
    "payload padded with =": VALID.split(b".")[0]
    + b"."
    + VALID.split(b".")[1]
    + b"=."
    + VALID.split(b".")[2],
    "four segments": VALID + b".x",
    "two segments": b".".join(VALID.split(b".")[:2]),
    "empty": b"",
    "dots only": b"..",
    "leading space": b" " + VALID,
    "trailing newline": VALID + b"\n",
    "non-base64 character": VALID[:30] + b"!" + VALID[31:],
    "standard base64 alphabet": VALID.replace(b"-", b"+").replace(b"_", b"/"),
    "truncated signature": VALID[:-1],
    "extra signature char": VALID + b"A",
}


@pytest.mark.parametrize("name", list(NAMED_CASES))
def test_named_case_matches_pyjwt(name: str) -> None:
    token = NAMED_CASES[name]
    assert batch_verdicts([token]) == [pyjwt_verdict(token)]


def test_named_cases_in_one_batch_match_pyjwt() -> None:
    """Batching (shared header cache, bulk signature compare) changes nothing."""
    tokens = list(NAMED_CASES.values()) * 2
    assert batch_verdicts(tokens) == [pyjwt_verdict(t) for t in tokens]


def test_named_cases_include_accepts_and_rejects() -> None:
    verdicts = batch_verdicts(list(NAMED_CASES.values()))
    accepted = {name for name, v in zip(NAMED_CASES, verdicts, strict=True) if v is not None}
    assert {"valid", "exp in the future", "nbf in the past", "header with str kid"} <= accepted
    assert "signed with another secret" not in accepted
    assert "alg none, empty signature" not in accepted
    assert "exp in the past" not in accepted


def _mutations() -> st.SearchStrategy[bytes]:
    base = st.sampled_from(list(NAMED_CASES.values()))
    alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ "

    @st.composite
    def mutate(draw: st.DrawFn) -> bytes:
        tok = draw(base)
        for _ in range(draw(st.integers(0, 3))):
            op = draw(st.sampled_from(["replace", "delete", "insert", "truncate"]))
            pos = draw(st.integers(0, max(len(tok) - 1, 0)))
            ch = bytes([draw(st.sampled_from(alphabet))])
            if op == "replace" and tok:
                tok = tok[:pos] + ch + tok[pos + 1 :]
            elif op == "delete" and tok:
                tok = tok[:pos] + tok[pos + 1 :]
            elif op == "insert":
                tok = tok[:pos] + ch + tok[pos:]
            else:
                tok = tok[:pos]
        return tok

    return mutate()


@st.composite
def _payload_objects(draw: st.DrawFn) -> bytes:
    """Random JSON objects, sometimes with registered claims of odd types, signed correctly."""
    json_values = st.recursive(
        st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=5),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
        max_leaves=6,
    )
    keys = st.sampled_from(["call_id", "exp", "nbf", "iat", "aud", "sub", "jti", "x"]) | st.text(max_size=4)
    obj = draw(st.dictionaries(keys, json_values | st.sampled_from([PAST, FAR_FUTURE]), max_size=5))
    return make_token(payload=json.dumps(obj).encode())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_mutations() | _payload_objects(), min_size=1, max_size=8))
def test_random_tokens_match_pyjwt(tokens: list[bytes]) -> None:
    assert batch_verdicts(tokens) == [pyjwt_verdict(t) for t in tokens]


def test_str_tokens_are_accepted_like_bytes() -> None:
    assert batch_verdicts([VALID.decode()]) == [PAYLOAD]


def test_rejected_tokens_get_kind_and_readable_reason() -> None:
    batch = verify_tokens(
        [
            NAMED_CASES["signed with another secret"],
            NAMED_CASES["alg none, empty signature"],
            NAMED_CASES["exp in the past"],
            NAMED_CASES["two segments"],
        ],
        SECRET,
    )
    batch.payloads()  # parses the fast payloads: the expired one is judged by its claims
    assert batch.errors[0] == ("bad signature", "bad JWT signature (does not match the secret)")
    assert batch.errors[1] == ("bad JWT", "JWT algorithm 'none' refused (only HS256 is accepted)")
    assert batch.errors[2][0] == "expired JWT"
    assert batch.errors[3][0] == "bad JWT" and "malformed JWT" in batch.errors[3][1]
    assert all(SECRET not in reason for _, reason in batch.errors.values())


def test_valid_tokens_take_the_fast_path() -> None:
    batch = verify_tokens([VALID] * 5, SECRET)
    assert batch.fast_index == [0, 1, 2, 3, 4]
    assert batch.errors == {} and batch.decoded == {}


@pytest.mark.parametrize("length", [1, 32, 63, 64, 65, 200])
def test_hmac_from_pads_equals_hmac_digest(length: int) -> None:
    key = bytes(range(length)) if length < 256 else b"k" * length
    inner_copy, outer_copy = jwt_batch._hmac_pads(key)
    for msg in (b"", b"abc", b"x" * 1000):
        inner = inner_copy()
        inner.update(msg)
        outer = outer_copy()
        outer.update(inner.digest())
        assert outer.digest() == hmac.digest(key, msg, hashlib.sha256)


def test_check_secret_refuses_what_pyjwt_refuses() -> None:
    with pytest.raises(ValueError, match="secret"):
        check_secret("")
    with pytest.raises(ValueError, match="secret"):
        check_secret("-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----")
    assert check_secret(SECRET) == SECRET.encode()


def test_signature_blocks_isolate_a_bad_signature(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jwt_batch, "_SIG_BLOCK", 3)
    tokens = [VALID] * 7 + [NAMED_CASES["last signature char changed"]] + [VALID] * 5
    verdicts = batch_verdicts(tokens)
    assert verdicts == [pyjwt_verdict(t) for t in tokens]
    assert [v is None for v in verdicts] == [False] * 7 + [True] + [False] * 5


def test_charset_checked_gives_the_same_verdicts() -> None:
    tokens = [t for t in NAMED_CASES.values() if not t.translate(None, jwt_batch._TOKEN_CHARS)]
    assert len(tokens) > 20
    fast = verify_tokens(tokens, SECRET, charset_checked=True).payloads()
    assert fast == verify_tokens(tokens, SECRET).payloads()


def test_the_reader_and_the_endpoint_agree_on_claims_they_do_not_check() -> None:
    from dialpad_nb.core.signing import verify

    for token in (NAMED_CASES["aud present"], make_token(payload={**PAYLOAD, "iss": "elsewhere"})):
        assert batch_verdicts([token]) == [verify(token, SECRET)]


def _batch_state(batch: jwt_batch.TokenBatch) -> tuple:
    return batch.fast_index, batch.fast_json, batch.decoded, batch.errors, batch.payloads()


@pytest.mark.parametrize("charset_checked", [False, True])
def test_two_halves_give_the_verdicts_of_one_process(
    monkeypatch: pytest.MonkeyPatch, charset_checked: bool
) -> None:
    """From PARALLEL_MIN tokens on, a forked child verifies the second half: same batch, index by
    index, as verifying all here (every named case, each on both sides of the cut)."""
    cases = [
        t
        for t in NAMED_CASES.values()
        if not charset_checked or not t.translate(None, jwt_batch._TOKEN_CHARS)
    ]
    tokens = cases * 2 + [VALID] * 3
    here = verify_tokens(tokens, SECRET, charset_checked=charset_checked)
    forks: list[int] = []
    original = jwt_batch._verify_halves
    monkeypatch.setattr(jwt_batch, "_verify_halves", lambda *a, **k: forks.append(1) or original(*a, **k))
    monkeypatch.setattr(jwt_batch, "PARALLEL_MIN", 4)
    split = verify_tokens(tokens, SECRET, charset_checked=charset_checked)
    assert forks == [1]
    assert _batch_state(split) == _batch_state(here)
    assert all(SECRET not in reason for _, reason in split.errors.values())


def test_a_child_that_dies_leaves_its_half_to_this_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """The child exits without a word (as if killed): this process verifies its half, same verdicts."""
    tokens = list(NAMED_CASES.values()) * 2
    here = verify_tokens(tokens, SECRET)
    monkeypatch.setattr(jwt_batch, "PARALLEL_MIN", 4)
    monkeypatch.setattr(jwt_batch, "_verify_child", lambda sender, *a: os._exit(9))
    assert _batch_state(verify_tokens(tokens, SECRET)) == _batch_state(here)


def test_a_child_that_hangs_is_killed_and_its_half_verified_here(monkeypatch: pytest.MonkeyPatch) -> None:
    """A forked child that never answers (as if it inherited a lock held by another thread) is
    given up on after its patience and killed; this process verifies its half, same verdicts."""
    import threading

    tokens = list(NAMED_CASES.values()) * 2
    here = verify_tokens(tokens, SECRET)
    pids: list[int] = []
    original = jwt_batch.mp.get_context

    def context(method: str) -> object:
        ctx = original(method)
        process = ctx.Process

        def tracked(*a: object, **k: object) -> object:
            p = process(*a, **k)
            pids.append(p)  # type: ignore[arg-type]
            return p

        monkeypatch.setattr(ctx, "Process", tracked)
        return ctx

    monkeypatch.setattr(jwt_batch.mp, "get_context", context)
    monkeypatch.setattr(jwt_batch, "PARALLEL_MIN", 4)
    monkeypatch.setattr(jwt_batch, "_PATIENCE_S", 0.2)
    monkeypatch.setattr(jwt_batch, "_PATIENCE_PER_TOKEN_S", 0.0)
    monkeypatch.setattr(jwt_batch, "_verify_child", lambda *a: threading.Event().wait())
    assert _batch_state(verify_tokens(tokens, SECRET)) == _batch_state(here)
    assert len(pids) == 1  # one child was forked, and it is gone (killed, reaped, closed)
    with pytest.raises(ValueError, match="closed"):
        pids[0].is_alive()  # type: ignore[attr-defined]
