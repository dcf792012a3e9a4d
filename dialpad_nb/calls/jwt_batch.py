"""Verify many HS256 routing-request JWTs at once, exactly as strictly as PyJWT.

Reading a month of signed routing requests token by token with
``jwt.decode`` costs tens of microseconds each. Tokens from one signer share
their header segment, so this module checks each distinct header once, computes each token's
HMAC-SHA256 from SHA-256 states primed once with the key's pads (RFC 2104;
what :func:`hmac.digest` computes, without re-keying per token) and compares the
canonical base64url signature in constant time.

Strictness contract: a token is accepted here **only if**
``jwt.decode(token, secret, algorithms=["HS256"], leeway=leeway_s, options=signing.DECODE_OPTIONS)``
accepts it -- the same call :func:`dialpad_nb.core.signing.verify` (the endpoint) makes. The fast path accepts only the plain case (canonical base64url segments,
a cached header that is exactly a JSON object with ``alg == "HS256"`` and no
``crit``/``b64``/non-string ``kid``, a signature that matches, a one-line payload
starting with ``{``); every other token -- every rejection -- is handed to PyJWT
itself, so its verdict and its error are PyJWT's. The caller that parses the
fast payloads hands back to PyJWT (:meth:`TokenBatch.resolve`) any payload that is
not a JSON object or has a registered claim (``exp``/``nbf``/``iat``/``aud``/``sub``/``jti``). ``tests/test_jwt_batch.py``
property-tests the equivalence.
"""

from __future__ import annotations

import base64
import binascii
import gc
import hashlib
import hmac
import json
import mmap
import multiprocessing as mp
import os
import pickle
import warnings
from array import array
from binascii import a2b_base64
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import jwt
from jwt.algorithms import HMACAlgorithm

from ..core.errors import TokenError, ValidationError
from ..core.signing import ALGORITHM as _ALG
from ..core.signing import DECODE_OPTIONS

__all__ = ["TokenBatch", "check_secret", "decode_one", "token_error_reason", "verify_tokens"]

_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_B64URL = frozenset(_ALPHABET)
_TOKEN_CHARS = _ALPHABET + b"."
_TO_STD = bytes.maketrans(b"-_", b"+/")
_TO_URL = bytes.maketrans(b"+/", b"-_")
_PAD = (b"", b"", b"==", b"=")
_SIG_BLOCK = 1024
_IPAD = bytes(x ^ 0x36 for x in range(256))
_OPAD = bytes(x ^ 0x5C for x in range(256))
_LAST2 = frozenset(b"AQgw")  # last char of a 2-char group: its low 4 bits must be zero (canonical)
_LAST3 = frozenset(b"AEIMQUYcgkosw048")  # last char of a 3-char group: low 2 bits zero
# A payload with an escape, a line break or a registered claim name (as a quoted string) goes to
# PyJWT, which validates claims; without escapes a key "exp" can only be spelled '"exp"'.
CLAIMS = frozenset({"exp", "nbf", "iat", "aud", "sub", "jti"})
"""Registered claims PyJWT validates by default: a payload with any of these keys is PyJWT's to judge."""


def check_secret(secret: str | bytes) -> bytes:
    """The HMAC key bytes for ``secret``, refused exactly where PyJWT refuses it (empty, PEM, ssh)."""
    try:
        return HMACAlgorithm(HMACAlgorithm.SHA256).prepare_key(secret)
    except jwt.InvalidKeyError as exc:
        raise ValidationError(str(exc), field="secret") from None


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
        return jwt.decode(token, key, algorithms=[_ALG], leeway=leeway_s, options=DECODE_OPTIONS)
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
    fast path, and the raw text of their payloads (each starts with ``{`` and is one
    line). Their JSON is not parsed yet: whoever parses it must hand to
    :meth:`resolve` every payload that is not a JSON object or that has a key in
    :data:`CLAIMS`, so that the verdict on those is PyJWT's.
    ``decoded``: index -> payload for tokens PyJWT accepted on the slow path.
    ``errors``: index -> ``(kind, reason)`` for tokens refused.
    """

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
        """Every token's payload dict, or ``(kind, reason)`` where refused, in input order.

        Parses the fast payloads (so ``errors`` then also holds fast-path tokens PyJWT
        refuses for their payload or claims)."""
        out: list[Any] = [None] * self.n
        for i, raw in zip(self.fast_index, self.fast_json, strict=True):
            try:
                obj = json.loads(raw)
            except ValueError:
                obj = None
            if not isinstance(obj, dict) or not CLAIMS.isdisjoint(obj):
                obj = self.resolve(i)
                if not isinstance(obj, dict):
                    self.errors[i] = obj
            out[i] = obj
        for i, payload in self.decoded.items():
            out[i] = payload
        for i, err in self.errors.items():
            out[i] = err
        return out


def _payload_ok(raw: bytes) -> bool:
    return raw[:1] == b"{" and b"\n" not in raw and b"\r" not in raw


def _hmac_pads(key: bytes) -> tuple[Any, Any]:
    """``copy`` methods of SHA-256 objects primed with the HMAC inner and outer pads of ``key``."""
    if len(key) > 64:
        key = hashlib.sha256(key).digest()
    key = key.ljust(64, b"\0")
    inner = hashlib.sha256(key.translate(_IPAD))
    outer = hashlib.sha256(key.translate(_OPAD))
    return inner.copy, outer.copy


def verify_tokens(
    tokens: Sequence[bytes | str], secret: str | bytes, *, leeway_s: float = 0, charset_checked: bool = False
) -> TokenBatch:
    """Verify compact HS256 JWTs with ``secret``; see the module docstring for the strictness contract.

    ``charset_checked``: the caller has already checked that every token is ``bytes`` made of
    base64url characters and dots only (skips one pass over all tokens).

    From :data:`PARALLEL_MIN` tokens on, on a machine with two cores or more that can ``fork``,
    the second half is verified in a forked child process while this one verifies the first:
    HMAC-SHA256 in ``hashlib`` holds the GIL for short messages, so threads would not help. The
    child only hashes and decodes (no pyarrow, no I/O) and sends back its verdicts; if it fails
    in any way, this process verifies that half itself. Same verdicts either way (tested)."""
    check_secret(secret)
    if len(tokens) >= PARALLEL_MIN and _can_fork():
        return _verify_halves(tokens, secret, leeway_s=leeway_s, charset_checked=charset_checked)
    return _verify(tokens, secret, leeway_s=leeway_s, charset_checked=charset_checked)


PARALLEL_MIN = 1 << 16
"""Batches of at least this many tokens are verified on two cores (:func:`verify_tokens`)."""


_PATIENCE_S = 30.0
_PATIENCE_PER_TOKEN_S = 50e-6
"""How long the forked child may take: ~20x what verifying its half takes on the 2-core dev machine."""


def _can_fork() -> bool:
    return (os.cpu_count() or 1) > 1 and "fork" in mp.get_all_start_methods()


def _verify_halves(
    tokens: Sequence[bytes | str], secret: str | bytes, *, leeway_s: float, charset_checked: bool
) -> TokenBatch:
    """:func:`_verify` of ``tokens[half:]`` in a forked child (which inherits them: nothing to
    send but the verdicts) and of ``tokens[:half]`` here, merged into one batch in token order.
    The child's payloads come back through a shared anonymous mapping (sized for them: a decoded
    payload is shorter than its token), the rest through a pipe."""
    half = len(tokens) // 2
    ctx = mp.get_context("fork")
    receiver, sender = ctx.Pipe(duplex=False)
    shared = mmap.mmap(-1, max(sum(map(len, tokens[half:])), 1))
    child = ctx.Process(
        target=_verify_child,
        args=(sender, shared, tokens, half, secret, leeway_s, charset_checked),
        daemon=True,
    )
    try:
        with warnings.catch_warnings():
            # Python 3.12+ warns that a fork while threads run (pyarrow's pool) can deadlock a
            # child that takes a lock one of them held: this child only hashes and decodes bytes
            warnings.simplefilter("ignore", DeprecationWarning)
            child.start()
    except OSError:  # no process to be had (limits): verify it all here
        receiver.close()
        sender.close()
        shared.close()
        return _verify(tokens, secret, leeway_s=leeway_s, charset_checked=charset_checked)
    sender.close()
    try:
        batch = _verify(tokens[:half], secret, leeway_s=leeway_s, charset_checked=charset_checked)
        try:
            if not receiver.poll(_PATIENCE_S + _PATIENCE_PER_TOKEN_S * (len(tokens) - half)):
                raise TimeoutError  # a child stuck (a fork can inherit a lock held): give up on it
            index, decoded, errors, size = pickle.loads(receiver.recv_bytes())
            fast_json = shared[:size] if size >= 0 else receiver.recv_bytes()
            fast_index = array("q", index).tolist()
        except (EOFError, OSError, pickle.UnpicklingError):  # the child died or hung: its half here
            other = _verify(tokens[half:], secret, leeway_s=leeway_s, charset_checked=charset_checked)
            fast_index, decoded, errors = other.fast_index, other.decoded, other.errors
            fast_json = b"\n".join(other.fast_json)
    finally:
        receiver.close()
        if child.is_alive():
            child.kill()
        child.join()
        child.close()
        shared.close()
    batch.tokens = tokens
    batch.fast_index += [i + half for i in fast_index]
    if fast_index:
        batch.fast_json += fast_json.split(b"\n")  # payloads on the fast path hold no newline
    batch.decoded.update({i + half: v for i, v in decoded.items()})
    batch.errors.update({i + half: v for i, v in errors.items()})
    return batch


def _verify_child(
    sender: Any,
    shared: mmap.mmap,
    tokens: Sequence[bytes | str],
    half: int,
    secret: str | bytes,
    leeway_s: float,
    checked: bool,
) -> None:
    """In the forked child: verify ``tokens[half:]``, hand back the verdicts, exit."""
    gc.disable()  # a collection would touch every object inherited (copy-on-write): the child is short-lived
    try:
        b = _verify(tokens[half:], secret, leeway_s=leeway_s, charset_checked=checked)
        payloads = b"\n".join(b.fast_json)
        fits = len(payloads) <= len(shared)
        if fits:
            shared[: len(payloads)] = payloads
        meta = (array("q", b.fast_index).tobytes(), b.decoded, b.errors, len(payloads) if fits else -1)
        sender.send_bytes(pickle.dumps(meta))
        if not fits:  # pragma: no cover - a decoded payload is shorter than its token
            sender.send_bytes(payloads)
    finally:
        sender.close()


def _verify(
    tokens: Sequence[bytes | str], secret: str | bytes, *, leeway_s: float, charset_checked: bool
) -> TokenBatch:
    """:func:`verify_tokens` in this process."""
    key = check_secret(secret)
    secret_text = secret if isinstance(secret, str) else secret.decode("utf-8", "replace")
    batch = TokenBatch(tokens=tokens, key=key, leeway_s=leeway_s)
    toks: Sequence[bytes]
    if charset_checked:
        toks, clean_all = tokens, True  # type: ignore[assignment]  # the caller checked: all bytes
    else:
        toks = [t.encode("utf-8", "surrogateescape") if isinstance(t, str) else t for t in tokens]
        # one C-level pass: are all tokens made of base64url characters and dots only?
        clean_all = not b"".join(toks).translate(None, _TOKEN_CHARS)
    headers: dict[bytes, bool] = {}
    inner_copy, outer_copy = _hmac_pads(key)
    compare = hmac.compare_digest
    fast_index, fast_json = batch.fast_index, batch.fast_json
    a2b, to_std, pad, last2, last3 = a2b_base64, _TO_STD, _PAD, _LAST2, _LAST3
    slow: list[int] = []
    cand: list[int] = []  # header fine, signature to check
    cand_p: list[bytes] = []
    cand_sig: list[bytes] = []
    cand_mac: list[bytes] = []
    for i, tok in enumerate(toks):
        if not clean_all and tok.translate(None, _TOKEN_CHARS):
            slow.append(i)
            continue
        parts = tok.split(b".")
        if len(parts) != 3:
            slow.append(i)
            continue
        h, p, sig = parts
        ok = headers.get(h)
        if ok is None:
            ok = headers[h] = _header_ok(h)
        if not ok or len(sig) != 43:
            slow.append(i)
            continue
        # HMAC-SHA256 (RFC 2104) from precomputed pads: what hmac.digest computes, without re-keying
        inner = inner_copy()
        inner.update(tok[: len(tok) - 44])
        outer = outer_copy()
        outer.update(inner.digest())
        cand.append(i)
        cand_p.append(p)
        cand_sig.append(sig)
        cand_mac.append(outer.digest())
    # Signatures, all at once: a 43-char segment + "A" decodes to 33 bytes whose last byte is 0 exactly
    # when the segment is canonical (its last 2 bits are 0), and whose first 32 are the signature.
    # Compared in blocks, so one bad signature sends only its block to the per-token comparison.
    good = [True] * len(cand)
    for lo in range(0, len(cand), _SIG_BLOCK):
        sigs, macs = cand_sig[lo : lo + _SIG_BLOCK], cand_mac[lo : lo + _SIG_BLOCK]
        got = a2b((b"A".join(sigs) + b"A").translate(to_std))
        if not compare(got, b"\0".join(macs) + b"\0"):
            good[lo : lo + len(sigs)] = [
                compare(a2b(sig.translate(to_std) + b"A"), mac + b"\0")
                for sig, mac in zip(sigs, macs, strict=True)
            ]
    for i, p, ok in zip(cand, cand_p, good, strict=True):
        r = len(p) & 3  # canonical unpadded base64url payload (as PyJWT 2.15 requires)
        if not ok or r == 1 or (r == 2 and p[-1] not in last2) or (r == 3 and p[-1] not in last3):
            slow.append(i)
            continue
        fast_index.append(i)
        fast_json.append(a2b(p.translate(to_std) + pad[r]))
    slow.sort()
    # payload shapes the fast path takes: checked once over all payloads, per payload only if that fails
    joined = b"\n".join(fast_json)
    n = len(fast_json)
    if n and not (
        joined[:1] == b"{"
        and b"\r" not in joined
        and joined.count(b"\n") == n - 1
        and joined.count(b"\n{") == n - 1
    ):
        keep = [k for k, raw in enumerate(fast_json) if _payload_ok(raw)]
        if len(keep) != n:
            dropped = sorted(set(range(n)) - set(keep))
            slow += [fast_index[k] for k in dropped]
            batch.fast_index = [fast_index[k] for k in keep]
            batch.fast_json = [fast_json[k] for k in keep]
    for i in slow:
        verdict = batch.resolve(i)
        if isinstance(verdict, dict):
            batch.decoded[i] = verdict
        else:
            kind, reason = verdict
            batch.errors[i] = (kind, reason.replace(secret_text, "***") if secret_text else reason)
    return batch
