"""A canned, stateless Dialpad for MockTransport tests of the client and the console.

``fake_dialpad`` is a module-level httpx handler answering every call the client
makes with Dialpad-shaped JSON (ids as *strings*, as Dialpad often sends them;
directory ids as ints). Lists are split over two pages to exercise cursors.
``Recorder`` wraps a handler and keeps every request (for contract checks);
``Script`` answers with a fixed sequence of responses (for retry tests).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import httpx

from dialpad_nb.api.client import DialpadClient
from dialpad_nb.core.clock import SimulatedClock
from dialpad_nb.samples.company import CALLCENTERS, DEPARTMENTS, OFFICES, USERS

BASE = "https://dialpad.test"
KEY = "key-SHOULD-NEVER-SHOW-0123456789"
SF = OFFICES[0]["id"]
SEA = OFFICES[1]["id"]
TIER1 = CALLCENTERS[1]  # "Support Tier 1"
SECRET = "s" * 40

ROUTERS = {
    "7001": {
        "id": "7001",
        "name": "Support line",
        "routing_url": "https://ops.example/route",
        "office_id": str(SF),
        "default_target_id": str(TIER1["id"]),
        "default_target_type": "callcenter",
        "enabled": True,
        "phone_numbers": ["+14155550123"],
        "signature": {"type": "jwt", "algo": "HS256", "secret": SECRET},
    },
    "7002": {
        "id": "7002",
        "name": "Returns line",
        "routing_url": "https://ops.example/returns",
        "office_id": str(SEA),
        "default_target_id": str(DEPARTMENTS[3]["id"]),
        "default_target_type": "department",
        "enabled": False,
        "phone_numbers": [],
        "signature": {},
    },
}
NUMBERS = {
    "+14155550123": {
        "number": "+14155550123",
        "status": "call_router",
        "target_id": "7001",
        "target_type": "callrouter",
        "office_id": str(SF),
        "area_code": "415",
        "type": "local",
    },
    "+14155550199": {"number": "+14155550199", "status": "available", "area_code": "415", "type": "local"},
}


def _json(data, status: int = 200, headers: dict | None = None) -> httpx.Response:
    return httpx.Response(status, json=data, headers=headers)


def error(status: int, message: str, headers: dict | None = None) -> httpx.Response:
    return _json({"error": {"code": status, "message": message}}, status, headers)


def _paged(request: httpx.Request, items: list) -> httpx.Response:
    half = (len(items) + 1) // 2
    if request.url.params.get("cursor") == "page2":
        return _json({"items": items[half:]})
    return _json({"items": items[:half], "cursor": "page2"} if len(items) > 1 else {"items": items})


def fake_dialpad(request: httpx.Request) -> httpx.Response:
    if request.headers.get("authorization") != f"Bearer {KEY}":
        return error(401, "invalid API key")
    method, path = request.method, request.url.path
    body = json.loads(request.content) if request.content else None
    if path == "/api/v2/callrouters":
        if method == "POST":
            out = {k: (str(v) if k.endswith("_id") else v) for k, v in body.items() if k != "secret"}
            out |= {"id": "7003", "phone_numbers": []}
            out["signature"] = (
                {"type": "jwt", "algo": "HS256", "secret": body["secret"]} if body.get("secret") else {}
            )
            return _json(out)
        items = list(ROUTERS.values())
        office = request.url.params.get("office_id")
        if office:
            items = [r for r in items if r["office_id"] == office]
        return _paged(request, items)
    if m := re.fullmatch(r"/api/v2/callrouters/(\w+)(/assign_number)?", path):
        router = ROUTERS.get(m[1])
        if router is None:
            return error(404, f"call router {m[1]} not found")
        if m[2]:
            number = body.get("number") or "+1" + (body.get("area_code") or "415") + "5550177"
            return _json(
                {
                    "number": number,
                    "status": "call_router",
                    "target_id": m[1],
                    "target_type": "callrouter",
                    "office_id": router["office_id"],
                    "area_code": number[2:5],
                    "type": "local",
                }
            )
        if method == "DELETE":
            return httpx.Response(200)
        if method == "PATCH":
            changed = {k: (str(v) if k.endswith("_id") else v) for k, v in body.items()}
            changed.pop("reset_error_count", None)
            if "secret" in changed:
                changed["signature"] = {"type": "jwt", "algo": "HS256", "secret": changed.pop("secret")}
            return _json(router | changed)
        return _json(router)
    if path == "/api/v2/numbers":
        items = list(NUMBERS.values())
        status = request.url.params.get("status")
        return _paged(request, [n for n in items if not status or n["status"] == status])
    if m := re.fullmatch(r"/api/v2/numbers/(.+)", path):
        number = NUMBERS.get(m[1])
        if number is None:
            return error(404, f"number {m[1]} not found")
        if method == "DELETE":
            return _json({"number": m[1], "status": "available", "area_code": m[1][2:5], "type": "local"})
        return _json(number)
    if path == "/api/v2/offices":
        return _paged(request, list(OFFICES))
    if m := re.fullmatch(r"/api/v2/offices/(\d+)", path):
        match = [o for o in OFFICES if str(o["id"]) == m[1]]
        return _json(match[0]) if match else error(404, f"office {m[1]} not found")
    directory = {
        "/api/v2/users": USERS,
        "/api/v2/departments": DEPARTMENTS,
        "/api/v2/callcenters": CALLCENTERS,
    }
    if path in directory:
        items = list(directory[path])
        office = request.url.params.get("office_id")
        if office:
            items = [d for d in items if str(d["office_id"]) == office]
        return _paged(request, items)
    return error(404, f"no route {method} {path}")


class Recorder:
    """Wraps a handler; keeps every request it saw."""

    def __init__(self, handler: Callable[[httpx.Request], httpx.Response] = fake_dialpad) -> None:
        self.handler = handler
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.handler(request)


class Script:
    """Answers with ``responses`` in order (an Exception instance is raised instead)."""

    def __init__(self, *responses: httpx.Response | Exception) -> None:
        self.responses = list(responses)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        item = self.responses.pop(0)
        if isinstance(item, Exception):
            raise item
        return item


def make_client(handler=fake_dialpad, **kw) -> tuple[DialpadClient, list[float]]:
    """A client on a MockTransport; returns it and the list its ``sleep`` appends to.

    Its rate-limit pacing runs on a fake monotonic clock that only ``sleep`` moves, so waits
    are exact and nothing really sleeps."""
    sleeps: list[float] = []
    now = [0.0]

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += seconds

    kw.setdefault("clock", SimulatedClock())
    kw.setdefault("monotonic", lambda: now[0])
    client = DialpadClient(
        base_url=BASE, api_key=KEY, transport=httpx.MockTransport(handler), sleep=sleep, **kw
    )
    return client, sleeps


CREATE_SECRET_ROUTER = dict(
    name="Signed, starts disabled",
    routing_url="https://ops.example/route",
    office_id=str(SEA),
    default_target_id=str(CALLCENTERS[4]["id"]),
    default_target_type="callcenter",
    secret=SECRET,
    enabled=False,
)
