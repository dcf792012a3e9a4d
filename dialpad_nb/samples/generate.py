"""Seeded, realistic call traffic for Harbor & Pine Outfitters (the sandbox's company).

Everything here is deterministic for a given ``seed``: the committed sample in
``data/`` and the benchmark logs are produced by these functions.

- :func:`generate_calls` -- routing-request payloads (one row per inbound call):
  office-hours and weekday profile in America/Los_Angeles, four router numbers
  (:data:`INTERNAL_NUMBERS`: sales, support, Spanish line, a campaign number that
  starts mid-month), repeat callers, a share of callers in the CRM (with Dialpad
  ``contact_id``/``contact_type``).
- :func:`generate_crm` -- the CRM export the callers are drawn from: phone
  (human formatting like ``(415) 555-0123``), owner (a user of the directory),
  status, segment.
- :func:`write_call_log` -- a JSONL log mixing plain payloads, compact HS256 JWTs
  and JSON-wrapped JWTs, plus deliberately bad lines of several kinds.

All phone numbers are in fictional ranges (NANP ``555-01xx``, UK ``020 7946 0xxx``).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import hmac
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..core.errors import ValidationError
from ..core.models import is_missing
from .company import USERS

__all__ = [
    "BAD_LINE_KINDS",
    "CAMPAIGN_START",
    "INTERNAL_NUMBERS",
    "SAMPLE_SECRET",
    "TIMEZONE",
    "generate_calls",
    "generate_crm",
    "write_call_log",
    "write_sample",
]

SAMPLE_SECRET = "sample-not-a-secret-0123456789abcdefghij"
"""The (fake, public) router secret the committed sample's JWT lines are signed with.
40 characters; meant for examples and tests only -- never print it in notebooks."""

INTERNAL_NUMBERS: dict[str, str] = {
    "sales": "+14155550142",
    "support": "+14155550199",
    "spanish": "+12065550150",
    "campaign": "+16285550177",
}
"""The router's numbers (what callers dial): ``internal_number`` in the payloads."""

CAMPAIGN_START = "2026-10-12"
"""Local date the campaign number starts receiving calls in the default month."""

TIMEZONE = "America/Los_Angeles"

BAD_LINE_KINDS: tuple[str, ...] = (
    "truncated_json",
    "not_json",
    "bad_number",
    "missing_field",
    "bad_signature",
    "alg_none",
    "duplicate_call_id",
)
"""Kinds of deliberately bad records :func:`write_call_log` inserts (cycled in this order)."""

# weekday (Mon=0) and hour-of-day weights, local time
_WEEKDAY = np.array([1.15, 1.1, 1.05, 1.0, 0.9, 0.35, 0.2])
_HOUR = np.array(
    [0.05, 0.03, 0.02, 0.02, 0.03, 0.08, 0.25, 0.6, 1.2, 1.6, 1.7, 1.5,
     1.2, 1.4, 1.5, 1.4, 1.2, 0.9, 0.55, 0.35, 0.25, 0.18, 0.12, 0.08]
)  # fmt: skip
_AREA_CODES = (
    "415", "628", "510", "650", "408", "206", "425", "253", "503", "971", "213", "310", "323", "818",
    "619", "858", "702", "602", "480", "303", "720", "512", "214", "713", "305", "312", "646", "212",
    "917", "617", "404", "615", "801", "907", "808", "916", "559", "661", "760", "909",
    "201", "202", "215", "216", "224", "248", "267", "281", "314", "347", "402", "405", "414", "443",
    "469", "504", "513", "518", "541", "562", "571", "585", "614", "626", "630", "651", "678", "704",
    "707", "714", "718", "732", "747", "763", "775", "805", "831", "847", "925", "951",
)  # fmt: skip
_SPANISH_AREA_CODES = ("305", "213", "323", "915", "210", "786", "956")
_ID_BASE = 7_300_000_000_000_000


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, 0x48_50]))  # "HP"


def _caller_pool(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    """``size`` distinct fictional caller numbers (E.164) and a Spanish-speaking flag."""
    us = [f"+1{ac}55501{k:02d}" for ac in _AREA_CODES for k in range(100)]
    es = [f"+1{ac}55501{k:02d}" for ac in _SPANISH_AREA_CODES for k in range(100)]
    uk = [f"+4420794600{k:02d}" for k in range(100)]
    pool = list(dict.fromkeys(us + es + uk))
    if size > len(pool):
        raise ValidationError(
            f"at most {len(pool)} distinct fictional callers, asked for {size}", field="callers"
        )
    numbers = np.array(pool, dtype=object)[rng.permutation(len(pool))[:size]]
    spanish_codes = tuple(f"+1{ac}" for ac in _SPANISH_AREA_CODES)
    spanish = np.array([n.startswith(spanish_codes) for n in numbers]) & (rng.random(size) < 0.45)
    return numbers, spanish


def _human(number: str, rng: np.random.Generator) -> str:
    """A number as a person would type it into a CRM."""
    if number.startswith("+1"):
        a, b, c = number[2:5], number[5:8], number[8:]
        style = rng.integers(0, 5)
        return (
            f"({a}) {b}-{c}",
            f"{a}-{b}-{c}",
            f"{a}.{b}.{c}",
            f"+1 {a} {b} {c}",
            f"1{a}{b}{c}",
        )[style]
    return f"+44 20 {number[5:9]} {number[9:]}"


def generate_crm(*, seed: int = 0, contacts: int = 2_400, callers: int | None = None) -> pd.DataFrame:
    """The CRM export: ``contact_id``, ``name``, ``phone`` (human formatting), ``owner``,
    ``status`` (customer/prospect/churned), ``segment`` (enterprise/smb/consumer).

    ``contact_id`` is the Dialpad shared-contact id that appears in routing requests
    from these callers. The CRM holds the first ``contacts`` numbers of the caller pool
    that :func:`generate_calls` draws from with the same ``seed``."""
    rng = _rng(seed)
    numbers, _ = _caller_pool(rng, callers or _default_callers(contacts))
    crm_rng = np.random.default_rng(np.random.SeedSequence([seed, 0xC12]))
    k = min(contacts, len(numbers))
    owners = np.array([u["display_name"] for u in USERS], dtype=object)
    status = crm_rng.choice(["customer", "prospect", "churned"], size=k, p=[0.55, 0.33, 0.12])
    segment = crm_rng.choice(["enterprise", "smb", "consumer"], size=k, p=[0.15, 0.45, 0.40])
    first = ("Avery", "Blake", "Casey", "Devon", "Emery", "Finley", "Harper", "Jordan", "Kai", "Logan",
             "Morgan", "Parker", "Quinn", "Reese", "Rowan", "Sage", "Taylor", "Drew")  # fmt: skip
    last = ("Alvarez", "Brooks", "Castillo", "Dubois", "Eriksen", "Fontaine", "Garcia", "Hughes", "Ito",
            "Jensen", "Kowalski", "Larsen", "Mendoza", "Novak", "Ortiz", "Patel", "Rossi", "Silva")  # fmt: skip
    names = [f"{first[crm_rng.integers(len(first))]} {last[crm_rng.integers(len(last))]}" for _ in range(k)]
    return pd.DataFrame(
        {
            "contact_id": [str(_ID_BASE // 10 + 10_007 * (i + 1)) for i in range(k)],
            "name": names,
            "phone": [_human(n, crm_rng) for n in numbers[:k]],
            "owner": owners[crm_rng.integers(0, len(owners), size=k)],
            "status": status,
            "segment": segment,
        }
    )


def _default_callers(contacts: int) -> int:
    return max(6_000, contacts * 2)


def generate_calls(
    n: int,
    *,
    seed: int = 0,
    start: str = "2026-10-01",
    days: int = 31,
    crm_contacts: int = 2_400,
    callers: int | None = None,
    campaign_start: str | None = CAMPAIGN_START,
) -> pd.DataFrame:
    """``n`` routing-request payloads, sorted by ``date_started``.

    Columns are the payload fields: ``date_started`` (int ms), ``call_id`` (int64,
    increasing), ``external_number``/``internal_number`` (E.164), ``contact_id``/
    ``contact_type`` (None for unknown callers; ``"shared"`` for CRM contacts,
    ``"local"`` for a user's own contacts). ``start`` is a local date (America/Los_Angeles)."""
    if n < 0:
        raise ValidationError(f"must be >= 0, got {n}", field="n")
    if days < 1:
        raise ValidationError(f"must be >= 1, got {days}", field="days")
    rng = _rng(seed)
    pool_size = callers or _default_callers(crm_contacts)
    numbers, spanish = _caller_pool(rng, pool_size)
    crm = generate_crm(seed=seed, contacts=crm_contacts, callers=pool_size)
    n_crm = len(crm)
    call_rng = np.random.default_rng(np.random.SeedSequence([seed, 0xCA11]))

    # when: weighted (day, hour) slots in local time, uniform inside the hour
    day0 = pd.Timestamp(start, tz=TIMEZONE).normalize()
    slot_starts = pd.date_range(day0, periods=days * 24, freq="h")  # DST-aware wall-clock hours
    weights = _WEEKDAY[slot_starts.day_of_week] * _HOUR[slot_starts.hour]
    slot = call_rng.choice(len(slot_starts), size=n, p=weights / weights.sum())
    slot_ms = slot_starts.as_unit("ms").asi8
    when = slot_ms[slot] + call_rng.integers(0, 3_600_000, size=n)
    when.sort()

    # who: repeat callers -- a Zipf-like preference over the pool; CRM contacts call more often
    rank_w = 1.0 / (call_rng.permutation(pool_size) + 1.0) ** 0.55
    rank_w[:n_crm] *= 1.6
    who = call_rng.choice(pool_size, size=n, p=rank_w / rank_w.sum())
    ext = numbers[who]

    # which line: status-driven sales/support split, Spanish speakers to the Spanish line,
    # the campaign number once it has started
    status = np.full(n, "unknown", dtype=object)
    in_crm = who < n_crm
    status[in_crm] = crm["status"].to_numpy()[who[in_crm]]
    p_support = np.select(
        [status == "customer", status == "churned", status == "prospect"], [0.7, 0.45, 0.2], 0.4
    )
    line = np.where(call_rng.random(n) < p_support, "support", "sales").astype(object)
    line[spanish[who] & (call_rng.random(n) < 0.8)] = "spanish"
    if campaign_start is not None:
        started = when >= pd.Timestamp(campaign_start, tz=TIMEZONE).value // 1_000_000
        line[started & ~in_crm & (call_rng.random(n) < 0.22)] = "campaign"
    internal = np.array([INTERNAL_NUMBERS[k] for k in line], dtype=object)

    # contact fields: CRM contacts are Dialpad shared contacts; a few others are users' local contacts
    contact_id = np.full(n, None, dtype=object)
    contact_type = np.full(n, None, dtype=object)
    contact_id[in_crm] = crm["contact_id"].to_numpy()[who[in_crm]]
    contact_type[in_crm] = "shared"
    local = ~in_crm & (call_rng.random(n) < 0.04)
    contact_id[local] = [str(_ID_BASE // 100 + 31 * int(w)) for w in who[local]]
    contact_type[local] = "local"

    call_id = _ID_BASE + np.cumsum(call_rng.integers(1, 5_000, size=n, dtype=np.int64))
    return pd.DataFrame(
        {
            "date_started": when.astype(np.int64),
            "call_id": call_id.astype(np.int64),
            "external_number": ext,
            "internal_number": internal,
            "contact_id": contact_id,
            "contact_type": contact_type,
        }
    )


# --------------------------------------------------------------------------- writing logs


_JWT_HEADER = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').rstrip(b"=")


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def _sign(payload: Mapping[str, Any], secret: str) -> str:
    """A compact HS256 JWT, byte-identical to ``jwt.encode(payload, secret, "HS256")``."""
    body = _JWT_HEADER + b"." + _b64(json.dumps(payload, separators=(",", ":")).encode())
    return (body + b"." + _b64(hmac.digest(secret.encode(), body, hashlib.sha256))).decode()


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    cols = {c: [None if _missing(v) else v for v in df[c].tolist()] for c in df.columns}
    return [dict(zip(cols, vals, strict=True)) for vals in zip(*cols.values(), strict=True)]


def _missing(v: Any) -> bool:
    return is_missing(v)


def _bad_line(kind: str, rec: dict[str, Any], secret: str | None, rng: np.random.Generator) -> str:
    if kind == "truncated_json":
        text = json.dumps(rec)
        return text[: int(rng.integers(10, len(text) - 5))]
    if kind == "not_json":
        return "routing request dropped: upstream timeout"
    if kind == "bad_number":
        return json.dumps({**rec, "external_number": "+1555"})
    if kind == "missing_field":
        return json.dumps({k: v for k, v in rec.items() if k != "call_id"})
    if kind == "bad_signature":
        return _sign(rec, "wrong-secret-" + "x" * 27)
    if kind == "alg_none":
        head = _b64(b'{"alg":"none","typ":"JWT"}')
        return (head + b"." + _b64(json.dumps(rec).encode()) + b".").decode()
    raise ValidationError(f"unknown bad line kind {kind!r}", field="kind")  # pragma: no cover


def write_call_log(
    path: str | os.PathLike,
    n: int,
    *,
    seed: int = 0,
    jwt_share: float = 0.3,
    wrapped_share: float = 0.05,
    secret: str | None = None,
    bad_lines: int = 0,
    blank_lines: int = 0,
    calls: pd.DataFrame | None = None,
    progress: bool = False,
    **generate: Any,
) -> dict[str, int]:
    """Write ``n`` generated calls (or ``calls``) as a JSONL log; gzip if ``path`` ends in ``.gz``.
    ``progress``: tqdm bars (to stderr) while the lines are made and while the file is written.

    Each call is a plain JSON payload, a compact JWT (share ``jwt_share``) or a
    ``{"token": ...}`` wrapped JWT (share ``wrapped_share``), signed with ``secret``.
    ``bad_lines`` extra records of :data:`BAD_LINE_KINDS` (cycled) and ``blank_lines``
    blank lines are inserted at seeded positions. Returns counts:
    ``{"calls", "plain", "jwt", "wrapped", "bad", "blank", "records"}`` (records = calls + bad)."""
    if not 0 <= jwt_share + wrapped_share <= 1:
        raise ValidationError("jwt_share + wrapped_share must be between 0 and 1", field="jwt_share")
    if (jwt_share or wrapped_share) and not secret:
        raise ValidationError(
            "signing JWT lines needs a secret (or jwt_share=0, wrapped_share=0)", field="secret"
        )
    df = calls if calls is not None else generate_calls(n, seed=seed, **generate)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x10C]))
    recs = _records(df)
    u = rng.random(len(recs))
    form = np.where(u < jwt_share, 1, np.where(u < jwt_share + wrapped_share, 2, 0))
    lines: list[str] = []
    signer = secret or ""  # only used when jwt_share or wrapped_share (then a secret was required)
    from tqdm.auto import tqdm

    for rec, f in zip(
        tqdm(recs, desc="signing and encoding", unit=" calls", disable=not progress),
        form.tolist(),
        strict=True,
    ):
        if f == 0:
            lines.append(json.dumps(rec))
        elif f == 1:
            lines.append(_sign(rec, signer))
        else:
            lines.append(json.dumps({"token": _sign(rec, signer)}))
    inserts: list[tuple[int, str]] = []
    for k in range(bad_lines):
        kind = BAD_LINE_KINDS[k % len(BAD_LINE_KINDS)]
        pos = int(rng.integers(1, len(lines) + 1)) if lines else 0
        src = recs[pos - 1] if recs else {"date_started": 0, "call_id": 1}
        if kind == "duplicate_call_id":
            text = json.dumps({**src, "external_number": "+14155550101"})
        else:
            text = _bad_line(kind, src, secret or "x" * 40, rng)
        inserts.append((pos, text))
    for _ in range(blank_lines):
        inserts.append((int(rng.integers(0, len(lines) + 1)), ""))
    for pos, text in sorted(inserts, key=lambda t: t[0], reverse=True):
        lines.insert(pos, text)
    data = ("\n".join(lines) + "\n").encode() if lines else b""
    path = Path(path)
    step = 1 << 22
    with (
        open(path, "wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) if path.suffix == ".gz" else raw as out,
        tqdm(
            total=len(data), desc=f"writing {path.name}", unit="B", unit_scale=True, disable=not progress
        ) as bar,
    ):
        for start in range(0, len(data), step):  # in steps, so the bar moves (same bytes as one write)
            out.write(data[start : start + step])
            bar.update(min(step, len(data) - start))
    return {
        "calls": len(recs),
        "plain": int((form == 0).sum()),
        "jwt": int((form == 1).sum()),
        "wrapped": int((form == 2).sum()),
        "bad": bad_lines,
        "blank": blank_lines,
        "records": len(recs) + bad_lines,
    }


def write_sample(
    data_dir: str | os.PathLike = "data", *, n: int = 24_000, seed: int = 2026
) -> dict[str, Any]:
    """(Re)write the committed sample: ``calls_2026-10.jsonl.gz`` and ``crm_contacts.csv``."""
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    counts = write_call_log(
        data_dir / "calls_2026-10.jsonl.gz",
        n,
        seed=seed,
        secret=SAMPLE_SECRET,
        jwt_share=0.3,
        wrapped_share=0.05,
        bad_lines=14,
        blank_lines=3,
        start="2026-10-01",
        days=31,
    )
    generate_crm(seed=seed).to_csv(data_dir / "crm_contacts.csv", index=False)
    return counts
