"""httpx answers and exceptions -> :mod:`dialpad_nb.core.errors`, in one place.

Both HTTP clients (:class:`~dialpad_nb.api.client.DialpadClient` for Dialpad's API and
:class:`~dialpad_nb.api.control.SandboxControl` for the sandbox's control API)
convert through these functions, so an error reads the same whichever one raised it,
and URLs in errors never carry a query string (where ``?apikey=`` could hide) or credentials.
"""

from __future__ import annotations

import email.utils
from collections.abc import Mapping

import httpx

from ..core.errors import APIError, RateLimited, error_for_status
from ..core.models import strip_query

__all__ = ["error_from_response", "message_from_body", "parse_retry_after", "strip_query", "transport_reason"]


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


def error_from_response(response: httpx.Response, *, method: str, url: str, now_ms: int) -> APIError:
    """The :class:`~dialpad_nb.core.errors.APIError` subclass for an error answer, with Dialpad's message."""
    status = response.status_code
    cls = error_for_status(status)
    message = message_from_body(response)
    if cls is RateLimited:
        retry_after = parse_retry_after(response.headers.get("Retry-After"), now_ms)
        return RateLimited(message, retry_after_s=retry_after, status=status, method=method, url=url)
    return cls(message, status=status, method=method, url=url)
