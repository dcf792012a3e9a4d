"""Verify many HS256 routing-request JWTs at once, exactly as strictly as PyJWT.

Reading a month of signed routing requests token by token with
``jwt.decode`` costs tens of microseconds each. Tokens from one signer share
their header segment, so this module checks each distinct header once, signs
each token's ``header.payload`` with :func:`hmac.digest` and compares the
canonical base64url signature in constant time.

Strictness contract: a token is accepted here **only if**
``jwt.decode(token, secret, algorithms=["HS256"], leeway=leeway_s)`` accepts
it. The fast path accepts only the plain case (canonical base64url segments,
a cached header that is exactly a JSON object with ``alg == "HS256"`` and no
``crit``/``b64``/non-string ``kid``, an ASCII payload object without escapes
and without registered claims); every other token -- every rejection, every
token with ``exp``/``nbf``/``iat``/``aud``/``sub``/``jti`` -- is handed to PyJWT
itself, so its verdict and its error are PyJWT's. ``tests/test_jwt_batch.py``
property-tests the equivalence.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import jwt
from jwt.algorithms import HMACAlgorithm

from .errors import TokenError

__all__ = ["TokenBatch", "check_secret", "decode_one", "token_error_reason", "verify_tokens"]

_ALG = "HS256"
_B64URL = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
# A payload mentioning one of these (as a quoted key or value) goes to PyJWT, which validates claims.
_CLAIM_MARKERS = (b'"exp"', b'"nbf"', b'"iat"', b'"aud"', b'"sub"', b'"jti"')


def check_secret(secret: str | bytes) -> bytes:
    """The HMAC key bytes for ``secret``, refused exactly where PyJWT refuses it (empty, PEM, ssh)."""
    try:
        return HMACAlgorithm(HMACAlgorithm.SHA256).prepare_key(secret)
    except jwt.InvalidKeyError as exc:
        raise ValueError(f"secret: {exc}") from None


def _b64url_canonical(segment: bytes) -> bytes | None:
    """Decoded bytes of a segment PyJWT would accept without complaint, else None (let PyJWT decide)."""
    if not segment or len(segment) % 4 == 1 or not _B64URL.issuperset(segment):
        return None
    try:
        out = base64.urlsafe_b64decode(segment + b"=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        return None
    if base64.urlsafe_b64encode(out).rstrip(b"=") != segment:
        return None
    return out


def _header_ok(segment: bytes) -> bool:
    """True if PyJWT would accept this header for HS256 with nothing special in it."""
    raw = _b64url_canonical(segment)
    if raw is None or not raw.isascii():
        return False
    try:
        header = json.loads(raw)
    except ValueError:
        return False
    if not isinstance(header, dict) or header.get("alg") != _ALG:
        return False
    if "crit" in header or "b64" in header:
        return False
    return not ("kid" in header and not isinstance(header["kid"], str))


def token_error_reason(exc: Exception) -> tuple[str, str]:
    """``(kind, readable reason)`` for a PyJWT / TokenError exception; never includes the key."""
    if isinstance(exc, TokenError):
        kind = {"bad_signature": "bad signature", "expired": "expired JWT"}.get(exc.reason, "bad JWT")
        return kind, str(exc)
    if isinstance(exc, jwt.InvalidSignatureError):
        return "bad signature", "bad JWT signature (does not match the secret)"
    if isinstance(exc, jwt.ExpiredSignatureError):
        return "expired JWT", "JWT expired (exp is in the past)"
    if isinstance(exc, jwt.ImmatureSignatureError):
        return "bad JWT", f"JWT not valid yet: {exc}"
    if isinstance(exc, jwt.InvalidAlgorithmError):
        return "bad JWT", f"JWT algorithm refused (only {_ALG} is accepted): {exc}"
    if isinstance(exc, jwt.DecodeError):
        return "bad JWT", f"malformed JWT: {exc}"
    if isinstance(exc, jwt.InvalidTokenError):
        return "bad JWT", f"invalid JWT: {exc}"
    return "bad JWT", f"invalid JWT: {type(exc).__name__}"


def decode_one(token: bytes | str, key: bytes, *, leeway_s: float = 0) -> dict[str, Any] | tuple[str, str]:
    """PyJWT's verdict on one token: its payload, or ``(kind, reason)``."""
    try:
        return jwt.decode(token, key, algorithms=[_ALG], leeway=leeway_s)
    except jwt.InvalidAlgorithmError:
        try:
            alg = jwt.get_unverified_header(token).get("alg")
        except jwt.InvalidTokenError:  # pragma: no cover - the header decoded a moment ago
            alg = None
        return "bad JWT", f"JWT algorithm {alg!r} refused (only {_ALG} is accepted)"
    except jwt.InvalidTokenError as exc:
        return token_error_reason(exc)


@dataclass
class TokenBatch:
    """The outcome of verifying ``n`` tokens.

    ``fast_index``/``fast_json``: tokens whose header and signature passed on the
    fast path, and the raw text of their payloads (ASCII, ``{...}``, no escapes,
    no registered claims, one line). Their JSON is not parsed yet: whoever parses
    it must call :meth:`resolve` for any that fail to parse, so the verdict is PyJWT's.
    ``decoded``: index -> payload for tokens PyJWT accepted on the slow path.
    ``errors``: index -> ``(kind, reason)`` for tokens refused."""

    tokens: Sequence[bytes | str] = field(repr=False)
    key: bytes = field(repr=False)
    leeway_s: float = 0
    fast_index: list[int] = field(default_factory=list)
    fast_json: list[bytes] = field(default_factory=list)
    decoded: dict[int, dict[str, Any]] = field(default_factory=dict)
    errors: dict[int, tuple[str, str]] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.tokens)

    def resolve(self, i: int) -> dict[str, Any] | tuple[str, str]:
        """PyJWT's verdict on token ``i`` (payload dict or ``(kind, reason)``)."""
        return decode_one(self.tokens[i], self.key, leeway_s=self.leeway_s)

    def payloads(self) -> list[dict[str, Any] | tuple[str, str]]:
        """Every token's payload dict, or ``(kind, reason)`` where refused, in input order."""
        out: list[Any] = [None] * self.n
        for i, raw in zip(self.fast_index, self.fast_json, strict=True):
            try:
                obj = json.loads(raw)
            except ValueError:
                obj = None
            out[i] = obj if isinstance(obj, dict) else self.resolve(i)
        for i, payload in self.decoded.items():
            out[i] = payload
        for i, err in self.errors.items():
            out[i] = err
        return out


def verify_tokens(tokens: Sequence[bytes | str], secret: str | bytes, *, leeway_s: float = 0) -> TokenBatch:
    """Verify compact HS256 JWTs with ``secret``; see the module docstring for the strictness contract."""
    key = check_secret(secret)
    secret_text = secret if isinstance(secret, str) else secret.decode("utf-8", "replace")
    headers: dict[bytes, bool] = {}
    batch = TokenBatch(tokens=tokens, key=key, leeway_s=leeway_s)
    digest = hmac.digest
    compare = hmac.compare_digest
    b64enc = base64.urlsafe_b64encode
    fast_index, fast_json = batch.fast_index, batch.fast_json
    slow: list[int] = []
    for i, tok in enumerate(tokens):
        if isinstance(tok, str):
            try:
                tok = tok.encode("ascii")
            except UnicodeEncodeError:
                slow.append(i)
                continue
        parts = tok.split(b".")
        if len(parts) != 3:
            slow.append(i)
            continue
        h, p, s = parts
        ok = headers.get(h)
        if ok is None:
            ok = headers[h] = _header_ok(h)
        if not ok or len(s) != 43:
            slow.append(i)
            continue
        signing_input = tok[: len(h) + 1 + len(p)]
        if not compare(b64enc(digest(key, signing_input, "sha256"))[:43], s):
            slow.append(i)
            continue
        raw = _b64url_canonical(p)
        if (
            raw is None
            or raw[:1] != b"{"
            or raw[-1:] != b"}"
            or not raw.isascii()
            or b"\\" in raw
            or b"\n" in raw
            or b"\r" in raw
            or any(m in raw for m in _CLAIM_MARKERS)
        ):
            slow.append(i)
            continue
        fast_index.append(i)
        fast_json.append(raw)
    for i in slow:
        verdict = batch.resolve(i)
        if isinstance(verdict, dict):
            batch.decoded[i] = verdict
        else:
            kind, reason = verdict
            batch.errors[i] = (kind, reason.replace(secret_text, "***") if secret_text else reason)
    return batch
