"""connect(): real Dialpad when DIALPAD_API_KEY is set (environ injected, no network),
else an embedded sandbox whose simulated clock drives the client's PATCH guard."""

from __future__ import annotations

import re

import httpx
import pytest

from dialpad_nb.api.client import DialpadClient
from dialpad_nb.connection import SandboxOptionsIgnored, connect
from dialpad_nb.core.clock import SimulatedClock, SystemClock
from dialpad_nb.core.errors import PatchGuardError, TransportError, ValidationError

KEY = "live-key-NEVER-SHOWN-abcdef0123456789"


@pytest.mark.parametrize(
    ("environ", "base_url", "label"),
    [
        ({"DIALPAD_API_KEY": KEY}, "https://dialpad.com", "live dialpad.com"),
        ({"DIALPAD_API_KEY": KEY, "DIALPAD_ENV": "live"}, "https://dialpad.com", "live dialpad.com"),
        (
            {"DIALPAD_API_KEY": KEY, "DIALPAD_ENV": "Sandbox"},
            "https://sandbox.dialpad.com",
            "Dialpad's sandbox at sandbox.dialpad.com",
        ),
    ],
)
def test_with_a_key_it_talks_to_dialpad(environ, base_url, label):
    client = connect(environ)
    assert isinstance(client, DialpadClient)
    assert client.base_url == base_url and client.sandbox is None
    assert repr(client) == f"DialpadClient({label})"
    assert isinstance(client.clock, SystemClock)
    assert KEY not in repr(client) and KEY not in repr(vars(client))


def test_kwargs_reach_the_client():
    client = connect({"DIALPAD_API_KEY": KEY}, timeout=2.5, max_retries=0)
    assert client.timeout == 2.5 and client.max_retries == 0


def test_unknown_environment_names_the_variable():
    with pytest.raises(ValidationError) as info:
        connect({"DIALPAD_API_KEY": KEY, "DIALPAD_ENV": "staging"})
    assert info.value.field == "DIALPAD_ENV" and KEY not in str(info.value)


def test_another_host_is_asked_once_what_it_is_and_the_label_says_it():
    """DIALPAD_BASE_URL on a server that is not Dialpad's own: one GET /sandbox/v1/clock; a 404 is an
    account (tests/test_capabilities.py covers a real sandbox and the stand-in)."""
    seen = []

    def handler(request):
        seen.append((request.method, request.url.path))
        return httpx.Response(404, json={"error": {"code": 404, "message": "no such endpoint"}})

    environ = {"DIALPAD_API_KEY": KEY, "DIALPAD_ENV": "sandbox", "DIALPAD_BASE_URL": "https://proxy.example/"}
    client = connect(environ, transport=httpx.MockTransport(handler))
    assert client.base_url == "https://proxy.example" and client.sandbox is None
    assert repr(client) == "DialpadClient(<Dialpad account at https://proxy.example>)"
    assert client.kind == "Dialpad account" and not client.is_sandbox
    assert isinstance(client.clock, SystemClock) and KEY not in repr(vars(client))
    assert seen == [("GET", "/sandbox/v1/clock")]


def test_sandbox_options_with_a_real_key_are_ignored_with_a_warning_that_says_so():
    with pytest.warns(SandboxOptionsIgnored) as record:
        client = connect(
            {"DIALPAD_API_KEY": KEY}, sandbox_options={"db_path": "x.db", "routing_deadline_s": 0.5}
        )
    message = str(record[0].message)
    assert "db_path, routing_deadline_s" in message and "ignored" in message
    assert "a Dialpad account at https://dialpad.com" in message and KEY not in message
    assert client.base_url == "https://dialpad.com" and client.sandbox is None
    assert record[0].filename == __file__  # shown where the notebook called connect(), not inside it


@pytest.mark.http
def test_without_a_key_it_starts_an_embedded_sandbox():
    client = connect({"DIALPAD_API_KEY": "  "})
    try:
        server = client.sandbox
        assert server is not None and server.running
        assert re.fullmatch(r"DialpadClient\(<embedded sandbox at http://127\.0\.0\.1:\d+>\)", repr(client))
        assert client.base_url == server.url
        assert client.clock is server.clock and isinstance(client.clock, SimulatedClock)
        assert server.api_key not in repr(client)
        assert [o.name for o in client.list_offices()][0] == "Harbor & Pine — San Francisco"
    finally:
        client.close()
    assert not server.running
    with pytest.raises(TransportError):
        client.list_offices()


@pytest.mark.http
def test_the_guard_runs_on_the_sandbox_clock(tmp_path):
    with connect({}, sandbox_options={"db_path": tmp_path / "sandbox.db"}) as client:
        router = client.create_router(
            name="Support", routing_url="https://ops.example/route", default_target="Support Tier 1"
        )
        client.update_router(router.id, name="Support (new)")
        with pytest.raises(PatchGuardError, match="2026-01-05 09:05:00 UTC"):
            client.update_router(router.id, name="again")
        client.sandbox.clock.advance(300)
        assert client.update_router(router.id, name="again").name == "again"
    assert (tmp_path / "sandbox.db").exists()
