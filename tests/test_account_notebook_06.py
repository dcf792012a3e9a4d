"""Notebook 06 in account mode, against the account stand-in (as tests/test_account_notebooks.py
does for 01-05): a company whose *Support hotline* is served by an endpoint kit with a shadow and
a 50 % canary; the notebook reads that endpoint's log (``ENDPOINT_LOG``) and the router's call
history, shows both reports, changes nothing and sends no write. (Without ``ENDPOINT_LOG`` its
cell 4 raises a ValidationError naming it; not run here: a second kernel costs ~4 s.)"""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from dialpad_nb.api.client import DialpadClient
from dialpad_nb.core.clock import SimulatedClock, SystemClock
from dialpad_nb.endpoint import routing_endpoint, serve_endpoint
from dialpad_nb.sandbox import start_sandbox
from tests.helpers_account import ACCOUNT_KEY, HOUR_MS, SUPPORT, SUPPORT_NUMBER
from tests.test_account_notebooks import Run, check_looked_only

pytestmark = pytest.mark.http

TIER_1, VIP = (5002000000000202, "callcenter"), (5002000000000204, "callcenter")
CALLS = 30


@pytest.fixture(scope="module")
def canary_account(tmp_path_factory) -> tuple[Path, Path]:
    """A database whose Support hotline took ``CALLS`` calls through an endpoint with a shadow
    ``candidate`` answering half the callers (a sticky canary), and that endpoint's log."""
    folder = tmp_path_factory.mktemp("account06")
    db_path, log_path = folder / "account.sqlite3", folder / "endpoint.jsonl"
    clock = SimulatedClock(SystemClock().now_ms() - 3 * HOUR_MS)  # within the notebook's DAYS
    start = clock.now_ms()
    server = start_sandbox(db_path=db_path, api_key=ACCOUNT_KEY, clock=clock)
    secret = secrets.token_urlsafe(32)
    app = routing_endpoint(
        lambda request: TIER_1, shadows={"candidate": lambda request: VIP}, canary={"candidate": 0.5},
        secret=secret, fallback=TIER_1, log_path=log_path, clock=clock,
    )  # fmt: skip
    endpoint = serve_endpoint(app)
    client = DialpadClient(base_url=server.url, api_key=ACCOUNT_KEY, clock=clock, rate_limits=False)
    try:
        router = client.create_router(
            name=SUPPORT, routing_url=endpoint.url + "/route", default_target="Reception", secret=secret
        )
        client.assign_number(router.id, number=SUPPORT_NUMBER)
        placed = client.control.place_calls(
            {"to": SUPPORT_NUMBER, "from": f"+1206555{i:04d}", "at": start + 60_000 * (i + 1)} for i in range(CALLS)
        )  # fmt: skip
        assert [p["outcome"] for p in placed] == ["ok"] * CALLS
        assert app.state.endpoint.wait_idle()  # every record written (the shadows finished)
    finally:
        client.close()
        endpoint.stop()
        server.stop()
    return db_path, log_path


def test_06_on_an_account_reads_the_endpoint_log_and_the_history_and_changes_nothing(
    canary_account, tmp_path, monkeypatch
):
    db_path, log_path = canary_account
    params = {"ENDPOINT_LOG": str(log_path), "ROUTER_NAME": SUPPORT}
    run = Run(db_path, tmp_path, monkeypatch, "06_shadow_and_canary", params)
    check_looked_only(run)  # no write sent, every table as it was
    text = run.text()
    assert f"{CALLS} requests accepted, 0 rejected" in text  # the shadow report read the whole log
    assert f"candidate: {CALLS} of {CALLS} compared calls differ" in text  # the shadow always says VIP
    arms = next(  # the canary's arms, joined with the router's call history on call_id
        "".join(o["data"]["text/plain"])
        for cell in run.notebook["cells"][14:18]
        for o in cell.get("outputs", [])
        if "answered by candidate" in "".join(o.get("data", {}).get("text/plain", ""))
    )
    rows = {line.split()[0]: line.split()[1:] for line in arms.splitlines()[1:]}
    requests = int(rows["control"][0]) + int(rows["candidate"][0])
    assert requests == CALLS and 0 < int(rows["candidate"][0]) < CALLS
    assert (
        rows["control"][0] == rows["control"][-1] and rows["candidate"][0] == rows["candidate"][-1]
    )  # joined
    assert "not reached: set ALLOW_CHANGES = True and ENDPOINT_URL" in text  # the admin route: not asked
