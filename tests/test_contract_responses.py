"""Contract: every sandbox answer to every operation in Dialpad's spec validates against its 200 schema.

One scenario drives every operation (including pool, minted and released numbers,
signed and unsigned routers, several pages); each 200 body is checked with
``helpers_openapi.validate_response`` and each request body with ``validate_request``.
A final check makes sure no operation of the spec was left out.
"""

from __future__ import annotations

import re

import pytest

from dialpad_nb.samples.company import CALLCENTERS, DEPARTMENTS, OFFICES, USERS

from .helpers_openapi import has_operation, spec, validate_request, validate_response

SF, SEA = OFFICES[0]["id"], OFFICES[1]["id"]
SECRET = "contract-secret-0123456789abcdefghij"


class Checked:
    """Sends through a TestClient and validates every exchange against the spec."""

    def __init__(self, client) -> None:
        self.client = client
        self.validated: set[tuple[str, str]] = set()
        self.count = 0

    def __call__(self, method: str, path: str, *, json=None, params=None, status: int = 200):
        if json is not None and has_operation(method, path):
            validate_request(method, path, json)
        r = self.client.request(method, path, json=json, params=params)
        assert r.status_code == status, r.text
        body = r.json()
        if status == 200 and has_operation(method, path):
            validate_response(method, path, body)
            self.validated.add((method.upper(), template_of(method, path)))
            self.count += 1
        return body


def template_of(method: str, path: str) -> str:
    for template, ops in spec()["paths"].items():
        pattern = "^" + re.sub(r"\{[^}]+\}", r"[^/]+", template) + "$"
        if re.match(pattern, path) and method.lower() in ops:
            return template
    raise KeyError(path)


def scenario(call) -> None:
    routers = []
    for i, office in enumerate([SF, SEA, SF, SF]):
        payload = {
            "name": f"Line {i}",
            "routing_url": f"https://ops.example/route/{i}",
            "office_id": office,
            "default_target_id": DEPARTMENTS[i % len(DEPARTMENTS)]["id"],
            "default_target_type": "department",
            "enabled": i != 3,
        }
        if i % 2:
            payload["secret"] = SECRET
        routers.append(call("POST", "/api/v2/callrouters", json=payload))
    cursor = None
    while True:  # pages, unfiltered and filtered
        page = call("GET", "/api/v2/callrouters", params={"cursor": cursor} if cursor else None)
        cursor = page.get("cursor")
        if not cursor:
            break
    call("GET", "/api/v2/callrouters", params={"office_id": SF})
    first, second = routers[0]["id"], routers[1]["id"]
    call("GET", f"/api/v2/callrouters/{first}")
    call("PATCH", f"/api/v2/callrouters/{first}", json={"name": "Renamed", "reset_error_count": True})
    call(
        "PATCH",
        f"/api/v2/callrouters/{second}",
        json={"default_target_type": "user", "default_target_id": USERS[3]["id"], "secret": SECRET + "x"},
    )
    assign = f"/api/v2/callrouters/{first}/assign_number"
    call("POST", assign, json={})
    call("POST", assign, json={"area_code": "415", "primary": False})
    call("POST", assign, json={"number": "+12065550177"})
    for _ in range(3):  # drain the pool, then mint
        call("POST", f"/api/v2/callrouters/{second}/assign_number", json={"area_code": "206"})
    call("GET", f"/api/v2/callrouters/{first}")
    for status in (None, "available", "call_router", "office"):
        call("GET", "/api/v2/numbers", params={"status": status} if status else None)
    call("GET", "/api/v2/numbers/+12065550177")
    call("DELETE", "/api/v2/numbers/+12065550177")
    call("GET", "/api/v2/numbers/+12065550177")
    call("DELETE", "/api/v2/numbers/+12065550177", params={"release": "true"})
    call("DELETE", f"/api/v2/callrouters/{second}")
    call("GET", "/api/v2/offices")
    for office in OFFICES:
        call("GET", f"/api/v2/offices/{office['id']}")
    # Directory routes outside this spec's subset still answer 200 with ids as ints.
    for kind, entries in (("users", USERS), ("departments", DEPARTMENTS), ("callcenters", CALLCENTERS)):
        assert not has_operation("GET", f"/api/v2/{kind}")
        assert isinstance(call("GET", f"/api/v2/{kind}/{entries[0]['id']}")["id"], int)


@pytest.mark.parametrize("page_size", [2, 20])
def test_every_response_validates_and_every_operation_is_covered(app_client_factory, page_size):
    call = Checked(app_client_factory(page_size=page_size))
    scenario(call)
    operations = {(m.upper(), path) for path, ops in spec()["paths"].items() for m in ops}
    assert call.validated == operations
    assert call.count > len(operations)


def test_the_check_has_teeth():
    """A body violating the schema (an id that is not an integer) is rejected by the validator."""
    from jsonschema import ValidationError

    with pytest.raises(ValidationError):
        validate_response("GET", "/api/v2/callrouters/1", {"id": "not-a-number", "enabled": True})
