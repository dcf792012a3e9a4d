"""HS256 JWTs for routing requests, algorithm pinned.

Dialpad signs the routing request with the router's secret when it has one.
We sign exactly the request object (no added claims) and verify with PyJWT,
accepting only HS256: ``alg: none`` and every other algorithm are refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import jwt

from .errors import TokenError, ValidationError

if TYPE_CHECKING:  # pragma: no cover - PyJWT names its options type only in newer releases
    from jwt.types import Options

__all__ = ["ALGORITHM", "DECODE_OPTIONS", "sign", "verify"]

ALGORITHM = "HS256"
DECODE_OPTIONS: Options = {"require": [], "verify_aud": False, "verify_iss": False}
"""PyJWT ``options`` of every verification (here and in :mod:`dialpad_nb.calls.jwt_batch`): ``exp``/``nbf``/``iat``
are checked when present, ``aud``/``iss`` are not (Dialpad documents neither)."""


def sign(payload: Mapping[str, Any], secret: str) -> str:
    """The compact HS256 JWT of ``payload``."""
    if not secret:
        raise ValidationError("a signing secret is required", field="secret")
    return jwt.encode(dict(payload), secret, algorithm=ALGORITHM)


def verify(token: str | bytes, secret: str, *, leeway_s: float = 0) -> dict[str, Any]:
    """The payload of an HS256 ``token`` signed with ``secret``.

    ``exp`` / ``nbf`` are enforced when present. Raises :class:`TokenError`
    with a ``reason``; the message never contains the secret or the token."""
    if isinstance(token, bytes):
        try:
            token = token.decode("ascii")
        except UnicodeDecodeError:
            raise TokenError("token is not ASCII text", reason="malformed") from None
    token = token.strip()
    try:
        header = jwt.get_unverified_header(token)
    except jwt.DecodeError as exc:
        raise TokenError(f"malformed JWT: {exc}", reason="malformed") from None
    if header.get("alg") != ALGORITHM:
        raise TokenError(
            f"JWT algorithm {header.get('alg')!r} refused: only {ALGORITHM} is accepted",
            reason="bad_algorithm",
        )
    try:
        payload = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            leeway=leeway_s,
            options=DECODE_OPTIONS,
        )
    except jwt.ExpiredSignatureError:
        raise TokenError("JWT has expired", reason="expired") from None
    except jwt.ImmatureSignatureError:
        raise TokenError("JWT is not valid yet (nbf/iat in the future)", reason="not_yet_valid") from None
    except jwt.InvalidSignatureError:
        raise TokenError("JWT signature does not match the secret", reason="bad_signature") from None
    except jwt.InvalidTokenError as exc:
        raise TokenError(f"invalid JWT: {exc}", reason="malformed") from None
    except (
        TypeError,
        ValueError,
        OverflowError,
    ) as exc:  # a claim of the wrong type ({"exp": null} in old PyJWT)
        raise TokenError(
            f"invalid JWT: a claim has the wrong type ({type(exc).__name__})", reason="malformed"
        ) from None
    if not isinstance(payload, dict):
        raise TokenError("JWT payload is not a JSON object", reason="bad_payload")
    return payload
