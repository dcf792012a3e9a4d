"""The sandbox served by uvicorn in a background thread, over real loopback HTTP."""

from __future__ import annotations

import logging

import httpx
import pytest

from dialpad_nb.core.clock import SimulatedClock
from dialpad_nb.samples.company import DEPARTMENTS, OFFICES
from dialpad_nb.sandbox import SandboxServer, start_sandbox
from dialpad_nb.sandbox.runner import bind_socket

pytestmark = pytest.mark.http

SECRET = "runner-secret-NEVER-LOGGED-0123456789"
ROUTER = {
    "name": "Runner",
    "routing_url": "https://ops.example/route",
    "office_id": OFFICES[0]["id"],
    "default_target_id": DEPARTMENTS[0]["id"],
    "default_target_type": "department",
}


def client_for(server: SandboxServer) -> httpx.Client:
    return httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {server.api_key}"})


def test_fixture_serves_real_http_with_a_random_key(sandbox):
    assert sandbox.url.startswith("http://127.0.0.1:")
    assert sandbox.running
    with client_for(sandbox) as http:
        assert http.get("/api/v2/offices").json()["items"][0]["id"] == OFFICES[0]["id"]
        assert http.get("/api/v2/offices", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert len(sandbox.api_key) >= 24
    assert isinstance(sandbox.clock, SimulatedClock)
    assert sandbox.app.state.sandbox.clock is sandbox.clock


def test_repr_never_shows_the_key(sandbox_factory):
    server = sandbox_factory(api_key="the-key-NEVER-SHOWN-0123")
    assert "NEVER-SHOWN" not in repr(server)
    assert "NEVER-SHOWN" not in repr(server.app.state.sandbox)
    assert server.url in repr(server) and "running" in repr(server)


def test_stop_joins_the_thread_and_frees_the_port():
    server = start_sandbox()
    url = server.url
    server.stop()
    assert not server.running and "stopped" in repr(server)
    with pytest.raises(httpx.ConnectError):
        httpx.get(url + "/api/v2/offices", timeout=2)
    server.stop()  # idempotent


def test_context_manager_stops():
    with start_sandbox(api_key="k" * 24) as server:
        with client_for(server) as http:
            assert http.get("/sandbox/v1/clock").status_code == 200
    assert not server.running


def test_two_sandboxes_are_independent(sandbox_factory):
    a, b = sandbox_factory(), sandbox_factory()
    assert a.url != b.url and a.api_key != b.api_key
    with client_for(a) as http:
        http.post("/api/v2/callrouters", json=ROUTER).raise_for_status()
    with client_for(b) as http:
        assert http.get("/api/v2/callrouters").json() == {"items": []}


def test_restart_with_a_file_db_keeps_routers_numbers_and_attempts(tmp_path, sandbox_factory):
    db = tmp_path / "sandbox.sqlite3"
    first = sandbox_factory(db_path=db, api_key="k" * 24)
    with client_for(first) as http:
        router = http.post("/api/v2/callrouters", json={**ROUTER, "secret": SECRET}).json()
        number = http.post(f"/api/v2/callrouters/{router['id']}/assign_number", json={}).json()
    attempt_id = first.app.state.sandbox.store.add_attempt(
        {"router_id": router["id"], "at_ms": first.clock.now_ms(), "outcome": "ok"}
    )
    first.stop()

    second = sandbox_factory(db_path=db, api_key="k" * 24)
    with client_for(second) as http:
        assert http.get(f"/api/v2/callrouters/{router['id']}").json() == {
            **router,
            "phone_numbers": [number["number"]],
        }
        assert http.get(f"/api/v2/numbers/{number['number']}").json() == number
        another = http.post("/api/v2/callrouters", json=ROUTER).json()
    assert another["id"] != router["id"]
    assert second.app.state.sandbox.store.get_attempt(attempt_id)["router_id"] == router["id"]


def test_a_sandbox_that_cannot_start_raises_a_clear_error(tmp_path):
    with pytest.raises(RuntimeError, match="did not start"):
        start_sandbox(db_path=tmp_path)  # a directory is not a database


def test_a_taken_port_is_an_oserror_at_once():
    taken = bind_socket()
    try:
        with pytest.raises(OSError):
            start_sandbox(port=taken.getsockname()[1])
    finally:
        taken.close()


def test_keys_and_secrets_never_reach_the_logs(sandbox_factory, caplog, capfd):
    key = "query-key-NEVER-LOGGED-0123456789"
    server = sandbox_factory(api_key=key)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "starlette", "dialpad_nb"):
        caplog.set_level(logging.DEBUG, logger=name)
    with httpx.Client(base_url=server.url) as http:
        http.post("/api/v2/callrouters", params={"apikey": key}, json={**ROUTER, "secret": SECRET})
        http.post(
            "/api/v2/callrouters", params={"apikey": key}, json={**ROUTER, "secret": "short-NEVER-LOGGED"}
        )
        http.get("/api/v2/callrouters", params={"apikey": key + "x"})
        http.get("/api/v2/nothing", params={"apikey": key})
    server.stop()
    out, err = capfd.readouterr()
    for text in (caplog.text, out, err):
        assert key not in text
        assert "NEVER-LOGGED" not in text
