"""The call-event receiver kit: verifies, answers 2xx, de-duplicates, logs; refuses bad events with
401/400 and a log line; and ``dialpad-nb receiver`` serves it from a shell."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import jwt
import pytest

from dialpad_nb.cli import build_parser
from dialpad_nb.core.clock import SimulatedClock
from dialpad_nb.core.signing import sign
from dialpad_nb.endpoint import event_receiver

from .conftest import _test_client_class

SECRET = "receiver-secret-0123456789abcdefghij"
EVENT = {
    "call_id": 7000000000000001,
    "state": "hangup",
    "event_timestamp": 1767603700000,
    "date_started": 1767603600000,
}


def receiver(tmp_path=None, **kw):
    kw.setdefault("clock", SimulatedClock())
    app = event_receiver(log_path=None if tmp_path is None else tmp_path / "events.jsonl", **kw)
    client = _test_client_class()(app)
    return app, app.state.receiver, client


def post_jwt(client, payload, secret=SECRET, **headers):
    return client.post(
        "/hook", content=sign(payload, secret), headers={"Content-Type": "application/jwt", **headers}
    )


def test_signed_events_are_logged_once_per_call_and_state(tmp_path):
    app, kit, client = receiver(tmp_path, secret=SECRET)
    assert post_jwt(client, EVENT).json() == {"ok": True}
    assert post_jwt(client, {**EVENT, "state": "calling"}).json() == {"ok": True}
    again = post_jwt(client, EVENT)  # at-least-once delivery: the repeat is answered and dropped
    assert again.status_code == 200 and again.json() == {"ok": True, "duplicate": True}
    assert kit.duplicates == 1 and kit.log.accepted == 2
    lines = [json.loads(x) for x in (tmp_path / "events.jsonl").read_text().splitlines()]
    assert [(r["call_id"], r["state"], r["signed"], r["outcome"]) for r in lines] == [
        (EVENT["call_id"], "hangup", True, "ok"),
        (EVENT["call_id"], "calling", True, "ok"),
    ]
    assert lines[0]["event"] == EVENT and list(lines[0])[:2] == ["kind", "v"]
    assert lines[0]["ts"] == SimulatedClock().now_ms()
    assert SECRET not in (tmp_path / "events.jsonl").read_text()


def test_the_token_may_come_wrapped_or_with_another_content_type():
    _, kit, client = receiver(secret=SECRET)
    assert client.post("/", json={"token": sign(EVENT, SECRET)}).status_code == 200
    assert (
        client.post(
            "/", content=sign({**EVENT, "state": "ringing"}, SECRET), headers={"Content-Type": "text/plain"}
        ).status_code
        == 200
    )
    assert kit.log.accepted == 2


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda: json.dumps(EVENT).encode(), "unsigned event"),
        (lambda: sign(EVENT, "another-secret-0123456789abcdefghijk").encode(), "bad_signature"),
        (lambda: jwt.encode(EVENT, None, algorithm="none").encode(), "bad_algorithm"),
        (lambda: b"eyJhbGciOiJIUzI1NiJ9.garbage.sig", "malformed"),
        (lambda: sign({**EVENT, "exp": 1}, SECRET).encode(), "expired"),
        (lambda: b"\xff\xfe", "not UTF-8"),
    ],
)
def test_bad_or_unsigned_events_get_401_a_warning_and_a_record(tmp_path, caplog, make, reason):
    caplog.set_level(logging.WARNING, logger="dialpad_nb.endpoint.receiver")
    _, kit, client = receiver(tmp_path, secret=SECRET)
    r = client.post("/hook", content=make(), headers={"Content-Type": "application/jwt"})
    assert r.status_code == 401 and reason in r.json()["error"]["message"]
    assert kit.refused == 1 and kit.log.accepted == 0
    (warning,) = [rec for rec in caplog.records if rec.name == "dialpad_nb.endpoint.receiver"]
    assert "HTTP 401" in warning.getMessage() and reason in warning.getMessage()
    (line,) = (tmp_path / "events.jsonl").read_text().splitlines()
    record = json.loads(line)
    assert record["outcome"] == "unauthorized" and record["event"] is None and reason in record["error"]
    assert SECRET not in line and "eyJ" not in line  # never the secret or the token


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"not json", "neither JSON nor a JWT"),
        (b"[1, 2]", "JSON object"),
        (json.dumps({"state": "hangup"}).encode(), "call_id"),
        (json.dumps({"call_id": 7, "state": ""}).encode(), "state"),
        (sign(EVENT, SECRET).encode(), "no secret"),
        (b"   ", "empty body"),
    ],
)
def test_an_unsigned_receiver_refuses_what_is_not_a_call_event_with_400(body, reason):
    _, kit, client = receiver()
    r = client.post("/", content=body)
    assert r.status_code == 400 and reason in r.json()["error"]["message"]
    assert kit.refused == 1 and kit.log.events() == []


def test_repeats_are_recognised_after_a_restart_from_the_log(tmp_path):
    _, _, client = receiver(tmp_path)
    client.post("/", json=EVENT)
    _, kit, client = receiver(tmp_path)
    assert client.post("/", json=EVENT).json()["duplicate"] is True and kit.duplicates == 1
    assert len((tmp_path / "events.jsonl").read_text().splitlines()) == 1


def test_wait_for_names_how_many_arrived():
    _, kit, client = receiver()
    client.post("/", json=EVENT)
    assert kit.log.wait_for(1, timeout_s=0.01) == 1
    with pytest.raises(TimeoutError, match="1 of 2 events"):
        kit.log.wait_for(2, timeout_s=0.01)
    assert kit.log.wait_for(2, timeout_s=0.01, strict=False) == 1


def test_a_secret_must_be_text():
    with pytest.raises(ValueError, match="secret"):
        event_receiver(secret="")


def test_receiver_cli_flags():
    args = build_parser().parse_args(["receiver", "--secret-env", "HOOK", "--log", "e.jsonl", "--port", "0"])
    assert (args.secret_env, args.log, args.port, args.host) == ("HOOK", "e.jsonl", 0, "127.0.0.1")


def test_receiver_cli_serves_verifies_logs_and_stops_on_sigterm(tmp_path):
    script = Path(sys.executable).parent / "dialpad-nb"
    log = tmp_path / "events.jsonl"
    env = {**os.environ, "HOOK_SECRET": SECRET}
    proc = subprocess.Popen(
        [str(script), "receiver", "--port", "0", "--secret-env", "HOOK_SECRET", "--log", str(log)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("Call-event receiver listening on http://127.0.0.1:")
        url = first.split(" on ", 1)[1].strip()
        banner = [proc.stdout.readline() for _ in range(3)]
        assert banner[0].startswith("Signed events: required") and str(log) in banner[1]
        assert httpx.post(url, content=sign(EVENT, SECRET)).status_code == 200
        assert httpx.post(url, json=EVENT).status_code == 401
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
        rest = proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pipe in (proc.stdout, proc.stderr):  # closed here, not left to the garbage collector
            if pipe is not None:
                pipe.close()
    outcomes = [json.loads(x)["outcome"] for x in log.read_text().splitlines()]
    assert outcomes == ["ok", "unauthorized"]
    assert "Receiver stopped." in rest


def test_receiver_cli_needs_its_secret_variable(monkeypatch, capsys):
    from dialpad_nb.cli import main

    monkeypatch.delenv("NO_SUCH_SECRET", raising=False)
    assert main(["receiver", "--secret-env", "NO_SUCH_SECRET", "--port", "0"]) == 2
    assert "NO_SUCH_SECRET is not set" in capsys.readouterr().err


def test_hostile_bodies_get_4xx_never_5xx():
    _, kit, client = receiver(secret=SECRET)
    deep = b"[" * 100_000 + b"]" * 100_000
    assert client.post("/", content=deep).status_code == 401  # not JSON we can use, not a JWT
    _, kit, client = receiver()
    assert client.post("/", content=deep).status_code == 400
    huge = b"{" + b" " * (1024 * 1024 + 1) + b"}"
    r = client.post("/", content=huge)
    assert r.status_code == 413 and kit.refused == 2
