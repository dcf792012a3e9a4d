"""Dialpad's objects, their validation, and secret redaction.

Every object that can hold a router secret shows ``'***'`` in its ``repr``,
``str`` and HTML; the secret itself is reachable only as an explicit
attribute (:attr:`CallRouter.secret`) for code that must sign with it.
"""

from __future__ import annotations

import html
import ipaddress
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from .clock import MAX_MS, MIN_MS
from .errors import ValidationError
from .policy import DIALPAD

__all__ = [
    "DIRECTORY_TYPES",
    "E164_PATTERN",
    "MAX_NAME_LENGTH",
    "MAX_URL_LENGTH",
    "NUMBER_STATUSES",
    "TARGET_TYPES",
    "CallRouter",
    "DirectoryEntry",
    "Number",
    "Office",
    "RoutingDecision",
    "RoutingRequest",
    "normalize_e164",
    "parse_id",
    "parse_routing_answer",
    "html_table",
    "is_missing",
    "is_loopback_url",
    "redact",
    "redact_url",
    "strip_query",
    "validate_e164",
    "validate_name",
    "validate_secret",
    "validate_target_type",
    "validate_url",
]

TARGET_TYPES: tuple[str, ...] = (
    "callcenter",
    "callrouter",
    "channel",
    "coachinggroup",
    "coachingteam",
    "department",
    "office",
    "room",
    "staffgroup",
    "unknown",
    "user",
)
"""Dialpad's target-type enum (``default_target_type``, routing answers)."""

NUMBER_STATUSES: tuple[str, ...] = (
    "available",
    "call_center",
    "call_router",
    "department",
    "dynamic_caller",
    "office",
    "pending",
    "porting",
    "room",
    "user",
)
"""Dialpad's number ``status`` enum (``GET /numbers?status=``; read by the client and the sandbox)."""

DIRECTORY_TYPES: tuple[str, ...] = ("office", "department", "callcenter", "user")
"""The target types a company directory lists (:class:`DirectoryEntry.type`): the client's
``targets()`` and the sandbox's seeded company."""

E164_PATTERN = r"^\+[1-9][0-9]{6,14}$"
"""An E.164 number: ``+`` then 7-15 ASCII digits, the first not 0. Python's ``re`` and
Arrow's RE2 (the vectorised call reader) read it the same way when used with ``fullmatch``."""
_E164 = re.compile(E164_PATTERN)
_PUNCT = re.compile(r"[\s().\-/]")
REDACTED = "***"

MAX_NAME_LENGTH = 255
"""Longest router name accepted (Dialpad documents none; assumption ``name_url_limits``)."""
MAX_URL_LENGTH = 2048
"""Longest routing URL accepted (Dialpad documents none; assumption ``name_url_limits``)."""
MAX_SECRET_LENGTH = 1024
"""Longest router secret accepted (an HS256 key; Dialpad documents only the minimum)."""
_MAX_ID_DIGITS = 20  # 2**63 has 19 digits; a few leading zeros are fine, 4,300 are not


# --------------------------------------------------------------------------- validation


def is_missing(value: Any) -> bool:
    """The one test for "no value": ``None``, a float NaN, ``pandas.NA`` or ``pandas.NaT``
    (checked by type, so pandas need not be imported)."""
    if value is None:
        return True
    if isinstance(value, float):
        return value != value
    return type(value).__name__ in ("NAType", "NaTType")


def validate_e164(value: Any, *, field: str = "number") -> str:
    """``value`` if it is an E.164 number (``+`` then 7–15 digits), else ValidationError."""
    if not isinstance(value, str) or not _E164.fullmatch(value):
        raise ValidationError(f"{value!r} is not an E.164 number like +14155550100", field=field)
    return value


def normalize_e164(value: Any, *, default_country_code: str = "1") -> str | None:
    """Best-effort E.164 form of a phone number, or None if it cannot be one.

    Strips spaces, dots, dashes, slashes and parentheses; ``00`` becomes
    ``+``; a bare 10-digit number gets ``+<default_country_code>`` (NANP);
    11 digits starting with the country code get a ``+``."""
    if is_missing(value):
        return None
    text = _PUNCT.sub("", str(value))
    if text.startswith("00"):
        text = "+" + text[2:]
    if not text.startswith("+"):
        if not text.isdigit():
            return None
        if len(text) == 10:
            text = "+" + default_country_code + text
        elif len(text) == 10 + len(default_country_code) and text.startswith(default_country_code):
            text = "+" + text
        else:
            text = "+" + text
    return text if _E164.fullmatch(text) else None


def _check_text(value: str, field: str, max_length: int) -> None:
    """One line of real Unicode (no lone surrogates) of at most ``max_length`` characters."""
    if len(value) > max_length:
        raise ValidationError(
            f"is {len(value):,} characters long; at most {max_length:,} allowed", field=field
        )
    if "\n" in value or "\r" in value:
        raise ValidationError("must be a single line", field=field)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValidationError(
            f"is not valid Unicode text (a lone surrogate at character {exc.start})", field=field
        ) from None


def validate_name(value: Any, *, field: str = "name") -> str:
    """A router name: required, one line, at most :data:`MAX_NAME_LENGTH` characters; returned stripped."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationError("is required", field=field)
    _check_text(value, field, MAX_NAME_LENGTH)
    return value.strip()


def validate_url(value: Any, *, field: str = "routing_url") -> str:
    """An absolute http(s) URL with a host, at most :data:`MAX_URL_LENGTH` characters.

    The message shows the URL without its query (which may hold a token)."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationError("a URL is required", field=field)
    _check_text(value, field, MAX_URL_LENGTH)
    try:
        parts = urlsplit(value)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in range
    except ValueError as exc:
        raise ValidationError(f"{strip_query(value)!r} is not a URL ({exc})", field=field) from None
    if parts.scheme not in ("http", "https") or not host:
        raise ValidationError(f"{strip_query(value)!r} is not an absolute http(s) URL", field=field)
    if any(c.isspace() for c in value):
        raise ValidationError(f"{strip_query(value)!r} contains white space", field=field)
    return value


def is_loopback_url(url: str) -> bool:
    """True when ``url``'s host is a loopback address or ``localhost``."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def strip_query(url: Any) -> str:
    """``url`` for messages: without query, fragment or ``user:password@`` (any may hold a credential).

    Used for the clients' errors and for the sandbox's attempt details and emails."""
    try:
        p = urlsplit(str(url))
    except ValueError:
        return "<unparseable url>"
    return urlunsplit((p.scheme, p.netloc.rpartition("@")[2], p.path, "", ""))


def redact_url(url: Any) -> str:
    """``url`` for display: every query value and any ``user:password@`` shown as ``***``.

    ``https://ops.example/route?token=abc&v=2`` → ``https://ops.example/route?token=***&v=***``:
    the shape stays readable, no value that could be a credential is shown."""
    text = str(url)
    try:
        p = urlsplit(text)
    except ValueError:
        return "<unparseable url>"
    netloc = p.netloc
    if "@" in netloc:
        netloc = f"{REDACTED}@{netloc.rpartition('@')[2]}"
    query = p.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, REDACTED) for k, _ in pairs], safe="*") if pairs else REDACTED
    fragment = REDACTED if p.fragment else ""
    return urlunsplit((p.scheme, netloc, p.path, query, fragment))


def validate_secret(value: Any, *, field: str = "secret", min_length: int | None = None) -> str:
    """A router secret: text of at least ``min_length`` (default ``DIALPAD.min_secret_length``)
    characters, one line.

    The message never repeats the secret."""
    need = DIALPAD.min_secret_length if min_length is None else min_length
    if not isinstance(value, str):
        raise ValidationError("must be text", field=field)
    if "\n" in value or "\r" in value:
        raise ValidationError("must be a single line", field=field)
    if len(value) < need:
        raise ValidationError(f"must be at least {need} characters (got {len(value)})", field=field)
    if len(value) > MAX_SECRET_LENGTH:
        raise ValidationError(
            f"must be at most {MAX_SECRET_LENGTH} characters (got {len(value)})", field=field
        )
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError("is not valid Unicode text (a lone surrogate)", field=field) from None
    return value


def validate_target_type(value: Any, *, field: str = "default_target_type") -> str:
    if value not in TARGET_TYPES:
        raise ValidationError(
            f"{value!r} is not a target type; expected one of {', '.join(TARGET_TYPES)}",
            field=field,
        )
    return value


def parse_id(value: Any, *, field: str = "id") -> int:
    """A Dialpad 64-bit id, given as int or decimal string (the API sends both)."""
    if isinstance(value, bool):
        raise ValidationError(f"{value!r} is not an id", field=field)
    if isinstance(value, int):
        out = value
    elif isinstance(value, str) and _is_ascii_digits(value.strip()):
        text = value.strip()
        if len(text) > _MAX_ID_DIGITS:
            raise ValidationError(f"{len(text)} digits is outside the 64-bit id range", field=field)
        out = int(text)
    else:
        shown = value if not isinstance(value, str) or len(value) <= 40 else value[:40] + "…"
        raise ValidationError(f"{shown!r} is not an integer id", field=field)
    if not 0 < out < 2**63:
        raise ValidationError(f"{value!r} is outside the 64-bit id range", field=field)
    return out


def _is_ascii_digits(text: str) -> bool:
    """``0-9`` only: ``str.isdigit`` is also true for ``²`` and ``٣``, which ``int()`` refuses or misreads."""
    return text.isascii() and text.isdigit()


def html_table(fields: Mapping[str, Any], *, caption: str) -> str:
    """A two-column HTML table (field, value), everything escaped: how objects show in notebooks."""
    rows = "".join(
        f"<tr><th style='text-align:left'>{html.escape(str(k))}</th>"
        f"<td style='text-align:left'>{html.escape(str(v))}</td></tr>"
        for k, v in fields.items()
    )
    return f"<table><caption>{html.escape(caption)}</caption>{rows}</table>"


def redact(obj: Any) -> Any:
    """A copy of a JSON-like object with every ``secret`` value replaced by ``'***'``."""
    if isinstance(obj, Mapping):
        return {
            k: (REDACTED if k in ("secret", "api_key", "apikey") and v else redact(v)) for k, v in obj.items()
        }
    if isinstance(obj, list):
        return [redact(v) for v in obj]
    return obj


# --------------------------------------------------------------------------- objects


def _opt_id(value: Any, field: str) -> int | None:
    return None if value is None or value == "" else parse_id(value, field=field)


def _opt_text(value: Any, field: str) -> str | None:
    """A text field of an API answer (None when absent); ValidationError naming it otherwise."""
    if value is None or isinstance(value, str):
        return value
    raise ValidationError(f"expected text, got {type(value).__name__}", field=field)


def _text_list(value: Any, field: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValidationError("expected a list of text", field=field)
    return tuple(value)


@dataclass(frozen=True)
class CallRouter:
    """A Dialpad call router. ``secret`` never shows in repr/str/HTML."""

    id: int
    name: str
    routing_url: str
    office_id: int
    default_target_id: int
    default_target_type: str
    enabled: bool = True
    phone_numbers: tuple[str, ...] = ()
    secret: str | None = field(default=None, repr=False, compare=False)
    office_name: str | None = field(default=None, repr=False, compare=False)
    """``'Harbor & Pine — San Francisco (office)'`` when the client knew the directory (display only)."""
    default_target_name: str | None = field(default=None, repr=False, compare=False)
    """``'Support Tier 1 (callcenter)'`` when the client knew the directory (display only)."""

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> CallRouter:
        """A router from Dialpad's JSON; ValidationError naming the field when a value has the wrong type."""
        signature = data.get("signature") or {}
        if not isinstance(signature, Mapping):
            raise ValidationError(f"expected an object, got {type(signature).__name__}", field="signature")
        enabled = data.get("enabled", True)
        if not isinstance(enabled, bool):
            raise ValidationError(f"expected true or false, got {type(enabled).__name__}", field="enabled")
        secret = signature.get("secret") or None
        if secret is not None and not isinstance(secret, str):
            raise ValidationError(f"expected text, got {type(secret).__name__}", field="signature.secret")
        return cls(
            id=parse_id(data.get("id"), field="id"),
            name=_opt_text(data.get("name"), "name") or "",
            routing_url=_opt_text(data.get("routing_url"), "routing_url") or "",
            office_id=parse_id(data.get("office_id"), field="office_id"),
            default_target_id=parse_id(data.get("default_target_id"), field="default_target_id"),
            default_target_type=_opt_text(data.get("default_target_type"), "default_target_type")
            or "unknown",
            enabled=enabled,
            phone_numbers=_text_list(data.get("phone_numbers"), "phone_numbers"),
            secret=secret,
        )

    @property
    def has_secret(self) -> bool:
        return bool(self.secret)

    @property
    def signature(self) -> dict[str, str]:
        """Dialpad's ``signature`` object, secret redacted."""
        return {"type": "jwt", "algo": "HS256", "secret": REDACTED} if self.secret else {}

    def to_dict(self) -> dict[str, Any]:
        """A plain dict for tables; the secret is redacted, and so is the routing URL's query."""
        return {
            "id": self.id,
            "name": self.name,
            "enabled": self.enabled,
            "phone_numbers": list(self.phone_numbers),
            "routing_url": redact_url(self.routing_url),
            "office_id": self.office_id,
            "default_target_type": self.default_target_type,
            "default_target_id": self.default_target_id,
            "signed": self.has_secret,
        }

    def with_names(self, office: str, default_target: str) -> CallRouter:
        """The same router, shown with its office and default target by name."""
        return replace(self, office_name=office, default_target_name=default_target)

    def __repr__(self) -> str:
        signed = ", signed=True" if self.secret else ""
        office = f"office={self.office_name!r}" if self.office_name else f"office_id={self.office_id}"
        target = (
            f"default_target={self.default_target_name!r}"
            if self.default_target_name
            else f"default_target={self.default_target_type}:{self.default_target_id}"
        )
        return (
            f"CallRouter(id={self.id}, name={self.name!r}, enabled={self.enabled}, "
            f"routing_url={redact_url(self.routing_url)!r}, {office}, {target}, "
            f"phone_numbers={list(self.phone_numbers)}{signed})"
        )

    __str__ = __repr__

    def _repr_html_(self) -> str:
        shown = self.to_dict()
        caption = f"Call router {self.id}"
        if self.office_name and self.default_target_name:  # as ops read it: names, ids beside them
            shown = {
                "id": self.id,
                "name": self.name,
                "enabled": self.enabled,
                "phone_numbers": list(self.phone_numbers),
                "routing_url": self.routing_url,
                "office": f"{self.office_name}, id {self.office_id}",
                "default_target": f"{self.default_target_name}, id {self.default_target_id}",
                "signed": self.has_secret,
            }
            caption += f": {self.name}"
        return html_table(shown, caption=caption)


@dataclass(frozen=True)
class Number:
    number: str
    status: str | None = None
    target_id: int | None = None
    target_type: str | None = None
    office_id: int | None = None
    company_id: int | None = None
    area_code: str | None = None
    type: str | None = None

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Number:
        number = data.get("number")
        if not isinstance(number, str) or not number:
            raise ValidationError(f"expected the number as text, got {type(number).__name__}", field="number")
        return cls(
            number=number,
            status=_opt_text(data.get("status"), "status"),
            target_id=_opt_id(data.get("target_id"), "target_id"),
            target_type=_opt_text(data.get("target_type"), "target_type"),
            office_id=_opt_id(data.get("office_id"), "office_id"),
            company_id=_opt_id(data.get("company_id"), "company_id"),
            area_code=_opt_text(data.get("area_code"), "area_code"),
            type=_opt_text(data.get("type"), "type"),
        )


@dataclass(frozen=True)
class Office:
    id: int
    name: str
    timezone: str | None = None
    admin_email: str | None = None
    phone_numbers: tuple[str, ...] = ()

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Office:
        return cls(
            id=parse_id(data.get("id") or data.get("office_id"), field="id"),
            name=_opt_text(data.get("name"), "name") or "",
            timezone=_opt_text(data.get("timezone"), "timezone"),
            admin_email=_opt_text(data.get("admin_email"), "admin_email"),
            phone_numbers=_text_list(data.get("phone_numbers"), "phone_numbers"),
        )


@dataclass(frozen=True)
class DirectoryEntry:
    """A routable target in the company directory: a user, department, call centre or office."""

    id: int
    type: str
    name: str
    office_id: int | None = None
    email: str | None = None

    @classmethod
    def from_api(cls, kind: str, data: Mapping[str, Any]) -> DirectoryEntry:
        """An entry from Dialpad's user / department / call centre / office object."""
        if kind == "user":
            name = data.get("display_name") or " ".join(
                p for p in (data.get("first_name"), data.get("last_name")) if p
            )
            emails = data.get("emails") or []
            email_ = emails[0] if emails else data.get("email")
        else:
            name = data.get("name") or ""
            email_ = data.get("admin_email") if kind == "office" else None
        raw_id = data.get("id") if data.get("id") is not None else data.get("office_id")
        office = data.get("office_id") if kind != "office" else raw_id
        return cls(
            id=parse_id(raw_id, field=f"{kind}.id"),
            type=kind,
            name=name or f"{kind} {raw_id}",
            office_id=None if office in (None, "") else parse_id(office, field=f"{kind}.office_id"),
            email=email_,
        )

    @property
    def label(self) -> str:
        return f"{self.name} ({self.type} {self.id})"


@dataclass(frozen=True)
class RoutingRequest:
    """What Dialpad POSTs to ``routing_url`` for one inbound call."""

    date_started: int
    call_id: int
    external_number: str
    internal_number: str
    contact_id: str | None = None
    contact_type: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "date_started": self.date_started,
            "call_id": self.call_id,
            "external_number": self.external_number,
            "internal_number": self.internal_number,
            "contact_id": self.contact_id,
            "contact_type": self.contact_type,
        }

    @classmethod
    def from_json(cls, data: Any) -> RoutingRequest:
        """Validate a decoded routing request; ValidationError names the bad field."""
        if not isinstance(data, Mapping):
            raise ValidationError(f"expected a JSON object, got {type(data).__name__}", field="payload")
        for name in ("date_started", "call_id", "external_number", "internal_number"):
            if data.get(name) in (None, ""):
                raise ValidationError("is required", field=name)
        ds = data["date_started"]
        if isinstance(ds, bool) or not isinstance(ds, (int, float)) or not math.isfinite(ds):
            raise ValidationError(f"{ds!r} is not milliseconds since the epoch", field="date_started")
        if not MIN_MS <= ds <= MAX_MS:
            raise ValidationError("is outside the years 1970-9999", field="date_started")
        contact_id = data.get("contact_id")
        if contact_id is not None and not isinstance(contact_id, (str, int)) or isinstance(contact_id, bool):
            raise ValidationError(f"expected an id, got {type(contact_id).__name__}", field="contact_id")
        contact_type = data.get("contact_type")
        if contact_type is not None and not isinstance(contact_type, str):
            raise ValidationError(f"expected text, got {type(contact_type).__name__}", field="contact_type")
        return cls(
            date_started=int(ds),
            call_id=parse_id(data["call_id"], field="call_id"),
            external_number=validate_e164(data["external_number"], field="external_number"),
            internal_number=validate_e164(data["internal_number"], field="internal_number"),
            contact_id=None if contact_id in (None, "") else str(contact_id),
            contact_type=contact_type or None,
        )


@dataclass(frozen=True)
class RoutingDecision:
    """An endpoint's answer: the target for the call."""

    target_id: int
    target_type: str

    def to_json(self) -> dict[str, Any]:
        return {"target_id": self.target_id, "target_type": self.target_type}


def parse_routing_answer(data: Any) -> RoutingDecision:
    """Validate an endpoint's JSON answer.

    Accepts ``{"target_id", "target_type"}`` and (assumption ``action_route``)
    ``{"action": "route", "target_id", "target_type"}``. Raises ValidationError
    with ``field`` set; an unknown target type has ``field == "target_type"``."""
    if not isinstance(data, Mapping):
        raise ValidationError(f"expected a JSON object, got {type(data).__name__}", field="body")
    action = data.get("action")
    if action is not None and action != "route":
        raise ValidationError(f"unsupported action {action!r}", field="action")
    if "target_id" not in data or data.get("target_id") in (None, ""):
        raise ValidationError("is required", field="target_id")
    if "target_type" not in data:
        raise ValidationError("is required", field="target_type")
    target_id = parse_id(data["target_id"], field="target_id")
    target_type = validate_target_type(data["target_type"], field="target_type")
    return RoutingDecision(target_id, target_type)
