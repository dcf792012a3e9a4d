"""The watcher over real HTTP: an embedded sandbox (simulated clock) as the source, a loopback
incoming-webhook receiver for the alerts, a state file across restarts."""

from __future__ import annotations

import io
import json

import pytest

from dialpad_nb import connect
from dialpad_nb.core.errors import ValidationError
from dialpad_nb.ops import SandboxSource, Watcher, WatchState, watch
from tests.helpers_alerts import AlertReceiver, closed_port_url

pytestmark = pytest.mark.http

CALLER = "+12065550188"
MIN = 60_000


@pytest.fixture
def world():
    client = connect({})
    receiver = AlertReceiver()
    router = client.create_router(
        name="Support line", routing_url=closed_port_url(), default_target="Reception"
    )
    number = client.assign_number(router.id, area_code="415").number
    try:
        yield client, receiver, router, number
    finally:
        receiver.close()
        client.close()


def fail_calls(client, number: str, n: int) -> None:
    """``n`` calls one simulated minute apart, each an error (nothing listens at the router's URL)."""
    start = client.control.clock()
    recs = client.control.place_calls(
        [{"to": number, "from": CALLER, "at": start + (i + 1) * MIN} for i in range(n)]
    )
    assert {r["outcome"] for r in recs} == {"connect_error"}


def kinds(messages) -> list[str]:
    return [m["kind"] for m in messages]


def test_one_alert_and_one_resolved_per_incident_across_restarts_and_a_down_webhook(world, tmp_path):
    client, receiver, router, number = world
    state = tmp_path / "watch-state.json"
    out, err = io.StringIO(), io.StringIO()

    def watcher() -> Watcher:
        return Watcher(SandboxSource(client), state=state, alert_url=receiver.url, out=out, err=err)

    with watcher() as w:
        assert w.poll() == []  # healthy: nothing to say
        fail_calls(client, number, 8)  # 8 errors in the hour: budget 2 left (warning at <= 3)
        receiver.status = 500  # the chat tool is down
        first = w.poll()
    assert kinds(first) == ["alert"]
    assert (
        "WARNING" in first[0]["text"]
        and "Support line" in first[0]["text"]
        and "budget 2 left" in first[0]["text"]
    )
    assert receiver.bodies == [] and receiver.attempts == 1
    assert "answered HTTP 500" in err.getvalue() and "retried next poll" in err.getvalue()
    assert "SECRETPATH" not in err.getvalue() + out.getvalue()  # the webhook URL is a secret
    kept = json.loads(state.read_text())
    assert list(kept["incidents"]) == [str(router.id)] and len(kept["outbox"]) == 1

    receiver.status = 200
    with watcher() as w:  # a restart: same state, the source re-read from the start
        assert w.poll() == []  # still near the threshold: the same incident, no second alert
    assert receiver.texts() == [first[0]["text"]]  # the kept alert was delivered, once
    assert json.loads(state.read_text())["outbox"] == []

    # hysteresis: 61.5 min after the first error, 1 has expired (7 left, budget 3: still warning);
    # 64.5 min after, 4 have expired (4 left, budget 6, no recent errors): resolved
    client.control.advance(61.5 * 60 - 8 * 60)
    with watcher() as w:
        assert w.poll() == []
        assert w.tracker.level(router.id, client.control.clock()) == "warning"
        client.control.advance(2 * 60)  # 5 errors left: budget 5, no recent pace -> "ok", but not yet clear
        assert w.poll() == []
        assert w.tracker.level(router.id, client.control.clock()) == "ok"
        client.control.advance(60)  # 4 left: budget 6
        second = w.poll()
    assert kinds(second) == ["resolved"]
    assert "RESOLVED" in second[0]["text"]
    with watcher() as w:
        assert w.poll() == []  # restarted again: nothing resent
    assert [t.split(":")[0] for t in receiver.texts()] == ["[dialpad-nb] WARNING", "[dialpad-nb] RESOLVED"]
    assert WatchState.load(state).incidents == {}


def test_a_disable_opens_one_incident_and_an_escalation_once(world, tmp_path):
    client, receiver, router, number = world
    state = tmp_path / "s.json"
    with Watcher(SandboxSource(client), state=state, alert_url=receiver.url, out=io.StringIO()) as w:
        fail_calls(client, number, 9)
        assert kinds(w.poll()) == ["alert"]
        fail_calls(client, number, 2)  # the 11th error disables it
        assert client.get_router(router.id).enabled is False
        msgs = w.poll()
        assert kinds(msgs) == ["escalated"] and "DISABLED" in msgs[0]["text"]
        assert w.poll() == []
        # re-enabled with a reset: healthy at once
        client.update_router(router.id, enabled=True, reset_error_count=True)
        assert kinds(w.poll()) == ["resolved"]
    assert len(receiver.bodies) == 3


def test_a_router_already_disabled_alerts_as_disabled(world, tmp_path):
    client, receiver, router, number = world
    fail_calls(client, number, 11)
    out = io.StringIO()
    w = watch(client, state=str(tmp_path / "s.json"), polls=1, out=out)
    assert "DISABLED: Support line" in out.getvalue()
    assert list(w.state.incidents.values())[0]["level"] == "disabled"


def test_watch_follows_only_the_routers_named(world, tmp_path):
    client, receiver, router, number = world
    other = client.create_router(name="Sales line", routing_url=closed_port_url(), default_target="Reception")
    other_number = client.assign_number(other.id, area_code="415").number
    fail_calls(client, other_number, 9)
    out = io.StringIO()
    watch(client, routers=["Support line"], polls=1, out=out)
    assert out.getvalue() == ""
    watch(client, routers=["Sales line"], polls=1, out=out)
    assert "Sales line" in out.getvalue()


def test_a_broken_state_file_is_named(tmp_path):
    bad = tmp_path / "state.json"
    bad.write_text("{not json")
    with pytest.raises(ValidationError, match="is not a watcher state file"):
        WatchState.load(bad)


# --------------------------------------------------------------------------- the endpoint log, tailed


def _record(ts: int, call_id: int, *, ok: bool) -> str:
    from dialpad_nb.core.endpoint_log import make_record

    rec = make_record(
        ts=ts, call_id=call_id, payload=None, signed=False,
        decision={"target_id": 1, "target_type": "office"} if ok else None, rule=None, fallback=False,
        status=200 if ok else 500, latency_ms=12.0, outcome="ok" if ok else "error", error=None if ok else "boom",
    )  # fmt: skip
    return json.dumps(rec) + "\n"


def test_the_log_source_reads_every_line_once_across_a_gzipped_rotation(tmp_path):
    import gzip

    from dialpad_nb.core.clock import SimulatedClock
    from dialpad_nb.core.endpoint_log import rotated_name
    from dialpad_nb.health import FleetTracker
    from dialpad_nb.ops import LogSource

    t0 = 1_767_000_000_000
    log = tmp_path / "endpoint.jsonl"
    log.write_text(
        "".join(_record(t0 + i * MIN, i, ok=i % 2 == 0) for i in range(4))
        + _record(t0 + 4 * MIN, 4, ok=False)[:20]
    )
    src = LogSource(log, router_id=7, name="Support line", clock=SimulatedClock(t0 + 10 * MIN))
    tracker = FleetTracker()
    src.poll(tracker)
    assert tracker.routers[7].calls == 4  # the partial fifth line waits
    # the partial line completes, two more are written, then the file is rotated and gzipped
    # before the next poll; a new active file starts
    text = log.read_text()[:-20] + _record(t0 + 4 * MIN, 4, ok=False) + _record(t0 + 5 * MIN, 5, ok=False)
    rotated = rotated_name(log, "20260101T000000000000Z")
    with gzip.open(str(rotated) + ".gz", "wt") as gz:
        gz.write(text)
    log.write_text(_record(t0 + 6 * MIN, 6, ok=False))
    src.poll(tracker)
    src.poll(tracker)  # nothing new: nothing counted twice
    r = tracker.routers[7]
    assert (r.calls, r.errors) == (7, 5)
    assert tracker.table(t0 + 10 * MIN).loc[0, "errors_in_window"] == 5
    assert tracker.table(t0 + 10 * MIN).loc[0, "router"] == "Support line"


def test_watch_with_a_log_needs_the_router_id(tmp_path):
    with pytest.raises(ValidationError, match="router_id"):
        watch(log=str(tmp_path / "x.jsonl"), polls=1)


# --------------------------------------------------------------------------- the command, on a served sandbox


def test_the_watch_command_on_a_sandbox_it_reaches_through_the_env(tmp_path, monkeypatch, capsys):
    from dialpad_nb.cli import main
    from dialpad_nb.sandbox import start_sandbox

    server = start_sandbox()
    receiver = AlertReceiver()
    try:
        monkeypatch.setenv("DIALPAD_API_KEY", server.api_key)
        monkeypatch.setenv("DIALPAD_BASE_URL", server.url)
        client = connect()
        router = client.create_router(
            name="Returns line", routing_url=closed_port_url(), default_target="Reception"
        )
        number = client.assign_number(router.id, area_code="415").number
        fail_calls(client, number, 9)
        client.close()
        argv = ["watch", "--once", "--state", str(tmp_path / "s.json"), "--alert-url", receiver.url]
        assert main(argv) == 0
        assert main(argv) == 0  # run again (cron): the same incident, no second alert
        out = capsys.readouterr()
        assert out.out.count("WARNING: near auto-disable: Returns line") == 1
        assert len(receiver.bodies) == 1 and "Returns line" in receiver.bodies[0]["text"]
        assert server.api_key not in out.out + out.err and "SECRETPATH" not in out.out + out.err
    finally:
        receiver.close()
        server.stop()


def test_the_watch_command_without_a_source_is_a_usage_error(monkeypatch, capsys):
    from dialpad_nb.cli import main

    monkeypatch.delenv("DIALPAD_API_KEY", raising=False)
    assert main(["watch", "--once"]) == 2
    assert "DIALPAD_API_KEY" in capsys.readouterr().err


def test_watch_reads_dialpad_s_call_history_when_asked(world, tmp_path):
    client, receiver, router, number = world
    fail_calls(client, number, 8)
    out = io.StringIO()
    w = watch(client, source="history", polls=1, out=out)
    assert "WARNING: near auto-disable: Support line" in out.getvalue()
    assert "call history" in w.source.label
