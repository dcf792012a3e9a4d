"""A minimal routing endpoint for the dashboard's ``--demo`` (a plain ASGI app): it answers every
routing request with one target, or, without a target, 503 (a failing endpoint)."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["demo_endpoint"]


def demo_endpoint(target_id: int | None, target_type: str | None) -> Any:
    """An ASGI app: ``{"target_id", "target_type"}`` for every POST, or 503 when ``target_id`` is None."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        more = True
        while more:  # read the request body, whatever it is
            message = await receive()
            more = message.get("more_body", False)
        if target_id is None:
            status, body = 503, b'{"error": "demo endpoint is failing"}'
        else:
            status, body = 200, json.dumps({"target_id": target_id, "target_type": target_type}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": body})

    return app
