"""Alerts to a chat tool's incoming webhook: a JSON POST of ``{"text": ...}`` (Slack's shape, which
Mattermost, Rocket.Chat, Google Chat and Teams' workflows accept too). The one sender of the
package: the watcher's incidents (``ops.watcher``) and the canary's stop (``endpoint.canary``).

A webhook URL is a secret (whoever has it can post to the channel): it never appears in output,
reprs or exceptions -- only its scheme and host do (:func:`redact_webhook_url`).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx

from .errors import ValidationError

__all__ = ["AlertPoster", "redact_webhook_url", "slack_message"]


def redact_webhook_url(url: str) -> str:
    """A webhook URL for display: its token is in the path, so only scheme, host and port show
    (``core.models.redact_url`` keeps paths and hides query values, for routing URLs).
    ``https://hooks.slack.com/services/T0/B0/secret`` -> ``https://hooks.slack.com/…``."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}/…"


def slack_message(text: str) -> dict[str, Any]:
    """The body of one alert: ``{"text": text}``."""
    return {"text": str(text)}


class AlertPoster:
    """POSTs alerts to one incoming-webhook URL; :meth:`post` says why a POST failed (or None)."""

    def __init__(
        self, url: str, *, timeout_s: float = 5.0, transport: httpx.BaseTransport | None = None
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValidationError("must be an http(s) URL", field="alert_url")
        self._url = url
        self.where = redact_webhook_url(url)
        self._http = httpx.Client(timeout=timeout_s, transport=transport, trust_env=False)

    def __repr__(self) -> str:
        return f"AlertPoster({self.where!r})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> AlertPoster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def post(self, text: str) -> str | None:
        """Send one alert. None when the webhook answered 2xx, else the reason in words (no URL path)."""
        try:
            response = self._http.post(self._url, json=slack_message(text))
        except httpx.TimeoutException:
            return f"alert to {self.where} timed out"
        except httpx.HTTPError as exc:
            return f"alert to {self.where} failed: {type(exc).__name__}"
        if 200 <= response.status_code < 300:
            return None
        return f"alert to {self.where} answered HTTP {response.status_code}"
