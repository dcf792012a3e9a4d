"""httpx answers and exceptions -> :mod:`dialpad_nb.core.errors`, in one place.

Both HTTP clients (:class:`~dialpad_nb.api.client.DialpadClient` for Dialpad's API and
:class:`~dialpad_nb.api.control.SandboxControl` for the sandbox's control API)
convert through these functions, so an error reads the same whichever one raised it,
and URLs in errors never carry a query string (where ``?apikey=`` could hide) or credentials.
"""

from __future__ import annotations

import email.utils
from collections.abc import Mapping
from urllib.parse import urlsplit

import httpx

from ..core.errors import APIError, RateLimited, error_for_status
from ..core.models import strip_query
from ..core.pacing import endpoint_key
from ..core.policy import key_need

__all__ = [
    "error_from_response",
    "forbidden_message",
    "message_from_body",
    "parse_retry_after",
    "strip_query",
    "transport_reason",
]


def parse_retry_after(value: str | None, now_ms: int) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now_ms / 1000)


def message_from_body(response: httpx.Response) -> str:
    """Dialpad's error message (``{"error": {"code", "message"}}``), else a short text."""
    try:
        data = response.json()
    except ValueError:
        data = None
    if isinstance(data, Mapping):
        err = data.get("error", data)
        if isinstance(err, Mapping):
            message = err.get("message") or err.get("detail")
            if message:
                return str(message)
        elif isinstance(err, str) and err:
            return err
        if isinstance(data.get("message"), str):
            return data["message"]
    text = response.text.strip()
    if text and len(text) <= 200 and "<" not in text:
        return text
    return response.reason_phrase or "error"


def transport_reason(exc: Exception) -> str:
    text = str(exc).strip()
    low = text.lower()
    if isinstance(exc, httpx.TimeoutException):
        return "no answer in time (timeout)"
    if "refused" in low:
        return "connection refused"
    if "name or service not known" in low or "nodename nor servname" in low or "getaddrinfo" in low:
        return "host name not found"
    if "reset" in low:
        return "connection reset"
    return text or type(exc).__name__


def forbidden_message(method: str, path: str, said: str) -> str:
    """A 403 in words: what the key cannot do and what it needs (the scope or admin key Dialpad's
    reference asks for, :data:`~dialpad_nb.core.policy.API_OPERATIONS`), then what the server said."""
    need = key_need(endpoint_key(method, path))
    if need is None:
        words = f"this key may not {method} {path}"
    elif need.scope:
        admin = " (on a company admin API key)" if need.admin else ""
        words = f"this key cannot {need.action}: it needs the {need.scope} scope{admin}"
    elif need.admin:
        words = f"this key cannot {need.action}: it needs to be a company admin API key"
    else:
        words = (
            f"this key cannot {need.action}: Dialpad's reference names no scope for it; ask your "
            "Dialpad admin for a company admin API key"
        )
    return f"{words}. The server said: {said}"


def error_from_response(response: httpx.Response, *, method: str, url: str, now_ms: int) -> APIError:
    """The :class:`~dialpad_nb.core.errors.APIError` subclass for an error answer, with Dialpad's message
    (a 403 explained in words: :func:`forbidden_message`)."""
    status = response.status_code
    cls = error_for_status(status)
    message = message_from_body(response)
    if status == 403:
        message = forbidden_message(method, urlsplit(url).path, message)
    if cls is RateLimited:
        retry_after = parse_retry_after(response.headers.get("Retry-After"), now_ms)
        return RateLimited(message, retry_after_s=retry_after, status=status, method=method, url=url)
    return cls(message, status=status, method=method, url=url)
