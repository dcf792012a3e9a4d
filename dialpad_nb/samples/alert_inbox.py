"""A stand-in for a Slack channel: a local HTTP server that keeps every ``{"text": ...}`` alert
POSTed to it (the shape of Slack's incoming webhooks), for notebooks and tests.

::

    inbox = AlertInbox.serve()
    app = routing_endpoint(..., alert_url=inbox.url)   # the canary's alert URL
    inbox.wait_for(1)                                  # the alert texts that arrived
    inbox.stop()
"""

from __future__ import annotations

import json
import threading
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from ..core.errors import ServerNotStarted
from ..core.serving import ServedApp, serve_app

__all__ = ["AlertInbox"]


class AlertInbox:
    """Keeps the ``text`` of every JSON alert POSTed to :attr:`url` (answers ``ok`` like Slack)."""

    def __init__(self) -> None:
        self.messages: list[str] = []
        self._arrived = threading.Condition()
        self._served: ServedApp | None = None
        self.app = Starlette(routes=[Route("/{path:path}", self._receive, methods=["POST"])])

    @classmethod
    def serve(cls) -> AlertInbox:
        inbox = cls()
        inbox._served = serve_app(inbox.app, name="alert-inbox")
        return inbox

    @property
    def url(self) -> str:
        if self._served is None:
            raise ServerNotStarted("the inbox is not served: use AlertInbox.serve()")
        return self._served.url + "/hooks/alerts"

    async def _receive(self, request: Request) -> PlainTextResponse:
        try:
            body: Any = json.loads(await request.body())
        except ValueError:
            return PlainTextResponse("invalid_payload", status_code=400)
        if not isinstance(body, dict) or not isinstance(body.get("text"), str):
            return PlainTextResponse("no_text", status_code=400)
        with self._arrived:
            self.messages.append(body["text"])
            self._arrived.notify_all()
        return PlainTextResponse("ok")

    def wait_for(self, n: int = 1, timeout_s: float = 10.0) -> list[str]:
        """The messages once ``n`` have arrived (TimeoutError after ``timeout_s``)."""
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self.messages) >= n, timeout_s):
                raise TimeoutError(f"{len(self.messages)} of {n} alerts arrived within {timeout_s:g} s")
            return list(self.messages)

    def stop(self) -> None:
        if self._served is not None:
            self._served.stop()

    def __repr__(self) -> str:
        return f"AlertInbox({len(self.messages)} messages)"
