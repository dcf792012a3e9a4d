"""Every request the client sends validates against Dialpad's request schemas
(``openapi-callrouters.json``): bodies against the requestBody schema, query
parameters against the operation's declared parameters. Requests are captured
with a recording MockTransport around the canned fake Dialpad."""

from __future__ import annotations

import json

import pytest

from tests.helpers_client import CREATE_SECRET_ROUTER, SEA, SF, TIER1, Recorder, make_client
from tests.helpers_openapi import _operation, has_operation, validate_request

CALLS = {
    "create_router": lambda c: c.create_router(
        name="Support",
        routing_url="https://ops.example/r",
        office_id=SF,
        default_target_id=TIER1["id"],
        default_target_type="callcenter",
    ),
    "create_router_signed_disabled": lambda c: c.create_router(**CREATE_SECRET_ROUTER),
    "create_router_by_name": lambda c: c.create_router(
        name="Support", routing_url="https://ops.example/r", default_target="Support Tier 1"
    ),
    "update_router_every_field": lambda c: c.update_router(
        "7001",
        name="n",
        routing_url="https://ops.example/v2",
        office_id=str(SEA),
        default_target_id=str(TIER1["id"]),
        default_target_type="callcenter",
        secret="z" * 32,
        enabled=True,
        reset_error_count=True,
    ),
    "update_router_by_target": lambda c: c.update_router(7001, default_target="Lena Fischer"),
    "enable_router": lambda c: c.enable_router(7001, reset_error_count=True),
    "disable_router": lambda c: c.disable_router(7001),
    "delete_router": lambda c: c.delete_router(7001),
    "assign_by_area_code": lambda c: c.assign_number(7001, area_code="415"),
    "assign_by_number": lambda c: c.assign_number(7001, number="+14155550188", primary=False),
    "list_routers": lambda c: c.list_routers(office_id=SF),
    "get_router": lambda c: c.get_router(7001),
    "list_numbers": lambda c: c.list_numbers(status="available"),
    "get_number": lambda c: c.get_number("+14155550123"),
    "unassign_number": lambda c: c.unassign_number("+14155550123"),
    "list_offices": lambda c: c.list_offices(),
    "get_office": lambda c: c.get_office(SF),
    "targets": lambda c: c.targets(),
}


@pytest.mark.parametrize("name", sorted(CALLS))
def test_every_request_matches_the_spec(name):
    rec = Recorder()
    client, _ = make_client(rec)
    CALLS[name](client)
    checked = 0
    for request in rec.requests:
        path = request.url.path
        if not has_operation(request.method, path):
            # users/departments/callcenters are outside the call-router spec: GETs without a body
            assert request.method == "GET" and not request.content, path
            assert path in {"/api/v2/users", "/api/v2/departments", "/api/v2/callcenters"}
            continue
        body = json.loads(request.content) if request.content else None
        validate_request(request.method, path, body)
        declared = {
            p["name"] for p in _operation(request.method, path).get("parameters", []) if p["in"] == "query"
        }
        assert set(request.url.params) <= declared, (path, dict(request.url.params))
        checked += 1
    assert checked >= 1


def test_a_schema_violation_would_be_caught():
    # guard against a validator that accepts anything
    from jsonschema.exceptions import ValidationError as SchemaError

    with pytest.raises(SchemaError):
        validate_request("POST", "/api/v2/callrouters", {"name": "x", "office_id": "not an int"})
