"""Dialpad's REST API (``/api/v2``: call routers, numbers, the read-only directory) as
Starlette routes. Helpers every route shares are in :mod:`.http`.

Semantics: ``shared/dialpad/BEHAVIOUR.md``; shapes: ``openapi-callrouters.json``.

Choices where Dialpad is silent (assumptions, kept here in one place):

* Errors are ``{"error": {"code": <status>, "message": "..."}}``; the message names the
  field or the thing that was wrong, and never repeats a secret.
* Unknown body fields are refused with 400 (catches typos such as ``routing_ur``).
  ``null`` means "not given" (for PATCH: "unchanged"). ``PATCH {"secret": ""}``
  removes the router's secret (requests are then sent unsigned).
* PATCH is checked in this order: unknown router → 404; inside the router's
  ``policy.patch_interval_s`` since its last *successful* PATCH → 429 with
  ``Retry-After``; invalid body → 400. Only a successful PATCH starts a new
  interval: a 404 or a 400 does not count toward the limit.
* ``DELETE`` answers 200 with a JSON body (the official SDK calls ``.json()`` unless
  204): the deleted router as it was, or the unassigned Number.
* ``DELETE /numbers/{n}?release=true`` takes the number out of the company (it does not
  go back to the pool); the answer carries ``"deleted": true``.
* A path id that is not a 64-bit integer (``abc``, ``-5``, ``²``) is a 400 naming ``id``; a well-formed
  id of nothing is a 404.
* Names are one line of at most ``MAX_NAME_LENGTH`` characters, routing URLs at most
  ``MAX_URL_LENGTH`` (:mod:`dialpad_nb.core.models`); request bodies are decoded strictly
  (:mod:`dialpad_nb.core.strict_json`: no NaN/Infinity, no 1e400, no 4,000-digit numbers, no deep
  nesting, no lone surrogates), each a 400 naming the field.
* An office's main line (seeded from the read-only directory) cannot be unassigned (400).
* Lists are in creation order; the last page has no ``cursor`` key.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ..core.clock import ms_to_datetime
from ..core.errors import ValidationError
from ..core.models import (
    NUMBER_STATUSES,
    normalize_e164,
    parse_id,
    validate_e164,
    validate_name,
    validate_secret,
    validate_target_type,
    validate_url,
)
from .http import (
    ErrorAnswer,
    decode_cursor,
    page_response,
    parse_json_body,
    path_id,
    query_bool,
    query_id,
    read_body,
    read_json,
    read_object,
    sandbox_state,
)
from .store import MissingRecord, RecordConflict

if TYPE_CHECKING:
    from .app import SandboxState

__all__ = ["NUMBER_STATUSES", "number_json", "router_json", "routes", "validate_create", "validate_update"]

CREATE_REQUIRED = ("name", "routing_url", "office_id", "default_target_id", "default_target_type")
CREATE_FIELDS = (*CREATE_REQUIRED, "secret", "enabled")
UPDATE_FIELDS = (*CREATE_FIELDS, "reset_error_count")
ASSIGN_FIELDS = ("area_code", "number", "primary")


def _validation(exc: ValidationError) -> ErrorAnswer:
    return ErrorAnswer(400, str(exc))


# --------------------------------------------------------------------------- rendering


def router_json(state: SandboxState, router: Mapping[str, Any]) -> dict[str, Any]:
    """Dialpad's router object (``ApiCallRouterProto``) from a store row."""
    secret = router.get("secret")
    return state.ids_out(
        {
            "id": router["id"],
            "name": router["name"],
            "routing_url": router["routing_url"],
            "office_id": router["office_id"],
            "default_target_id": router["default_target_id"],
            "default_target_type": router["default_target_type"],
            "enabled": bool(router["enabled"]),
            "phone_numbers": list(router.get("phone_numbers") or ()),
            "signature": {"type": "jwt", "algo": "HS256", "secret": secret} if secret else {},
        }
    )


def number_json(state: SandboxState, row: Mapping[str, Any]) -> dict[str, Any]:
    """Dialpad's ``NumberProto`` from a store row (no target keys while in the pool)."""
    out: dict[str, Any] = {"number": row["number"], "status": row["status"]}
    if row.get("target_id") is not None:
        out["target_id"] = row["target_id"]
        out["target_type"] = row["target_type"]
    for key in ("office_id", "company_id", "area_code", "type"):
        if row.get(key) is not None:
            out[key] = row[key]
    return state.ids_out(out)


# --------------------------------------------------------------------------- validation


def _name(value: Any) -> str:
    try:
        validate_name(value, field="name")
    except ValidationError as exc:
        raise _validation(exc) from None
    return value


def _bool(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise ErrorAnswer(400, f"{field}: must be true or false, got {value!r}")
    return value


def _office(state: SandboxState, value: Any) -> int:
    try:
        office_id = parse_id(value, field="office_id")
    except ValidationError as exc:
        raise _validation(exc) from None
    if not state.directory.has_target(office_id, "office"):
        raise ErrorAnswer(400, f"office_id: no office with id {office_id} in the company")
    return office_id


def _default_target(state: SandboxState, target_type: Any, target_id: Any) -> tuple[str, int]:
    try:
        ttype = validate_target_type(target_type, field="default_target_type")
        tid = parse_id(target_id, field="default_target_id")
    except ValidationError as exc:
        raise _validation(exc) from None
    if not state.has_target(tid, ttype):
        raise ErrorAnswer(400, f"default_target_id: no {ttype} with id {tid} in the company")
    return ttype, tid


def _secret(state: SandboxState, value: Any) -> str:
    try:
        return validate_secret(value, field="secret", min_length=state.policy.min_secret_length)
    except ValidationError as exc:
        raise _validation(exc) from None


def _url(value: Any) -> str:
    try:
        return validate_url(value, field="routing_url")
    except ValidationError as exc:
        raise _validation(exc) from None


def validate_create(state: SandboxState, body: Any) -> dict[str, Any]:
    """Store-ready columns of a new router from a create body; ErrorAnswer(400) naming the field."""
    if body is None:
        raise ErrorAnswer(400, "request body is required: a JSON object")
    data = read_object(body, CREATE_FIELDS)
    missing = [k for k in CREATE_REQUIRED if k not in data]
    if missing:
        raise ErrorAnswer(400, f"missing required field(s): {', '.join(missing)}")
    ttype, tid = _default_target(state, data["default_target_type"], data["default_target_id"])
    return {
        "name": _name(data["name"]),
        "routing_url": _url(data["routing_url"]),
        "office_id": _office(state, data["office_id"]),
        "default_target_type": ttype,
        "default_target_id": tid,
        "secret": _secret(state, data["secret"]) if "secret" in data else None,
        "enabled": _bool(data["enabled"], "enabled") if "enabled" in data else True,
    }


def validate_update(
    state: SandboxState, body: Any, current: Mapping[str, Any]
) -> tuple[dict[str, Any], bool]:
    """Store-ready column changes and the ``reset_error_count`` flag from a PATCH body."""
    data = read_object(body, UPDATE_FIELDS)
    changes: dict[str, Any] = {}
    if "name" in data:
        changes["name"] = _name(data["name"])
    if "routing_url" in data:
        changes["routing_url"] = _url(data["routing_url"])
    if "office_id" in data:
        changes["office_id"] = _office(state, data["office_id"])
    if "default_target_type" in data or "default_target_id" in data:
        ttype, tid = _default_target(
            state,
            data.get("default_target_type", current["default_target_type"]),
            data.get("default_target_id", current["default_target_id"]),
        )
        changes["default_target_type"], changes["default_target_id"] = ttype, tid
    if "secret" in data:
        changes["secret"] = None if data["secret"] == "" else _secret(state, data["secret"])
    if "enabled" in data:
        changes["enabled"] = _bool(data["enabled"], "enabled")
    reset = _bool(data["reset_error_count"], "reset_error_count") if "reset_error_count" in data else False
    return changes, reset


# --------------------------------------------------------------------------- call routers


async def list_routers(request: Request) -> JSONResponse:
    state = sandbox_state(request)
    after = decode_cursor("callrouters", request.query_params.get("cursor"))
    office_id = query_id(request, "office_id")
    rows = state.store.list_routers(office_id=office_id, after_seq=after, limit=state.page_size + 1)
    return page_response(state, "callrouters", rows, lambda r: r["seq"], lambda r: router_json(state, r))


async def create_router(request: Request) -> JSONResponse:
    state = sandbox_state(request)
    fields = validate_create(state, await read_json(request))
    router = state.store.create_router(fields, now_ms=state.now_ms())
    return JSONResponse(router_json(state, router))


def _router_or_404(state: SandboxState, router_id: int) -> dict[str, Any]:
    router = state.store.get_router(router_id)
    if router is None:
        raise ErrorAnswer(404, f"no call router with id {router_id}")
    return router


async def get_router(request: Request) -> JSONResponse:
    state = sandbox_state(request)
    router = _router_or_404(state, path_id(request, "call router"))
    return JSONResponse(router_json(state, router))


def retry_after_s(remaining_ms: int) -> int:
    """``Retry-After`` seconds for ``remaining_ms`` of waiting (rounded up, at least 1)."""
    return max(1, math.ceil(remaining_ms / 1000))


async def update_router(request: Request) -> JSONResponse:
    """PATCH: 404 → 429 → 400, and only a success counts toward the limit (see module docstring)."""
    state = sandbox_state(request)
    router_id = path_id(request, "call router")
    raw = await read_body(request)
    store = state.store
    with store.transaction():
        current = _router_or_404(state, router_id)
        now = state.now_ms()
        last = store.last_patch_ms(router_id)
        interval = state.policy.patch_interval_ms
        if last is not None and now - last < interval:
            next_ms = last + interval
            wait_s = retry_after_s(next_ms - now)
            raise ErrorAnswer(
                429,
                f"call router {router_id} can be updated once per {state.policy.patch_interval_s:g} s; "
                f"the next update is allowed at {ms_to_datetime(next_ms).isoformat()} (in {wait_s} s)",
                headers={"Retry-After": str(wait_s)},
            )
        changes, reset = validate_update(state, parse_json_body(raw), current)
        router = store.update_router(router_id, changes, now_ms=now)
        if reset:
            store.clear_errors(router_id)
        store.record_patch(router_id, now)
    return JSONResponse(router_json(state, router))


async def delete_router(request: Request) -> JSONResponse:
    state = sandbox_state(request)
    router_id = path_id(request, "call router")
    router = state.store.delete_router(router_id)
    if router is None:
        raise ErrorAnswer(404, f"no call router with id {router_id}")
    return JSONResponse(router_json(state, router))


def _area_code(value: Any) -> str:
    if not isinstance(value, str) or len(value) != 3 or not (value.isascii() and value.isdigit()):
        shown = value if not isinstance(value, str) or len(value) <= 10 else value[:10] + "…"
        raise ErrorAnswer(400, f"area_code: {shown!r} is not a 3-digit area code such as '415'")
    return value


async def assign_number(request: Request) -> JSONResponse:
    state = sandbox_state(request)
    router_id = path_id(request, "call router")
    raw = await read_body(request)
    _router_or_404(state, router_id)
    data = read_object(parse_json_body(raw), ASSIGN_FIELDS)
    number = None
    if "number" in data:
        try:
            number = validate_e164(data["number"], field="number")
        except ValidationError as exc:
            raise _validation(exc) from None
    area_code = _area_code(data["area_code"]) if "area_code" in data else None
    primary = _bool(data["primary"], "primary") if "primary" in data else True
    try:
        row = state.store.assign_number(
            router_id,
            number=number,
            area_code=area_code,
            primary=primary,
            default_area_code=state.company.default_area_code,
            company_id=state.company.id,
        )
    except MissingRecord as exc:
        raise ErrorAnswer(404, str(exc)) from None
    except RecordConflict as exc:
        raise ErrorAnswer(409, str(exc)) from None
    return JSONResponse(number_json(state, row))


# --------------------------------------------------------------------------- numbers


async def list_numbers(request: Request) -> JSONResponse:
    state = sandbox_state(request)
    after = decode_cursor("numbers", request.query_params.get("cursor"))
    status = request.query_params.get("status") or None
    if status is not None and status not in NUMBER_STATUSES:
        raise ErrorAnswer(
            400, f"status: {status!r} is not a number status; expected one of {', '.join(NUMBER_STATUSES)}"
        )
    rows = state.store.list_numbers(status=status, after_seq=after, limit=state.page_size + 1)
    return page_response(state, "numbers", rows, lambda r: r["seq"], lambda r: number_json(state, r))


def _number_param(request: Request) -> str:
    raw = request.path_params["number"]
    return normalize_e164(raw) or raw


async def get_number(request: Request) -> JSONResponse:
    state = sandbox_state(request)
    number = _number_param(request)
    row = state.store.get_number(number)
    if row is None:
        raise ErrorAnswer(404, f"no number {number!r} in the company")
    return JSONResponse(number_json(state, row))


async def unassign_number(request: Request) -> JSONResponse:
    state = sandbox_state(request)
    number = _number_param(request)
    release = bool(query_bool(request, "release"))
    current = state.store.get_number(number)
    if current is not None and current["status"] == "office":
        raise ErrorAnswer(
            400,
            f"number {number} is the main line of office {current['target_id']}; "
            "the sandbox's directory is read-only, so it cannot be unassigned",
        )
    try:
        row = state.store.unassign_number(number, release=release)
    except MissingRecord:
        raise ErrorAnswer(404, f"no number {number!r} in the company") from None
    body = number_json(state, row)
    if release:
        body = {k: v for k, v in body.items() if k != "status"} | {"deleted": True}
    return JSONResponse(body)


# --------------------------------------------------------------------------- directory (read-only)


def _directory_routes(kind: str, what: str, entries: Callable[[SandboxState], Sequence[dict]]) -> list[Route]:
    async def list_entries(request: Request) -> JSONResponse:
        state = sandbox_state(request)
        after = decode_cursor(kind, request.query_params.get("cursor")) or 0
        office_id = query_id(request, "office_id") if kind != "offices" else None
        rows = [
            {"position": i, "entry": e}
            for i, e in enumerate(entries(state), start=1)
            if i > after and (office_id is None or e.get("office_id") == office_id)
        ][: state.page_size + 1]
        return page_response(
            state, kind, rows, lambda r: r["position"], lambda r: _entry_json(state, kind, r["entry"])
        )

    async def get_entry(request: Request) -> JSONResponse:
        state = sandbox_state(request)
        entry_id = path_id(request, what)
        for entry in entries(state):
            if entry["id"] == entry_id:
                return JSONResponse(_entry_json(state, kind, entry))
        raise ErrorAnswer(404, f"no {what} with id {entry_id}")

    list_entries.__name__ = f"list_{kind}"
    get_entry.__name__ = f"get_{kind}"
    return [
        Route(f"/api/v2/{kind}", list_entries, methods=["GET"]),
        Route(f"/api/v2/{kind}/{{id}}", get_entry, methods=["GET"]),
    ]


def _entry_json(state: SandboxState, kind: str, entry: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(entry)
    if kind == "offices":
        out["office_id"] = out["id"]
    out.setdefault("state", "active")
    return state.ids_out(out)


routes: list[Route] = [
    Route("/api/v2/callrouters", list_routers, methods=["GET"]),
    Route("/api/v2/callrouters", create_router, methods=["POST"]),
    Route("/api/v2/callrouters/{id}", get_router, methods=["GET"]),
    Route("/api/v2/callrouters/{id}", update_router, methods=["PATCH"]),
    Route("/api/v2/callrouters/{id}", delete_router, methods=["DELETE"]),
    Route("/api/v2/callrouters/{id}/assign_number", assign_number, methods=["POST"]),
    Route("/api/v2/numbers", list_numbers, methods=["GET"]),
    Route("/api/v2/numbers/{number}", get_number, methods=["GET"]),
    Route("/api/v2/numbers/{number}", unassign_number, methods=["DELETE"]),
    *_directory_routes("offices", "office", lambda s: s.company.offices),
    *_directory_routes("users", "user", lambda s: s.company.users),
    *_directory_routes("departments", "department", lambda s: s.company.departments),
    *_directory_routes("callcenters", "call center", lambda s: s.company.callcenters),
]
"""Every ``/api/v2`` route, mounted by :func:`~dialpad_nb.sandbox.app.create_app`."""
