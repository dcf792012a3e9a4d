"""The endpoint's admin route: read and change the canary at run time, behind its own token.

::

    GET  /admin/canary                              -> the canary's state (shares, stops, counts)
    POST /admin/canary {"candidate": "candidate", "share": 0.10}
    POST /admin/canary {"candidate": "candidate", "stop": true, "reason": "paged by ops"}
    POST /admin/canary {"candidate": "candidate", "resume": true}

Every call needs ``Authorization: Bearer <admin token>`` (the ``admin_token`` the endpoint was
started with; 401 otherwise, compared in constant time). Without an admin token the route
answers 404. The token is never logged, echoed, or shown in ``/healthz`` or ``/metrics``; a
refused call is one warning line without it. Each change is a ``canary`` event in the log
(trigger ``admin``); with several workers it reaches all of them through the shared state file
(:mod:`dialpad_nb.endpoint.canary`). The path is reserved: a routing request POSTed to it is
not routed.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Mapping
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ..core.errors import ValidationError
from ..core.strict_json import decode_json

__all__ = ["ADMIN_PATH", "CanaryAdmin", "admin_routes"]

ADMIN_PATH = "/admin/canary"
MAX_ADMIN_BODY = 4096
REASON_MAX = 500

logger = logging.getLogger("dialpad_nb.endpoint")


def admin_routes(kit: Any) -> list[Route]:
    """The admin route of the endpoint kit ``kit`` (an :class:`~dialpad_nb.endpoint.app.Endpoint`)."""

    async def canary_admin(request: Request) -> JSONResponse:
        return await _handle(kit, request)

    return [Route(ADMIN_PATH, canary_admin, methods=["GET", "POST"])]


def _error(status: int, message: str, **headers: str) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": status, "message": message}},
        status_code=status,
        headers={"Cache-Control": "no-store", **headers},
    )


def _authorized(kit: Any, request: Request) -> bool:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(token.strip().encode("utf-8", "replace"), kit.admin_token.encode("utf-8"))


async def _body(request: Request) -> bytes:
    chunks: list[bytes] = []
    size = 0

    async def read() -> None:
        nonlocal size
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_ADMIN_BODY:
                raise ValidationError(f"larger than {MAX_ADMIN_BODY} bytes", field="body")
            chunks.append(chunk)

    try:
        await asyncio.wait_for(read(), 2.0)
    except TimeoutError:
        raise ValidationError("not complete within 2 s", field="body") from None
    except ClientDisconnect:
        raise ValidationError("the client went away before the body was complete", field="body") from None
    return b"".join(chunks)


async def _handle(kit: Any, request: Request) -> JSONResponse:
    if kit.admin_token is None:
        return _error(
            404, "no admin route: start the endpoint with an admin token to change the canary at run time"
        )
    if not _authorized(kit, request):
        client = request.client.host if request.client else "?"
        logger.warning("admin route: refused a %s from %s without the admin token", request.method, client)
        return _error(
            401,
            "the admin route needs 'Authorization: Bearer <admin token>'",
            **{"WWW-Authenticate": "Bearer"},
        )
    canary = kit.canary
    if request.method == "GET":
        return JSONResponse(
            {"canary": None if canary is None else canary.status()}, headers={"Cache-Control": "no-store"}
        )
    if canary is None:
        return _error(409, "this endpoint runs no canary (start it with canary={'candidate': share})")
    try:
        data = decode_json((await _body(request)).decode("utf-8"), field="body")
        record = _apply(canary, data)
    except UnicodeDecodeError:
        return _error(400, "body: not UTF-8 text")
    except ValidationError as exc:
        return _error(400, str(exc))
    return JSONResponse(
        {"changed": record is not None, "event": record, "canary": canary.status()},
        headers={"Cache-Control": "no-store"},
    )


def _apply(canary: Any, data: Any) -> dict[str, Any] | None:
    """One change from an admin body; the event logged, or None when nothing changed."""
    if not isinstance(data, Mapping):
        raise ValidationError(
            'expected a JSON object such as {"candidate": "candidate", "share": 0.1}', field="body"
        )
    unknown = sorted(set(data) - {"candidate", "share", "stop", "resume", "reason"})
    if unknown:
        raise ValidationError(f"unknown field(s) {', '.join(unknown)}", field="body")
    name = data.get("candidate")
    if not isinstance(name, str):
        raise ValidationError("name the candidate to change", field="candidate")
    actions = [k for k in ("share", "stop", "resume") if k in data]
    if len(actions) != 1:
        raise ValidationError("give exactly one of share, stop, resume", field="body")
    action = actions[0]
    if action == "share":
        return canary.set_share(name, data["share"], trigger="admin")
    if data[action] is not True:
        raise ValidationError("must be true", field=action)
    if action == "resume":
        return canary.resume(name, trigger="admin")
    reason = data.get("reason")
    if reason is not None and (not isinstance(reason, str) or len(reason) > REASON_MAX):
        raise ValidationError(f"must be text of at most {REASON_MAX} characters", field="reason")
    return canary.stop(
        name,
        reason=f"stopped from the admin route: {reason}" if reason else "stopped from the admin route",
        trigger="admin",
    )


class CanaryAdmin:
    """A client for an endpoint's ``/admin/canary`` (the token is sent, never shown).

    ::

        admin = CanaryAdmin("https://routing.example.com", token=os.environ["CANARY_ADMIN_TOKEN"])
        admin.status()                      # shares, stops, counts
        admin.set_share("candidate", 0.10)  # 10 % of callers
        admin.stop("candidate", reason="paged by ops")
        admin.resume("candidate")

    Each change answers ``{"changed", "event", "canary"}``; an error status raises the package's
    :class:`~dialpad_nb.core.errors.APIError` for it (401: a wrong token; 400: a bad value)."""

    def __init__(self, url: str, token: str, *, timeout_s: float = 5.0, transport: Any = None) -> None:
        import httpx

        self.url = (
            url.rstrip("/") + ADMIN_PATH if not url.rstrip("/").endswith(ADMIN_PATH) else url.rstrip("/")
        )
        self._client = httpx.Client(
            timeout=timeout_s, headers={"Authorization": f"Bearer {token}"}, transport=transport
        )

    def __repr__(self) -> str:
        return f"CanaryAdmin({self.url!r})"

    def _send(self, method: str, body: Mapping[str, Any] | None = None) -> dict[str, Any]:
        import httpx

        from ..core.errors import TransportError, error_for_status

        try:
            response = self._client.request(method, self.url, json=body)
        except httpx.HTTPError as exc:
            raise TransportError(
                f"no answer from the admin route ({type(exc).__name__})", method=method, url=self.url
            ) from None
        try:
            data = response.json()
        except ValueError:
            data = None
        if not response.is_success:
            message = data.get("error", {}).get("message") if isinstance(data, dict) else None
            raise error_for_status(response.status_code)(
                str(message or response.reason_phrase),
                status=response.status_code,
                method=method,
                url=self.url,
            )
        if not isinstance(data, dict):
            from ..core.errors import MalformedResponse

            raise MalformedResponse("the admin route did not answer a JSON object", status=response.status_code,
                                    method=method, url=self.url)  # fmt: skip
        return data

    def status(self) -> dict[str, Any]:
        """The canary's state (``None`` when the endpoint runs no canary)."""
        return self._send("GET")["canary"]

    def set_share(self, candidate: str, share: float) -> dict[str, Any]:
        return self._send("POST", {"candidate": candidate, "share": share})

    def stop(self, candidate: str, *, reason: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"candidate": candidate, "stop": True}
        if reason:
            body["reason"] = reason
        return self._send("POST", body)

    def resume(self, candidate: str) -> dict[str, Any]:
        return self._send("POST", {"candidate": candidate, "resume": True})

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> CanaryAdmin:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
