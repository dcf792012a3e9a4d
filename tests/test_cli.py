"""``dialpad-nb``: argument handling in-process, and ``dialpad-nb sandbox`` as a real subprocess."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from dialpad_nb.cli import build_parser, main
from dialpad_nb.samples.company import DEPARTMENTS, OFFICES
from dialpad_nb.sandbox.runner import bind_socket

KEY = "cli-test-key-0123456789abcdef"
SCRIPT = Path(sys.executable).with_name("dialpad-nb")
ROUTER = {
    "name": "From the CLI",
    "routing_url": "https://ops.example/route",
    "office_id": OFFICES[0]["id"],
    "default_target_id": DEPARTMENTS[0]["id"],
    "default_target_type": "department",
}


class CliSandbox:
    """``dialpad-nb sandbox`` in a subprocess; reads its banner line by line (no sleeps)."""

    def __init__(self, *args: str) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            [str(SCRIPT), "sandbox", "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.banner: dict[str, str] = {}
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("Dialpad sandbox listening on "):
                self.banner["url"] = line.rsplit(" ", 1)[1].strip()
            elif ":" in line:
                label, _, value = line.partition(":")
                self.banner[label.strip()] = value.strip()
            if line.startswith("Press Ctrl-C"):
                break
        else:
            raise AssertionError(f"no banner; stderr: {self.proc.stderr.read() if self.proc.stderr else ''}")

    def stop(self, sig: int = signal.SIGTERM) -> tuple[int, str]:
        self.proc.send_signal(sig)
        out, err = self.proc.communicate(timeout=30)
        return self.proc.returncode, out + err

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate(timeout=30)


@pytest.fixture
def cli_sandboxes():
    started: list[CliSandbox] = []

    def start(*args: str) -> CliSandbox:
        cli = CliSandbox(*args)
        started.append(cli)
        return cli

    yield start
    for cli in started:
        cli.kill()


@pytest.mark.http
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_sandbox_serves_and_stops_cleanly(cli_sandboxes, sig):
    cli = cli_sandboxes("--api-key", KEY)
    assert cli.banner["url"].startswith("http://127.0.0.1:")
    assert cli.banner["API key"] == KEY
    headers = {"Authorization": f"Bearer {KEY}"}
    r = httpx.get(cli.banner["url"] + "/api/v2/offices", headers=headers, timeout=10)
    assert r.status_code == 200 and r.json()["items"][0]["id"] == OFFICES[0]["id"]
    assert httpx.get(cli.banner["url"] + "/api/v2/offices", timeout=10).status_code == 401
    code, output = cli.stop(sig)
    assert code == 0, output
    assert "Sandbox stopped." in output
    assert "Traceback" not in output


@pytest.mark.http
def test_sandbox_with_a_db_file_keeps_routers_across_runs_and_makes_a_key(cli_sandboxes, tmp_path):
    db = tmp_path / "cli.sqlite3"
    first = cli_sandboxes("--db", str(db), "--clock", "simulated", "--start", "2026-01-05T09:00:00Z")
    key = first.banner["API key"]
    assert len(key) >= 24 and first.banner["Database"] == str(db)
    assert first.banner["Clock"].startswith("simulated, starting 2026-01-05T09:00:00")
    headers = {"Authorization": f"Bearer {key}"}
    router = httpx.post(first.banner["url"] + "/api/v2/callrouters", json=ROUTER, headers=headers).json()
    assert first.stop()[0] == 0

    second = cli_sandboxes("--db", str(db), "--api-key", KEY, "--clock", "system")
    assert second.banner["API key"] != key
    got = httpx.get(
        f"{second.banner['url']}/api/v2/callrouters/{router['id']}",
        headers={"Authorization": f"Bearer {KEY}"},
    )
    assert got.json() == router
    clock = httpx.get(second.banner["url"] + "/sandbox/v1/clock", params={"apikey": KEY}).json()
    assert clock["simulated"] is False
    assert second.stop()[0] == 0


@pytest.mark.http
def test_as_account_serves_what_a_sandbox_put_in_without_the_control_api(cli_sandboxes, tmp_path):
    db = tmp_path / "account.sqlite3"
    first = cli_sandboxes("--db", str(db), "--api-key", KEY)  # a normal sandbox puts a router in
    headers = {"Authorization": f"Bearer {KEY}"}
    router = httpx.post(first.banner["url"] + "/api/v2/callrouters", json=ROUTER, headers=headers).json()
    assert first.stop()[0] == 0

    account = cli_sandboxes(
        "--db", str(db), "--api-key", KEY, "--as-account", "--without-scope", "calls:list"
    )
    assert account.banner["Clock"] == "system"
    assert account.banner["Mode"].startswith("account stand-in (no control API")
    assert account.banner["Key without the scope(s)"] == "calls:list"
    url = account.banner["url"]
    assert httpx.get(f"{url}/api/v2/callrouters/{router['id']}", headers=headers).json() == router
    for path in ("/sandbox/v1/clock", "/sandbox/v1/attempts"):
        assert httpx.get(url + path, headers=headers).status_code == 404
    assert httpx.post(url + "/sandbox/v1/calls", json={}, headers=headers).status_code == 404
    assert httpx.get(url + "/api/v2/call", headers=headers).status_code == 403  # the key lacks calls:list
    assert account.stop()[0] == 0


def test_a_taken_port_is_reported_with_status_2(capsys):
    taken = bind_socket()
    try:
        code = main(["sandbox", "--port", str(taken.getsockname()[1])])
    finally:
        taken.close()
    assert code == 2
    assert "cannot listen" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        ([], "COMMAND"),
        (["sandbox", "--start", "yesterday"], "--start"),
        (["sandbox", "--clock", "sundial"], "--clock"),
        (["sandbox", "--port", "http"], "--port"),
        (["sandbox", "--as-account", "--start", "2026-01-05T09:00:00Z"], "--start"),
        (["sandbox", "--without-scope", "calls:read"], "--without-scope"),
    ],
)
def test_bad_arguments_exit_2_naming_the_option(capsys, argv, needle):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    assert needle in capsys.readouterr().err


def test_defaults():
    args = build_parser().parse_args(["sandbox"])
    assert (args.host, args.port, args.db, args.api_key, args.clock) == (
        "127.0.0.1",
        8765,
        None,
        None,
        "simulated",
    )
