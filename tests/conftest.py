"""Shared fixtures: the sandbox in-process (fast) and over real loopback HTTP.

* ``app_client`` — ``starlette.testclient.TestClient`` on a fresh in-memory sandbox app,
  lifespan run, ``Authorization`` header preset. ``app_client.app.state.sandbox`` is the
  :class:`~dialpad_nb.sandbox.app.SandboxState` (store, clock, ...).
* ``app_client_factory(**create_app_kwargs)`` — the same with other settings
  (``api_key`` defaults to ``SANDBOX_TEST_KEY``; ``clock`` to a fresh SimulatedClock).
* ``sandbox`` — a real uvicorn sandbox (SimulatedClock, in memory) on a free loopback
  port, stopped after the test; a :class:`~dialpad_nb.sandbox.SandboxServer`.
* ``sandbox_factory(**start_sandbox_kwargs)`` — start more, or with a ``db_path`` (restarts);
  every one started is stopped after the test.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from dialpad_nb.core.clock import SimulatedClock
from dialpad_nb.sandbox import SandboxServer, create_app, start_sandbox

SANDBOX_TEST_KEY = "sandbox-test-key-0123456789"


def _test_client_class() -> type:
    with warnings.catch_warnings():
        # starlette 1.x suggests httpx2; httpx works and is what this project uses.
        warnings.filterwarnings("ignore", message=r".*starlette\.testclient.*", category=UserWarning)
        from starlette.testclient import TestClient
    return TestClient


@pytest.fixture
def app_client_factory() -> Iterator[Callable[..., Any]]:
    TestClient = _test_client_class()
    opened: list[Any] = []

    def make(**kwargs: Any) -> Any:
        kwargs.setdefault("api_key", SANDBOX_TEST_KEY)
        kwargs.setdefault("clock", SimulatedClock())
        app = create_app(**kwargs)
        client = TestClient(app, headers={"Authorization": f"Bearer {kwargs['api_key']}"})
        client.__enter__()
        opened.append(client)
        return client

    yield make
    for client in reversed(opened):
        client.__exit__(None, None, None)


@pytest.fixture
def app_client(app_client_factory: Callable[..., Any]) -> Any:
    return app_client_factory()


@pytest.fixture
def sandbox_factory() -> Iterator[Callable[..., SandboxServer]]:
    started: list[SandboxServer] = []

    def start(**kwargs: Any) -> SandboxServer:
        kwargs.setdefault("clock", SimulatedClock())
        server = start_sandbox(**kwargs)
        started.append(server)
        return server

    yield start
    for server in reversed(started):
        server.stop()


@pytest.fixture
def sandbox(sandbox_factory: Callable[..., SandboxServer]) -> SandboxServer:
    return sandbox_factory()
