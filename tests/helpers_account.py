"""A Dialpad account on this machine, for tests: traffic is put in by a normal sandbox, then the
account stand-in (``as_account=True``: no control API, system clock) serves the same database.

* :func:`make_account_db` — a database with two routers and a few dozen calls over the last
  three hours (and an incident that disabled one router), plus the endpoint kit's log of them;
  :func:`make_empty_account_db` — a company with no routers;
* :func:`serve_account` — the stand-in on that database, every request it answers recorded
  (method, path, status) so a test can say which changes were asked for;
* :func:`dump_tables` — every table of a sandbox database as sorted rows, to compare before/after.
"""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dialpad_nb.api.client import DialpadClient
from dialpad_nb.core.clock import SimulatedClock, SystemClock
from dialpad_nb.core.serving import ServedApp, serve_app
from dialpad_nb.endpoint.app import routing_endpoint, serve_endpoint
from dialpad_nb.health import FaultSwitch
from dialpad_nb.sandbox import create_app, start_sandbox

ACCOUNT_KEY = "account-stand-in-key-0123456789"
SUPPORT, SALES = "Support hotline", "Sales line"
SUPPORT_NUMBER, SALES_NUMBER = "+14155551004", "+14155551003"  # 1001 and 1002 stay in the pool
HOUR_MS = 3_600_000


@dataclass
class AccountData:
    """What :func:`make_account_db` put in: the database, the endpoint kit's log, router ids, calls."""

    db_path: Path
    endpoint_log: Path
    routers: dict[str, int]
    calls: int
    outcomes: dict[str, int] = field(default_factory=dict)


def make_account_db(folder: Path) -> AccountData:
    """A sandbox database in ``folder`` that looks like a small company's account.

    A normal sandbox (simulated clock three hours back from now) with the sample company: *Support
    hotline* (signed, in front of an endpoint kit that logs to ``endpoint.jsonl``) takes 20 good
    calls, then the endpoint answers 503 until the router is disabled (11 errors) and 3 calls go
    to the default target without a request; *Sales line* takes 10 good calls. Then everything stops."""
    folder.mkdir(parents=True, exist_ok=True)
    db_path, log_path = folder / "account.sqlite3", folder / "endpoint.jsonl"
    start = SystemClock().now_ms() - 3 * HOUR_MS
    clock = SimulatedClock(start)
    server = start_sandbox(db_path=db_path, api_key=ACCOUNT_KEY, clock=clock)
    secret = secrets.token_urlsafe(32)
    switch = FaultSwitch(
        routing_endpoint(
            lambda request: (5002000000000202, "callcenter"),  # Support Tier 1
            secret=secret,
            fallback=(5002000000000202, "callcenter"),
            log_path=log_path,
            clock=clock,
        )
    )
    endpoint = serve_endpoint(switch)
    sales_endpoint = serve_endpoint(  # unsigned, logs nothing: only Support hotline's calls are in the log
        routing_endpoint(
            lambda request: (5002000000000201, "callcenter"), fallback=(5002000000000201, "callcenter")
        )
    )
    client = DialpadClient(base_url=server.url, api_key=ACCOUNT_KEY, clock=clock, rate_limits=False)
    try:
        support = client.create_router(
            name=SUPPORT, routing_url=endpoint.url + "/route", default_target="Reception", secret=secret
        )
        sales = client.create_router(
            name=SALES, routing_url=sales_endpoint.url + "/route", default_target="Inbound Sales"
        )
        client.assign_number(support.id, number=SUPPORT_NUMBER)
        client.assign_number(sales.id, number=SALES_NUMBER)
        control = client.control
        placed = []
        placed += control.place_calls(
            {"to": SUPPORT_NUMBER, "from": "+14155550123", "at": start + 60_000 * (i + 1)} for i in range(20)
        )
        placed += control.place_calls(
            {"to": SALES_NUMBER, "from": "+12065550188", "at": start + 60_000 * (2 * i + 21)}
            for i in range(10)
        )
        switch.fail(503)
        placed += control.place_calls(
            {"to": SUPPORT_NUMBER, "from": "+14155550123", "at": start + 45 * 60_000 + 60_000 * (i + 1)}
            for i in range(14)
        )
        assert control.deliveries().empty  # nothing left for the stand-in to send on its own
    finally:
        client.close()
        endpoint.stop()
        sales_endpoint.stop()
        server.stop()
    outcomes: dict[str, int] = {}
    for record in placed:
        outcomes[record["outcome"]] = outcomes.get(record["outcome"], 0) + 1
    return AccountData(db_path, log_path, {SUPPORT: support.id, SALES: sales.id}, len(placed), outcomes)


def make_empty_account_db(folder: Path) -> Path:
    """A company with no call routers yet (the sample company's directory and number pool only)."""
    folder.mkdir(parents=True, exist_ok=True)
    db_path = folder / "empty.sqlite3"
    start_sandbox(db_path=db_path, api_key=ACCOUNT_KEY).stop()
    return db_path


class RequestRecorder:
    """Pure ASGI wrapper: every HTTP request answered, as ``(method, path, status)``."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.state = app.state
        self.seen: list[tuple[str, str, int]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_recorded(message: Any) -> None:
            if message["type"] == "http.response.start":
                self.seen.append((scope["method"], scope["path"], message["status"]))
            await send(message)

        await self.app(scope, receive, send_recorded)

    @property
    def changes(self) -> list[tuple[str, str, int]]:
        """The requests that were not reads."""
        return [r for r in self.seen if r[0] not in ("GET", "HEAD")]


@contextmanager
def serve_account(db_path: Path, **app_kwargs: Any) -> Iterator[tuple[ServedApp, RequestRecorder]]:
    """The account stand-in on ``db_path`` (system clock, no control API), recording what it answers."""
    app = create_app(db_path=db_path, api_key=ACCOUNT_KEY, as_account=True, **app_kwargs)
    recorder = RequestRecorder(app)
    served = serve_app(recorder, name="account-stand-in")
    try:
        yield served, recorder
    finally:
        served.stop()


def dump_tables(db_path: Path) -> dict[str, list[dict[str, Any]]]:
    """Every table of the database, each row a dict, rows sorted (a fresh read-only connection)."""
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        tables = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        return {
            name: sorted((dict(row) for row in conn.execute(f'SELECT * FROM "{name}"')), key=repr)
            for (name,) in tables.fetchall()
        }
    finally:
        conn.close()
