"""Every notebook in account mode, proven against the account stand-in (tests/helpers_account.py).

Each notebook is executed with papermill (parameters injected after its ``parameters`` cell) in a
temporary folder — the committed notebooks are never written — with ``DIALPAD_API_KEY`` and
``DIALPAD_BASE_URL`` pointing at ``create_app(as_account=True)`` on a copy of one database that a
normal sandbox filled with two routers and their calls. The stand-in records every request it
answers.

* default parameters: no cell error, no request that is not a read, and every table of the
  database identical before and after; each ``%%changes`` cell says what it would have done and
  each ``%%sandbox_only`` cell says it was not run;
* ``ALLOW_CHANGES = True``: the changes the notebook announces are made, and undone where it says
  they are (01, 04 and 05 delete what they created). 03 has no such parameter: it changes nothing.

Notebook 02 replays logs offline: it never connects to anything (checked below).
"""

from __future__ import annotations

import json
import re
import shutil
import socket
from pathlib import Path

import pytest

from tests.helpers_account import (
    ACCOUNT_KEY,
    SUPPORT,
    dump_tables,
    make_account_db,
    make_empty_account_db,
    serve_account,
)

papermill = pytest.importorskip("papermill")  # the test extra installs it

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
pytestmark = pytest.mark.http


@pytest.fixture(scope="module")
def account(tmp_path_factory):
    return make_account_db(tmp_path_factory.mktemp("account"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Run:
    """One notebook executed against a fresh copy of the account."""

    def __init__(self, db_path: Path, tmp_path, monkeypatch, name: str, parameters: dict) -> None:
        db = tmp_path / "account.sqlite3"
        shutil.copyfile(db_path, db)
        self.before = dump_tables(db)
        with serve_account(db) as (served, recorder):
            monkeypatch.setenv("DIALPAD_API_KEY", ACCOUNT_KEY)
            monkeypatch.setenv("DIALPAD_BASE_URL", served.url)
            monkeypatch.delenv("DIALPAD_ENV", raising=False)
            self.notebook = papermill.execute_notebook(
                str(NOTEBOOKS / f"{name}.ipynb"),
                str(tmp_path / f"{name}.ipynb"),
                parameters=parameters,
                cwd=str(NOTEBOOKS),
                kernel_name="python3",
                progress_bar=False,
            )
        self.changes = [(m, re.sub(r"/\d+", "/{id}", p), s) for m, p, s in recorder.changes]
        self.after = dump_tables(db)
        self.url = served.url

    def cells(self, magic: str) -> list[str]:
        """The text each cell starting with ``magic`` printed."""
        return [
            "".join(o.get("text", "") for o in cell["outputs"])
            for cell in self.notebook["cells"]
            if cell["cell_type"] == "code" and "".join(cell["source"]).startswith(magic)
        ]

    def text(self) -> str:
        return json.dumps([c.get("outputs", []) for c in self.notebook["cells"]])

    def changed_tables(self) -> set[str]:
        return {name for name in self.before if self.before[name] != self.after[name]}


def check_looked_only(run: Run) -> None:
    assert run.changes == []
    assert run.after == run.before  # every table, every row
    looked = run.cells("%%changes")  # 03 has none: it changes nothing on an account
    assert all(t.startswith("[look only] not run: it would ") for t in looked)
    assert all(
        t.startswith("[sandbox only] not run on <Dialpad account at ") for t in run.cells("%%sandbox_only")
    )


@pytest.mark.parametrize(
    "name", ["03_error_rates_and_latency", "04_routing_endpoint", "05_your_dialpad_history"]
)
def test_with_default_parameters_a_notebook_looks_and_changes_nothing(account, tmp_path, monkeypatch, name):
    run = Run(account.db_path, tmp_path, monkeypatch, name, {})
    check_looked_only(run)
    assert bool(run.cells("%%changes")) == (name != "03_error_rates_and_latency")  # 03 changes nothing
    if name != "04_routing_endpoint":  # ROUTER_NAME None: the first router by name, read and charted
        assert "call.list Sales line" in run.text()


def test_01_looks_at_a_company_with_no_routers_and_shows_an_empty_fleet(tmp_path, monkeypatch):
    run = Run(make_empty_account_db(tmp_path / "empty"), tmp_path, monkeypatch, "01_manage_routers", {})
    check_looked_only(run)
    text = run.text()
    assert f"DialpadClient(<Dialpad account at {run.url}>)" in text
    assert f"No call routers at <Dialpad account at {run.url}> yet." in text


def test_01_with_allow_changes_creates_updates_and_deletes_its_test_router(account, tmp_path, monkeypatch):
    params = {"ALLOW_CHANGES": True, "PATCH_WAIT": False}
    run = Run(account.db_path, tmp_path, monkeypatch, "01_manage_routers", params)
    assert run.changes == [
        ("POST", "/api/v2/callrouters", 200),
        ("POST", "/api/v2/callrouters/{id}/assign_number", 200),
        ("POST", "/api/v2/callrouters/{id}/assign_number", 200),
        ("PATCH", "/api/v2/callrouters/{id}", 200),  # PATCH_WAIT = False: not the second update
        ("DELETE", "/api/v2/callrouters/{id}", 200),
    ]
    assert run.changed_tables() <= {"meta", "sqlite_sequence"}  # routers and numbers as they were
    assert not any(t.startswith("[look only]") for t in run.cells("%%changes"))


def test_04_with_allow_changes_points_a_test_router_at_the_endpoint_then_removes_it(
    account, tmp_path, monkeypatch
):
    port, receiver_port = free_port(), free_port()
    public, hook = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{receiver_port}"
    params = {"ALLOW_CHANGES": True, "PORT": port, "PUBLIC_URL": public, "RECEIVER_PORT": receiver_port,
              "HOOK_URL": hook, "WATCH_S": 1}  # fmt: skip
    run = Run(account.db_path, tmp_path, monkeypatch, "04_routing_endpoint", params)
    assert run.changes == [
        ("POST", "/api/v2/callrouters", 200),
        ("POST", "/api/v2/callrouters/{id}/assign_number", 200),
        ("POST", "/api/v2/callrouters/{id}/assign_number", 200),
        ("POST", "/api/v2/webhooks", 200),
        ("POST", "/api/v2/subscriptions/call", 200),
        ("DELETE", "/api/v2/subscriptions/call/{id}", 200),
        ("DELETE", "/api/v2/webhooks/{id}", 200),
        ("DELETE", "/api/v2/callrouters/{id}", 200),
    ]
    text = run.text()
    assert f"routing_url='{public}/route'" in text and f"hook_url='{hook}/events'" in text
    assert "0 routing request(s) and 0 call event(s) arrived" in text  # no real calls to a stand-in
    assert run.changed_tables() <= {"meta", "sqlite_sequence"}


def test_04_will_not_point_a_router_at_an_address_dialpad_cannot_reach(account, tmp_path, monkeypatch):
    with pytest.raises(papermill.PapermillExecutionError) as info:
        Run(account.db_path, tmp_path, monkeypatch, "04_routing_endpoint", {"ALLOW_CHANGES": True})
    assert "PUBLIC_URL: PUBLIC_URL is not set: Dialpad cannot reach http://127.0.0.1:" in str(info.value)
    assert dump_tables(tmp_path / "account.sqlite3") == dump_tables(account.db_path)  # it stopped first


def test_05_with_allow_changes_subscribes_to_call_events_then_unsubscribes(account, tmp_path, monkeypatch):
    receiver_port = free_port()
    params = {"ALLOW_CHANGES": True, "ROUTER_NAME": SUPPORT, "RECEIVER_PORT": receiver_port,
              "HOOK_URL": f"http://127.0.0.1:{receiver_port}", "WATCH_S": 1}  # fmt: skip
    run = Run(account.db_path, tmp_path, monkeypatch, "05_your_dialpad_history", params)
    assert run.changes == [
        ("POST", "/api/v2/webhooks", 200),
        ("POST", "/api/v2/subscriptions/call", 200),
        ("DELETE", "/api/v2/subscriptions/call/{id}", 200),
        ("DELETE", "/api/v2/webhooks/{id}", 200),
    ]
    assert "34 calls, 2 pages" in run.text()  # Support hotline's history: 20 good, 11 errors, 3 skipped
    assert run.changed_tables() <= {"meta", "sqlite_sequence"}


def test_notebook_02_replays_logs_offline_and_never_connects():
    cells = json.loads((NOTEBOOKS / "02_replay_candidate_rules.ipynb").read_text())["cells"]
    code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    assert "connect(" not in code and "DialpadClient" not in code and "DIALPAD_API_KEY" not in code
