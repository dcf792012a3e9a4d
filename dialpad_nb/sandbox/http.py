"""What every sandbox route shares: Dialpad's error answers, request bodies, cursors, paths.

Routes raise :class:`ErrorAnswer` to answer ``{"error": {"code", "message"}}``; the app turns
it into the response (and every other error into Dialpad's shape too). Bodies are read with a
size limit and parsed with positions in the message (never the body). Cursors are opaque and
tied to the list they page.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from ..core.errors import DialpadError, ValidationError
from ..core.models import parse_id
from ..core.strict_json import decode_json

if TYPE_CHECKING:
    from .app import SandboxState

__all__ = [
    "ID_KEYS",
    "ErrorAnswer",
    "decode_cursor",
    "encode_cursor",
    "error_body",
    "error_response",
    "page_response",
    "parse_json_body",
    "path_id",
    "query_bool",
    "query_id",
    "read_body",
    "read_json",
    "read_object",
    "sandbox_state",
    "too_large_message",
]

ID_KEYS = frozenset({"id", "office_id", "company_id", "target_id", "default_target_id", "router_id"})
"""Keys whose values are 64-bit ids (emitted as strings when ``id_format="string"``)."""


class ErrorAnswer(DialpadError):
    """Raise inside a sandbox route to answer ``{"error": {"code", "message"}}``."""

    def __init__(self, status: int, message: str, *, headers: Mapping[str, str] | None = None) -> None:
        self.status = status
        self.message = message
        self.headers = dict(headers or {})
        super().__init__(f"HTTP {status}: {message}")


def error_body(status: int, message: str) -> dict[str, Any]:
    return {"error": {"code": status, "message": message}}


def error_response(status: int, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(status, message), status_code=status, headers=dict(headers or {}))


def sandbox_state(request: Request) -> SandboxState:
    """The app's :class:`~dialpad_nb.sandbox.app.SandboxState`."""
    return request.app.state.sandbox


def too_large_message(limit: int) -> str:
    return f"request body too large (more than {limit} bytes)"


async def read_body(request: Request) -> bytes:
    """The raw request body; 413 beyond the sandbox's ``max_body_bytes``."""
    limit = sandbox_state(request).max_body_bytes
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > limit:
            raise ErrorAnswer(413, too_large_message(limit))
    return raw


async def read_json(request: Request, *, required: bool = True) -> Any:
    """The request's JSON body. An empty body is ``None`` (400 when ``required``).

    Malformed JSON is a 400 whose message gives the position, never the body."""
    raw = await read_body(request)
    if not raw.strip() and required:
        raise ErrorAnswer(400, "request body is required: a JSON object")
    return parse_json_body(raw)


def parse_json_body(raw: bytes) -> Any:
    """Decoded JSON of a request body already read; ``None`` if empty.

    400 naming the place for malformed JSON (line and column), deep nesting, non-finite or
    overlong numbers and invalid Unicode (:func:`dialpad_nb.core.strict_json.decode_json`)."""
    try:
        return decode_json(raw, field="request body")
    except ValidationError as exc:
        raise ErrorAnswer(400, str(exc)) from None


def read_object(body: Any, allowed: Sequence[str], *, what: str = "request body") -> dict[str, Any]:
    """``body`` as a dict with only ``allowed`` keys and ``null`` values dropped."""
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise ErrorAnswer(400, f"{what} must be a JSON object, got {type(body).__name__}")
    unknown = [k for k in body if k not in allowed]
    if unknown:
        raise ErrorAnswer(400, f"unknown field {unknown[0]!r}; expected some of: {', '.join(allowed)}")
    return {k: v for k, v in body.items() if v is not None}


def encode_cursor(kind: str, position: int) -> str:
    """An opaque cursor for "items of ``kind`` after ``position``"."""
    return base64.urlsafe_b64encode(f"{kind}:{position}".encode()).decode().rstrip("=")


def decode_cursor(kind: str, cursor: str | None) -> int | None:
    """The position a cursor from :func:`encode_cursor` stands for; 400 if it is not one of ``kind``'s."""
    if cursor in (None, ""):
        return None
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, _, position = text.partition(":")
        if prefix == kind and position.isascii() and position.isdigit() and len(position) <= 19:
            return int(position)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    shown = cursor if len(cursor) <= 60 else cursor[:60] + "…"
    raise ErrorAnswer(400, f"cursor: {shown!r} is not a cursor of this {kind} list")


def page_response(
    state: SandboxState,
    kind: str,
    rows: list[dict[str, Any]],
    position_of: Callable[[dict[str, Any]], int],
    render: Callable[[dict[str, Any]], dict[str, Any]],
) -> JSONResponse:
    """A Dialpad collection from up to ``page_size + 1`` rows: ``items`` and, if more follow, ``cursor``."""
    page = rows[: state.page_size]
    body: dict[str, Any] = {"items": [render(r) for r in page]}
    if len(rows) > state.page_size:
        body["cursor"] = encode_cursor(kind, position_of(page[-1]))
    return JSONResponse(body)


def query_id(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return None
    try:
        return parse_id(raw, field=name)
    except ValidationError as exc:
        raise ErrorAnswer(400, str(exc)) from None


def query_bool(request: Request, name: str) -> bool | None:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return None
    value = raw.strip().lower()
    if value in ("true", "1"):
        return True
    if value in ("false", "0"):
        return False
    raise ErrorAnswer(400, f"{name}: {raw!r} is not true or false")


def path_id(request: Request, what: str, name: str = "id") -> int:
    """The id in the path; 400 naming it when it is not a 64-bit id (a well-formed unknown id is the
    route's 404)."""
    raw = request.path_params[name]
    try:
        return parse_id(raw, field=name)
    except ValidationError as exc:
        raise ErrorAnswer(400, f"{exc} (a {what} is named by its numeric id)") from None
