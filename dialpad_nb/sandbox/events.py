"""Webhooks and call-event subscriptions (``/api/v2/webhooks``, ``/api/v2/subscriptions/call``).

Shapes: ``openapi-calls-events.json`` (``WebhookProto``, ``CallEventSubscriptionProto``);
meaning: BEHAVIOUR.md "Call events". Delivery of the events is :mod:`.delivery`; which
deliveries a call queues is :func:`dialpad_nb.sandbox.history.record_call`.

Choices where Dialpad is silent (as for routers, :mod:`.rest`):

* ``hook_url`` is an absolute http(s) URL; a ``secret`` is one line of text (Dialpad gives
  no minimum length for webhook secrets); ``PATCH {"secret": ""}`` removes it.
* A subscription needs ``endpoint_id`` (a webhook id: **404 naming it** when there is no
  such webhook) and a non-empty ``call_states`` list of Dialpad's states; ``target_id`` and
  ``target_type`` go together and must name a target of the company (a router included).
* A webhook still used by a subscription cannot be deleted (409 naming the subscriptions).
* DELETE answers 200 with the deleted object; lists are in creation order, cursor-paged;
  unknown body fields are 400; ``null`` means "not given".
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ..core.errors import ValidationError
from ..core.history import EVENT_STATES
from ..core.models import TARGET_TYPES, parse_id, validate_target_type, validate_url
from .http import (
    ErrorAnswer,
    decode_cursor,
    page_response,
    parse_json_body,
    path_id,
    query_id,
    read_body,
    read_json,
    read_object,
    sandbox_state,
)

if TYPE_CHECKING:
    from .app import SandboxState

__all__ = ["WEBHOOK_ID_BASE", "SUBSCRIPTION_ID_BASE", "routes", "subscription_json", "webhook_json"]

WEBHOOK_ID_BASE = 5_300_000_000_000_000
"""Minted webhook ids are ``WEBHOOK_ID_BASE + n`` (n = 1, 2, ..., durable)."""
SUBSCRIPTION_ID_BASE = 5_400_000_000_000_000
"""Minted subscription ids are ``SUBSCRIPTION_ID_BASE + n``."""

WEBHOOK_FIELDS = ("hook_url", "secret")
SUBSCRIPTION_FIELDS = (
    "call_states",
    "endpoint_id",
    "enabled",
    "group_calls_only",
    "target_id",
    "target_type",
)


# --------------------------------------------------------------------------- rendering


def _signature(secret: str | None) -> dict[str, str]:
    return {"type": "jwt", "algo": "HS256", "secret": secret} if secret else {}


def webhook_json(state: SandboxState, row: Mapping[str, Any]) -> dict[str, Any]:
    """``WebhookProto`` from a store row."""
    return state.ids_out(
        {"id": row["id"], "hook_url": row["hook_url"], "signature": _signature(row["secret"])}
    )


def subscription_json(
    state: SandboxState, row: Mapping[str, Any], webhook: Mapping[str, Any]
) -> dict[str, Any]:
    """``CallEventSubscriptionProto`` from a store row and its webhook's row."""
    out: dict[str, Any] = {
        "id": row["id"],
        "call_states": json.loads(row["call_states"]),
        "enabled": bool(row["enabled"]),
        "group_calls_only": bool(row["group_calls_only"]),
    }
    if row["target_type"] is not None:
        out["target_id"] = row["target_id"]
        out["target_type"] = row["target_type"]
    out = state.ids_out(out)
    out["webhook"] = webhook_json(state, webhook)
    return out


# --------------------------------------------------------------------------- store access


def _webhook_row(state: SandboxState, webhook_id: int) -> dict[str, Any] | None:
    with state.store.transaction() as conn:
        row = conn.execute("SELECT * FROM webhooks WHERE id = ?", (int(webhook_id),)).fetchone()
    return None if row is None else dict(row)


def _webhook_or_404(state: SandboxState, webhook_id: int, *, field: str | None = None) -> dict[str, Any]:
    row = _webhook_row(state, webhook_id)
    if row is None:
        where = f"{field}: " if field else ""
        raise ErrorAnswer(404, f"{where}no webhook with id {webhook_id}")
    return row


def _subscription_or_404(state: SandboxState, sub_id: int) -> dict[str, Any]:
    with state.store.transaction() as conn:
        row = conn.execute("SELECT * FROM call_subscriptions WHERE id = ?", (int(sub_id),)).fetchone()
    if row is None:
        raise ErrorAnswer(404, f"no call event subscription with id {sub_id}")
    return dict(row)


# --------------------------------------------------------------------------- validation


def _hook_url(value: Any) -> str:
    try:
        return validate_url(value, field="hook_url")
    except ValidationError as exc:
        raise ErrorAnswer(400, str(exc)) from None


def _secret(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ErrorAnswer(400, "secret: must be non-empty text")
    if "\n" in value or "\r" in value:
        raise ErrorAnswer(400, "secret: must be a single line")
    return value


def _bool(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise ErrorAnswer(400, f"{field}: must be true or false, got {value!r}")
    return value


def _states(value: Any) -> list[str]:
    if not isinstance(value, list) or not value:
        raise ErrorAnswer(400, f"call_states: must be a non-empty list of call states, got {value!r}")
    for i, item in enumerate(value):
        if item not in EVENT_STATES:
            raise ErrorAnswer(400, f"call_states[{i}]: {item!r} is not a call state; expected some of "
                                   f"{', '.join(EVENT_STATES)}")  # fmt: skip
    return list(dict.fromkeys(value))


def _target(state: SandboxState, target_type: Any, target_id: Any) -> tuple[str, int]:
    if target_type is None or target_id is None:
        raise ErrorAnswer(400, "target_id and target_type: give both, or neither")
    try:
        ttype = validate_target_type(target_type, field="target_type")
        tid = parse_id(target_id, field="target_id")
    except ValidationError as exc:
        raise ErrorAnswer(400, str(exc)) from None
    if not state.has_target(tid, ttype):
        raise ErrorAnswer(400, f"target_id: no {ttype} with id {tid} in the company")
    return ttype, tid


def _endpoint(state: SandboxState, value: Any) -> int:
    try:
        webhook_id = parse_id(value, field="endpoint_id")
    except ValidationError as exc:
        raise ErrorAnswer(400, str(exc)) from None
    _webhook_or_404(state, webhook_id, field="endpoint_id")
    return webhook_id


# --------------------------------------------------------------------------- webhooks


async def list_webhooks(request: Request) -> JSONResponse:
    state = sandbox_state(request)
    after = decode_cursor("webhooks", request.query_params.get("cursor")) or 0
    with state.store.transaction() as conn:
        rows = [
            dict(r)
            for r in conn.execute(
                "SELECT * FROM webhooks WHERE seq > ? ORDER BY seq LIMIT ?", (after, state.page_size + 1)
            )
        ]
    return page_response(state, "webhooks", rows, lambda r: r["seq"], lambda r: webhook_json(state, r))


async def create_webhook(request: Request) -> JSONResponse:
    state = sandbox_state(request)
    body = await read_json(request)
    data = read_object(body, WEBHOOK_FIELDS)
    if "hook_url" not in data:
        raise ErrorAnswer(400, "missing required field(s): hook_url")
    hook_url = _hook_url(data["hook_url"])
    secret = _secret(data["secret"]) if "secret" in data else None
    now = state.now_ms()
    with state.store.transaction() as conn:
        webhook_id = WEBHOOK_ID_BASE + state.store.next_counter("webhook_id")
        conn.execute(
            "INSERT INTO webhooks(id, hook_url, secret, created_ms, updated_ms) VALUES (?, ?, ?, ?, ?)",
            (webhook_id, hook_url, secret, now, now),
        )
    return JSONResponse(webhook_json(state, _webhook_or_404(state, webhook_id)))


async def get_webhook(request: Request) -> JSONResponse:
    state = sandbox_state(request)
    return JSONResponse(webhook_json(state, _webhook_or_404(state, path_id(request, "webhook"))))


async def update_webhook(request: Request) -> JSONResponse:
    state = sandbox_state(request)
    webhook_id = path_id(request, "webhook")
    raw = await read_body(request)
    _webhook_or_404(state, webhook_id)
    data = read_object(parse_json_body(raw), WEBHOOK_FIELDS)
    changes: dict[str, Any] = {}
    if "hook_url" in data:
        changes["hook_url"] = _hook_url(data["hook_url"])
    if "secret" in data:
        changes["secret"] = None if data["secret"] == "" else _secret(data["secret"])
    if changes:
        sets = ", ".join(f"{k} = ?" for k in changes)
        with state.store.transaction() as conn:
            conn.execute(
                f"UPDATE webhooks SET {sets}, updated_ms = ? WHERE id = ?",
                (*changes.values(), state.now_ms(), webhook_id),
            )
    return JSONResponse(webhook_json(state, _webhook_or_404(state, webhook_id)))


async def delete_webhook(request: Request) -> JSONResponse:
    state = sandbox_state(request)
    webhook_id = path_id(request, "webhook")
    with state.store.transaction() as conn:
        row = _webhook_or_404(state, webhook_id)
        users = [
            r[0]
            for r in conn.execute("SELECT id FROM call_subscriptions WHERE webhook_id = ?", (webhook_id,))
        ]
        if users:
            raise ErrorAnswer(
                409,
                f"webhook {webhook_id} is the endpoint of call event subscription(s) "
                f"{', '.join(map(str, users))}; delete or re-point them first",
            )
        conn.execute("DELETE FROM webhooks WHERE id = ?", (webhook_id,))
    return JSONResponse(webhook_json(state, row))


# --------------------------------------------------------------------------- subscriptions


def _subscription_out(state: SandboxState, row: Mapping[str, Any]) -> dict[str, Any]:
    webhook = _webhook_row(state, row["webhook_id"]) or {
        "id": row["webhook_id"],
        "hook_url": None,
        "secret": None,
    }
    return subscription_json(state, row, webhook)


async def list_subscriptions(request: Request) -> JSONResponse:
    state = sandbox_state(request)
    after = decode_cursor("subscriptions", request.query_params.get("cursor")) or 0
    target_type = request.query_params.get("target_type") or None
    if target_type is not None and target_type not in TARGET_TYPES:
        raise ErrorAnswer(400, f"target_type: {target_type!r} is not a target type")
    target_id = query_id(request, "target_id")
    sql = "SELECT * FROM call_subscriptions WHERE seq > ?"
    args: list[Any] = [after]
    if target_type is not None:
        sql += " AND target_type = ?"
        args.append(target_type)
    if target_id is not None:
        sql += " AND target_id = ?"
        args.append(target_id)
    with state.store.transaction() as conn:
        rows = [dict(r) for r in conn.execute(sql + " ORDER BY seq LIMIT ?", (*args, state.page_size + 1))]
    return page_response(
        state, "subscriptions", rows, lambda r: r["seq"], lambda r: _subscription_out(state, r)
    )


async def create_subscription(request: Request) -> JSONResponse:
    state = sandbox_state(request)
    data = read_object(await read_json(request), SUBSCRIPTION_FIELDS)
    missing = [k for k in ("endpoint_id", "call_states") if k not in data]
    if missing:
        raise ErrorAnswer(400, f"missing required field(s): {', '.join(missing)}")
    webhook_id = _endpoint(state, data["endpoint_id"])
    states = _states(data["call_states"])
    enabled = _bool(data["enabled"], "enabled") if "enabled" in data else True
    group = _bool(data["group_calls_only"], "group_calls_only") if "group_calls_only" in data else False
    ttype = tid = None
    if "target_id" in data or "target_type" in data:
        ttype, tid = _target(state, data.get("target_type"), data.get("target_id"))
    with state.store.transaction() as conn:
        sub_id = SUBSCRIPTION_ID_BASE + state.store.next_counter("subscription_id")
        conn.execute(
            "INSERT INTO call_subscriptions(id, webhook_id, call_states, enabled, group_calls_only, target_id,"
            " target_type, created_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (sub_id, webhook_id, json.dumps(states), int(enabled), int(group), tid, ttype, state.now_ms()),
        )
    return JSONResponse(_subscription_out(state, _subscription_or_404(state, sub_id)))


async def get_subscription(request: Request) -> JSONResponse:
    state = sandbox_state(request)
    row = _subscription_or_404(state, path_id(request, "call event subscription"))
    return JSONResponse(_subscription_out(state, row))


async def update_subscription(request: Request) -> JSONResponse:
    state = sandbox_state(request)
    sub_id = path_id(request, "call event subscription")
    raw = await read_body(request)
    current = _subscription_or_404(state, sub_id)
    data = read_object(parse_json_body(raw), SUBSCRIPTION_FIELDS)
    changes: dict[str, Any] = {}
    if "endpoint_id" in data:
        changes["webhook_id"] = _endpoint(state, data["endpoint_id"])
    if "call_states" in data:
        changes["call_states"] = json.dumps(_states(data["call_states"]))
    if "enabled" in data:
        changes["enabled"] = int(_bool(data["enabled"], "enabled"))
    if "group_calls_only" in data:
        changes["group_calls_only"] = int(_bool(data["group_calls_only"], "group_calls_only"))
    if "target_id" in data or "target_type" in data:
        ttype, tid = _target(
            state,
            data.get("target_type", current["target_type"]),
            data.get("target_id", current["target_id"]),
        )
        changes["target_type"], changes["target_id"] = ttype, tid
    if changes:
        sets = ", ".join(f"{k} = ?" for k in changes)
        with state.store.transaction() as conn:
            conn.execute(f"UPDATE call_subscriptions SET {sets} WHERE id = ?", (*changes.values(), sub_id))
    return JSONResponse(_subscription_out(state, _subscription_or_404(state, sub_id)))


async def delete_subscription(request: Request) -> JSONResponse:
    state = sandbox_state(request)
    sub_id = path_id(request, "call event subscription")
    with state.store.transaction() as conn:
        row = _subscription_or_404(state, sub_id)
        body = _subscription_out(state, row)
        conn.execute("DELETE FROM call_subscriptions WHERE id = ?", (sub_id,))
    return JSONResponse(body)


routes: list[Route] = [
    Route("/api/v2/webhooks", list_webhooks, methods=["GET"]),
    Route("/api/v2/webhooks", create_webhook, methods=["POST"]),
    Route("/api/v2/webhooks/{id}", get_webhook, methods=["GET"]),
    Route("/api/v2/webhooks/{id}", update_webhook, methods=["PATCH"]),
    Route("/api/v2/webhooks/{id}", delete_webhook, methods=["DELETE"]),
    Route("/api/v2/subscriptions/call", list_subscriptions, methods=["GET"]),
    Route("/api/v2/subscriptions/call", create_subscription, methods=["POST"]),
    Route("/api/v2/subscriptions/call/{id}", get_subscription, methods=["GET"]),
    Route("/api/v2/subscriptions/call/{id}", update_subscription, methods=["PATCH"]),
    Route("/api/v2/subscriptions/call/{id}", delete_subscription, methods=["DELETE"]),
]
"""Webhook and call-event subscription routes, mounted by :func:`~dialpad_nb.sandbox.app.create_app`."""
