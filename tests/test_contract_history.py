"""Contract: every sandbox answer to the call-history, webhook and call-event-subscription operations
of Dialpad's spec (``tests/data/openapi-calls-events.json``) validates against its 200 schema, and
every operation of that spec is exercised."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from openapi_schema_validator import OAS30Validator

from .helpers_history import RECEPTION, History

SPEC_PATH = Path(__file__).parent / "data" / "openapi-calls-events.json"


@cache
def spec() -> dict[str, Any]:
    return json.loads(SPEC_PATH.read_text())


def operation(method: str, path: str) -> tuple[str, dict[str, Any]]:
    for template, ops in spec()["paths"].items():
        if re.match("^" + re.sub(r"\{[^}]+\}", r"[^/]+", template) + "$", path) and method.lower() in ops:
            return template, ops[method.lower()]
    raise KeyError(f"{method} {path}")


def validate(schema: dict[str, Any], body: Any) -> None:
    ref = schema.get("$ref")
    resolved = spec()["components"]["schemas"][ref.rsplit("/", 1)[-1]] if ref else schema
    OAS30Validator({**resolved, "components": spec()["components"]}).validate(body)


class Checked:
    def __init__(self, client) -> None:
        self.client = client
        self.validated: set[tuple[str, str]] = set()

    def __call__(self, method: str, path: str, *, json=None, params=None) -> Any:
        template, op = operation(method, path)
        if json is not None:
            validate(op["requestBody"]["content"]["application/json"]["schema"], json)
        r = self.client.request(method, path, json=json, params=params)
        assert r.status_code == 200, r.text
        validate(op["responses"]["200"]["content"]["application/json"]["schema"], r.json())
        self.validated.add((method.upper(), template))
        return r.json()


@pytest.mark.parametrize("page_size", [2, 20])
def test_every_history_and_event_answer_validates_and_every_operation_is_covered(
    app_client_factory, page_size
):
    history = History(app_client_factory, page_size=page_size)
    call = Checked(history.client)
    rid = history.router["id"]
    hooks = [call("POST", "/api/v2/webhooks", json={"hook_url": f"http://127.0.0.1:9/h{i}"} | ({"secret": "s" * 32} if i else {}))
             for i in range(3)]  # fmt: skip
    subs = [
        call(
            "POST", "/api/v2/subscriptions/call", json={"endpoint_id": hooks[0]["id"], "call_states": ["all"]}
        ),
        call(
            "POST",
            "/api/v2/subscriptions/call",
            json={
                "endpoint_id": hooks[1]["id"],
                "call_states": ["hangup", "ringing"],
                "target_type": "callrouter",
                "target_id": rid,
                "group_calls_only": True,
                "enabled": False,
            },
        ),  # fmt: skip
    ]
    history.place(3)
    history.endpoint.mode = "503"
    history.place(12)  # errors, then the router disables itself: calls without a breadcrumb
    cursor, seen = None, 0
    while True:
        page = call("GET", "/api/v2/call", params={"cursor": cursor} if cursor else None)
        seen += len(page["items"])
        cursor = page.get("cursor")
        if not cursor:
            break
    assert seen == 15
    first = history.calls()[-1]
    call(
        "GET",
        "/api/v2/call",
        params={"target_id": rid, "target_type": "callrouter", "started_after": first["date_started"]},
    )
    call("GET", "/api/v2/call", params={"target_id": RECEPTION, "target_type": "department"})
    call("GET", f"/api/v2/call/{first['call_id']}")
    call("GET", "/api/v2/webhooks")
    call("GET", f"/api/v2/webhooks/{hooks[1]['id']}")
    call(
        "PATCH",
        f"/api/v2/webhooks/{hooks[1]['id']}",
        json={"hook_url": "http://127.0.0.1:9/v2", "secret": "t" * 32},
    )
    call("DELETE", f"/api/v2/webhooks/{hooks[2]['id']}")
    call("GET", "/api/v2/subscriptions/call")
    call("GET", "/api/v2/subscriptions/call", params={"target_type": "callrouter", "target_id": rid})
    call("GET", f"/api/v2/subscriptions/call/{subs[1]['id']}")
    call(
        "PATCH",
        f"/api/v2/subscriptions/call/{subs[1]['id']}",
        json={"call_states": ["calling"], "enabled": True},
    )
    call("DELETE", f"/api/v2/subscriptions/call/{subs[0]['id']}")
    operations = {(m.upper(), p) for p, ops in spec()["paths"].items() for m in ops}
    assert call.validated == operations


def test_the_check_has_teeth():
    from jsonschema import ValidationError

    _, op = operation("GET", "/api/v2/call")
    schema = op["responses"]["200"]["content"]["application/json"]["schema"]
    with pytest.raises(ValidationError):
        validate(schema, {"items": [{"call_id": "not-a-number", "routing_breadcrumbs": []}]})
    with pytest.raises(ValidationError):
        validate(schema, {"items": [{"call_id": 1, "target": {"id": 5}}]})  # contact ids are text in the spec
