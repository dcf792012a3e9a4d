"""``dialpad-nb endpoint --shadow/--canary`` and ``dialpad-nb canary``: bad flags refused before
anything listens, naming what is wrong; with two workers the canary starts once and a stop made
through either worker holds in both."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator

import httpx
import pytest

from dialpad_nb.calls import read_experiment, read_log_events
from dialpad_nb.cli import build_parser, main
from dialpad_nb.cli.endpoint import endpoint_app
from dialpad_nb.core.signing import sign
from dialpad_nb.endpoint import serve_endpoint
from tests.test_endpoint_reload import CANDIDATE, CRM, TZ
from tests.test_endpoint_workers import Endpoint, healthz, until, worker_pids

CURRENT = CANDIDATE.with_name("routing_current.csv")


@pytest.fixture
def endpoints() -> Iterator[list[Endpoint]]:
    started: list[Endpoint] = []
    yield started
    for e in started:  # a test that failed half-way: the master and its workers (one session) go
        if e.proc.poll() is None:
            os.killpg(e.proc.pid, signal.SIGKILL)
            e.proc.communicate(timeout=30)


ADMIN = "cli-admin-token-0123456789abcdefghijklmn"
SECRET = "workers-test-secret-0123456789abcdefghij"  # the one test_endpoint_workers.Endpoint exports
BAD_SHADOW = """rule,internal_number,hours,target_id,target_type
sales,+14155550142,09:00-25:00,5002000000000201,callcenter
default,,,5002000000000202,callcenter
"""


@pytest.mark.parametrize(
    "extra, needle",
    [
        (["--canary", "candidate=1.5"], "canary candidate: a share must be between 0 and 1"),
        (["--canary", "candidate=lots"], "'lots' is not a number from 0 to 1"),
        (["--canary", "nobody=0.1"], "'nobody' is not a shadow: give it with --shadow nobody=CSV"),
        (["--shadow", "no-equals-sign"], "expected NAME=CSV"),
        (["--shadow", "candidate=/nonexistent.csv"], "shadow 'candidate': matrix: no such file"),
    ],
)
def test_bad_shadow_and_canary_flags_are_refused_before_listening(extra, needle, capsys):
    argv = ["endpoint", "--matrix", str(CURRENT), "--timezone", TZ, "--port", "0"]
    if "--shadow" not in extra:
        argv += ["--shadow", f"candidate={CANDIDATE}"]
    assert main([*argv, *extra]) == 2
    assert needle in capsys.readouterr().err


def test_a_bad_shadow_matrix_is_refused_naming_its_rows(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text(BAD_SHADOW)
    status = main(["endpoint", "--matrix", str(CURRENT), "--timezone", TZ, "--shadow", f"candidate={bad}",
                   "--port", "0"])  # fmt: skip
    err = capsys.readouterr().err
    assert status == 2 and "shadow 'candidate'" in err and "row 1 (rule 'sales'), column 'hours'" in err


def test_the_cli_builds_shadows_a_canary_and_an_admin_route_from_the_environment(capsys):
    args = build_parser().parse_args([
        "endpoint", "--matrix", str(CURRENT), "--timezone", TZ, "--crm", str(CRM),
        "--shadow", f"candidate={CANDIDATE}", "--canary", "candidate=0.2", "--canary-min-calls", "30",
        "--canary-margin", "0.1", "--admin-token-env", "ADMIN_TOKEN", "--shadow-budget", "0.5",
    ])  # fmt: skip
    with pytest.raises(Exception, match="ADMIN_TOKEN is not set"):
        endpoint_app(args, {})
    app = endpoint_app(args, {"ADMIN_TOKEN": ADMIN})
    kit = app.state.endpoint
    assert [s.name for s in kit.shadows] == ["candidate"] and kit.shadows[0].budget_s == 0.5
    assert kit.canary.rule.min_calls == 30 and kit.canary.rule.margin == 0.1
    assert kit.canary.status()["candidates"]["candidate"]["share"] == 0.2
    served = serve_endpoint(app)
    try:
        env = {"CANARY_ADMIN_TOKEN": ADMIN}
        with pytest.MonkeyPatch.context() as mp:
            for k, v in env.items():
                mp.setenv(k, v)
            assert main(["canary", served.url, "share", "candidate", "0.3"]) == 0
            changed = json.loads(capsys.readouterr().out)
            assert main(["canary", served.url, "stop", "candidate", "--reason", "maintenance"]) == 0
            stopped = json.loads(capsys.readouterr().out)
            assert main(["canary", served.url, "status"]) == 0
            status = json.loads(capsys.readouterr().out)
            mp.setenv("CANARY_ADMIN_TOKEN", "not-the-admin-token")
            assert main(["canary", served.url, "status"]) == 1
            refused = capsys.readouterr().err
            mp.delenv("CANARY_ADMIN_TOKEN")
            assert main(["canary", served.url, "status"]) == 2
    finally:
        served.stop()
    assert changed["event"]["share"] == 0.3 and changed["event"]["trigger"] == "admin"
    assert (
        stopped["canary"]["candidates"]["candidate"]["reason"] == "stopped from the admin route: maintenance"
    )
    assert status["candidates"]["candidate"]["stopped"] is True
    assert "HTTP 401" in refused and ADMIN not in refused and "not-the-admin-token" not in refused


SMALL_A = "rule,internal_number,target_id,target_type\nsales,+14155550142,5002000000000201,callcenter\ndefault,,5002000000000202,callcenter\n"
SMALL_B = SMALL_A.replace("5002000000000201", "5002000000000204")


def test_two_workers_start_the_canary_once_and_a_stop_through_either_holds_in_both(tmp_path, endpoints):
    control, candidate, log = tmp_path / "a.csv", tmp_path / "b.csv", tmp_path / "endpoint.jsonl"
    control.write_text(SMALL_A)
    candidate.write_text(SMALL_B)
    ep = Endpoint(
        "--matrix", str(control), "--timezone", TZ, "--secret-env", "ROUTER_SECRET",
        "--shadow", f"candidate={candidate}", "--canary", "candidate=0.5", "--admin-token-env", "ADMIN_TOKEN",
        "--log", str(log), "--workers", "2",
        env={"ADMIN_TOKEN": ADMIN},
    )  # fmt: skip
    endpoints.append(ep)
    pids = worker_pids(ep.url)
    bodies = [
        sign({"date_started": 1_791_820_800_000 + i, "call_id": 9_000_000 + i, "external_number": f"+1206555{i:04d}",
              "internal_number": "+14155550142", "contact_id": None, "contact_type": None}, SECRET)
        for i in range(40)
    ]  # fmt: skip
    with httpx.Client() as c:
        before = [
            c.post(ep.url + "/route", content=b, headers={"Content-Type": "application/jwt"}) for b in bodies
        ]
    assert all(r.status_code == 200 for r in before)
    admin = httpx.post(ep.url + "/admin/canary", json={"candidate": "candidate", "stop": True},
                       headers={"Authorization": f"Bearer {ADMIN}"})  # fmt: skip
    assert admin.status_code == 200 and admin.json()["changed"] is True
    stopped_in: set[int] = set()

    def both_stopped() -> bool:
        h = healthz(ep.url)
        if h and h["canary"]["candidates"]["candidate"]["stopped"]:
            stopped_in.add(h["pid"])
        return stopped_in == pids

    until(both_stopped, "both workers reporting the stop")
    after = [  # a new connection each: either worker may answer any of them
        httpx.post(ep.url + "/route", content=b, headers={"Content-Type": "application/jwt"}) for b in bodies
    ]
    assert all(r.status_code == 200 for r in after)
    code, _ = ep.stop()
    assert code == 0
    events = read_log_events(log)
    canary = events[events["event"] == "canary"]
    assert canary["action"].tolist() == ["start", "stop"]  # one start for both workers, one stop
    exp = read_experiment(log).frame.sort_values("time", kind="stable", ignore_index=True)
    first, second = exp.iloc[: len(bodies)], exp.iloc[len(bodies) :]
    assert (first["side"] == "candidate").any() and (first["answered_by"] == "candidate").any()
    assert len(second) == len(bodies) and (second["side"] == "control").all()
    assert set(events.loc[events["event"] == "reload", "pid"]) == pids
