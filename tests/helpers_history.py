"""A sandbox with call history to read: routers whose endpoint is an httpx MockTransport.

``Endpoint`` is the routing endpoint (a module-level-style handler with a ``mode``); ``History``
wraps a sandbox ``TestClient`` with one router and its number, and places calls on it.
Everything runs in-process (no sockets): the sandbox's dispatch sends through the transport.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import httpx

from dialpad_nb.core.history import (
    call_proto,
    contact,
    error_response,
    routing_breadcrumb,
    simulated_timeline,
)
from dialpad_nb.samples.company import CALLCENTERS, DEPARTMENTS, OFFICES

SF = OFFICES[0]["id"]
TIER1 = CALLCENTERS[1]["id"]
VIP = CALLCENTERS[3]["id"]
RECEPTION = DEPARTMENTS[4]["id"]
CALLER = "+14155550123"
ROUTING_URL = "https://ops.example/route?key=abc"
HOOK_SECRET = "hook-secret-0123456789abcdefghijklmn"
ROUTER = 5514135059149489
T0 = 1_767_603_600_000


def routed_call(
    i: int, *, error: str | None = None, disabled: bool = False, ids_as_text: bool = False
) -> dict:
    """The i-th call on ROUTER (a minute apart), as Dialpad's call.list returns it: answered by
    Support Tier 1, or an ``error`` breadcrumb (the call went to Reception), or no breadcrumb."""
    call_id, started = 7_000_000_000_000_000 + i, T0 + i * 60_000
    request = {"date_started": started, "call_id": call_id, "external_number": CALLER,
               "internal_number": "+14155551001", "contact_id": None, "contact_type": None}  # fmt: skip
    if error:
        response, target = (
            error_response(error, status=503, latency_ms=12.4),
            (5001000000000105, "department"),
        )
    else:
        response, target = (
            {"target_id": 5002000000000202, "target_type": "callcenter"},
            (5002000000000202, "callcenter"),
        )
    crumbs = [] if disabled else [routing_breadcrumb(date=started, url="https://ops.example/route", request=request,
                                                    response=response, target_id=target[0], target_type=target[1])]  # fmt: skip
    call = call_proto(
        call_id=call_id,
        date_started=started,
        timeline=simulated_timeline(0, call_id, started),
        external_number=CALLER,
        internal_number="+14155551001",
        target=contact(*target, name="Support Tier 1" if not error else "Reception"),
        entry_point=contact(ROUTER, "callrouter", name="Front desk", phone="+14155551001"),
        breadcrumbs=crumbs,
    )
    if ids_as_text:
        call["call_id"] = str(call_id)
    return call


@dataclass
class Endpoint:
    """Answers routing requests by ``mode``: ``ok`` (Support Tier 1, VIP Desk for VIP_CALLER),
    ``503``, ``garbage`` (not JSON), ``ghost`` (a target not in the company)."""

    mode: str = "ok"
    requests: list[dict[str, Any]] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.headers["content-type"] == "application/json" else None
        self.requests.append({"url": str(request.url), "body": body})
        if self.mode == "503":
            return httpx.Response(503, text="overloaded")
        if self.mode == "garbage":
            return httpx.Response(200, text="<html>")
        if self.mode == "ghost":
            return httpx.Response(200, json={"target_id": 5002000000000299, "target_type": "callcenter"})
        target = VIP if (body or {}).get("external_number") == "+12065550188" else TIER1
        return httpx.Response(200, json={"target_id": target, "target_type": "callcenter", "action": "route"})


class History:
    """A sandbox app (TestClient) with one router on ``endpoint`` and its number."""

    def __init__(self, app_client_factory: Any, *, enabled: bool = True, **app_kwargs: Any) -> None:
        self.endpoint = Endpoint()
        app_kwargs.setdefault("transport", httpx.MockTransport(self.endpoint))
        self.client = app_client_factory(**app_kwargs)
        self.state = self.client.app.state.sandbox
        self.router = self.create_router("History line", enabled=enabled)
        self.number = self.assign(self.router["id"])

    def create_router(self, name: str, *, enabled: bool = True) -> dict[str, Any]:
        body = {
            "name": name,
            "routing_url": ROUTING_URL,
            "office_id": SF,
            "default_target_id": RECEPTION,
            "default_target_type": "department",
            "enabled": enabled,
        }
        r = self.client.post("/api/v2/callrouters", json=body)
        assert r.status_code == 200, r.text
        return r.json()

    def assign(self, router_id: int) -> str:
        r = self.client.post(f"/api/v2/callrouters/{router_id}/assign_number", json={})
        assert r.status_code == 200, r.text
        return r.json()["number"]

    def place(self, count: int = 1, *, every_s: float = 60, number: str | None = None, caller: str = CALLER):
        now = self.state.clock.now_ms()
        calls = [
            {"to": number or self.number, "from": caller, "at": now + round((i + 1) * every_s * 1000)}
            for i in range(count)
        ]
        r = self.client.post("/sandbox/v1/calls:batch", json={"calls": calls})
        assert r.status_code == 200, r.text
        return r.json()

    def calls(self, **params: Any) -> list[dict[str, Any]]:
        """Every call of ``GET /api/v2/call`` (all pages) with these filters."""
        out: list[dict[str, Any]] = []
        while True:
            r = self.client.get("/api/v2/call", params=params)
            assert r.status_code == 200, r.text
            page = r.json()
            out += page["items"]
            if "cursor" not in page:
                return out
            params = {**params, "cursor": page["cursor"]}
