"""``dialpad-nb routers|replay|health|generate-calls|--version``: the jobs people script, run
in-process through ``main(argv)``, with their output and exit status (0 ok, 1 failure, 2 usage)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from dialpad_nb import __version__
from dialpad_nb.api.client import DialpadClient
from dialpad_nb.cli import main
from dialpad_nb.samples.attempts import SAMPLE_ROUTERS
from tests.helpers_rules import AFTER_HOURS, SPANISH, SPANISH_LINE, TIER1

REPO = Path(__file__).resolve().parent.parent
ATTEMPTS = REPO / "data" / "attempts_sample.csv"
NIGHT_MS = 1_768_359_600_000  # 2026-01-14T03:00Z = 19:00 in San Francisco
DAY_MS = NIGHT_MS + 14 * 3_600_000


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_version(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"dialpad-nb {__version__}"


def test_building_the_command_line_loads_nothing_heavy():
    import subprocess
    import sys

    code = (
        "import sys; from dialpad_nb.cli import build_parser; build_parser(); "
        "print(sorted(m for m in ('pandas', 'matplotlib', 'httpx', 'starlette') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"  # --version and usage errors answer at once


# --------------------------------------------------------------------------- routers


@pytest.fixture
def on_sandbox(sandbox, monkeypatch):
    """The environment connect() reads, pointed at a running sandbox with one router."""
    monkeypatch.setenv("DIALPAD_API_KEY", sandbox.api_key)
    monkeypatch.setenv("DIALPAD_BASE_URL", sandbox.url)
    monkeypatch.delenv("DIALPAD_ENV", raising=False)
    with DialpadClient(base_url=sandbox.url, api_key=sandbox.api_key, clock=sandbox.clock) as client:
        router = client.create_router(
            name="Support hotline", routing_url="https://ops.example/route", default_target="Reception"
        )
    return sandbox, router


@pytest.mark.http
def test_routers_list_show_and_act_by_name(capsys, on_sandbox):
    sandbox, router = on_sandbox
    code, out, _ = run(capsys, "routers", "list")
    assert code == 0 and "Support hotline" in out and "Reception (department)" in out
    assert "NaN" not in out and "True" not in out  # yes/no for people
    code, out, _ = run(capsys, "routers", "list", "--format", "json")
    (row,) = json.loads(out)
    assert row["id"] == router.id and row["default_target"] == "Reception (department)"
    code, out, _ = run(capsys, "routers", "list", "--format", "csv")
    assert next(csv.DictReader(io.StringIO(out)))["name"] == "Support hotline"
    code, out, _ = run(capsys, "routers", "show", "support hotline", "--format", "json")
    assert code == 0 and json.loads(out)["office"] == "Harbor & Pine — San Francisco (office)"

    code, out, _ = run(capsys, "routers", "disable", "Support hotline")
    assert code == 0 and out.startswith("Disabled router 'Support hotline'")
    # a second update inside Dialpad's 5 minutes: refused (429), said in words, status 1
    code, out, err = run(capsys, "routers", "enable", str(router.id), "--reset-error-count")
    assert code == 1 and "Dialpad's rate limit (429" in err and "Traceback" not in err
    sandbox.clock.advance(300)
    code, out, _ = run(capsys, "routers", "enable", str(router.id), "--reset-error-count")
    assert code == 0 and out.startswith("Enabled (error count reset) router 'Support hotline'")
    sandbox.clock.advance(300)
    code, out, _ = run(capsys, "routers", "reset", "Support hotline")
    assert code == 0 and out.startswith("Reset the error count of router 'Support hotline'")


@pytest.mark.http
def test_routers_usage_errors_exit_2(capsys, on_sandbox, monkeypatch):
    code, _, err = run(capsys, "routers", "show", "Nobody")
    assert code == 2 and "no router with id or name 'Nobody' (routers: 'Support hotline')" in err
    monkeypatch.delenv("DIALPAD_API_KEY")
    code, _, err = run(capsys, "routers", "list")
    assert code == 2 and "set DIALPAD_API_KEY" in err
    with pytest.raises(SystemExit) as usage:
        main(["routers", "fly"])
    assert usage.value.code == 2


@pytest.mark.http
def test_routers_a_refused_key_is_a_failure(capsys, on_sandbox, monkeypatch):
    monkeypatch.setenv("DIALPAD_API_KEY", "not-the-key")
    code, _, err = run(capsys, "routers", "list")
    assert code == 1 and "The API key was refused (401" in err and "not-the-key" not in err


# --------------------------------------------------------------------------- replay

CANDIDATE = f"""rule,internal_number,hours,target_id,target_type
spanish_night,{SPANISH_LINE},18:00-08:00,{AFTER_HOURS[0]},callcenter
spanish,{SPANISH_LINE},,{SPANISH[0]},callcenter
default,,,{TIER1[0]},callcenter
"""
CURRENT = f"""rule,internal_number,target_id,target_type
spanish,{SPANISH_LINE},{SPANISH[0]},callcenter
default,,{TIER1[0]},callcenter
"""


@pytest.fixture
def replay_files(tmp_path):
    calls = [(1, NIGHT_MS, SPANISH_LINE), (2, DAY_MS, SPANISH_LINE), (3, DAY_MS, "+14155550100")]
    lines = [
        json.dumps(
            {"date_started": ms, "call_id": cid, "external_number": "+14155551234", "internal_number": to}
        )
        for cid, ms, to in calls
    ]
    (tmp_path / "calls.jsonl").write_text("\n".join(lines) + "\n")
    (tmp_path / "candidate.csv").write_text(CANDIDATE)
    (tmp_path / "current.csv").write_text(CURRENT)
    return tmp_path


def test_replay_prints_the_summary_and_writes_the_changes(capsys, replay_files):
    d = replay_files
    changes = d / "changes.csv"
    args = ["replay", "--calls", str(d / "calls.jsonl"), "--candidate", str(d / "candidate.csv")]
    args += ["--baseline", str(d / "current.csv"), "--timezone", "America/Los_Angeles"]
    code, out, err = run(capsys, *args, "--directory", "sample", "--changes", str(changes))
    assert code == 0, err
    assert "candidate vs current: 1 of 3 calls change target (33.3%)" in out
    assert "hours and days read in America/Los_Angeles" in out
    assert f"wrote 1 changed calls to {changes}" in out
    (row,) = list(csv.DictReader(io.StringIO(changes.read_text())))
    assert (row["call_id"], row["before_name"], row["after_name"]) == ("1", "Spanish Line", "After Hours")
    assert row["date_started_local"].startswith("2026-01-13T19:00:00")  # the local time the rule read

    code, out, _ = run(capsys, *args, "--changes", "-", "--format", "json")
    report = json.loads(out)
    assert report["headline"]["calls whose target changes"] == "1 (33.3%)" and report["changes_csv"] is None


def test_replay_without_a_timezone_says_hours_are_read_in_utc(capsys, replay_files):
    d = replay_files
    code, out, _ = run(
        capsys, "replay", "--calls", str(d / "calls.jsonl"), "--candidate", str(d / "candidate.csv"),
        "--baseline", str(d / "current.csv"), "--changes", "-",
    )  # fmt: skip
    assert code == 0
    assert "warning: candidate: hours/days rules are read in UTC because no timezone was given" in out


def test_replay_failures_and_usage(capsys, replay_files):
    d = replay_files
    (d / "bad.csv").write_text(CANDIDATE.replace("18:00-08:00", "6pm").replace(f",{TIER1[0]},", ",x,"))
    base = ["replay", "--calls", str(d / "calls.jsonl"), "--changes", "-"]
    code, _, err = run(capsys, *base, "--candidate", str(d / "bad.csv"))
    assert code == 1
    assert "invalid routing matrix, 2 problems:\n  - row 1 (rule 'spanish_night'), column 'hours'" in err
    assert "\n  - row 3 (rule 'default'), column 'target_id': 'x' is not an integer id" in err
    code, _, err = run(capsys, "replay", "--calls", str(d / "nope.jsonl"), "--candidate", str(d / "bad.csv"))
    assert code == 2 and "no such file or folder" in err
    code, _, err = run(
        capsys, *base, "--candidate", str(d / "candidate.csv"), "--secret-env", "NO_SUCH_VAR_X"
    )
    assert code == 2 and "NO_SUCH_VAR_X is not set" in err


# --------------------------------------------------------------------------- health


def test_health_prints_the_window_summary_and_forecast_by_name(capsys):
    code, out, _ = run(
        capsys, "health", "--attempts", str(ATTEMPTS), "--names", "sample",
        "--timezone", "America/Los_Angeles", "--now", "2026-10-06T21:00:00Z",
    )  # fmt: skip
    assert code == 0
    assert "support  1,693    1,626     12        2      67" in out
    assert "2026-10-06 14:05:26.473 PDT" in out and "not disabled" in out  # sales never was
    assert "NaT" not in out and str(SAMPLE_ROUTERS["support"]) not in out
    assert (
        "support at 2026-10-06 14:00:00 PDT: 5 errors in the window, budget 5 left; "
        "enabled; at the pace of the last 15 min it would be disabled in ~26 min"
    ) in out


def test_health_json_and_one_router(capsys):
    code, out, _ = run(
        capsys, "health", "--attempts", str(ATTEMPTS), "--router", str(SAMPLE_ROUTERS["sales"]),
        "--name", f"{SAMPLE_ROUTERS['sales']}=sales", "--format", "json",
    )  # fmt: skip
    (router,) = json.loads(out)["routers"]
    assert (router["router"], router["errors"], router["budget_left"]) == ("sales", 0, 10)
    assert router["first_disable"] is None


def test_health_usage_errors_exit_2(capsys, tmp_path):
    code, _, err = run(capsys, "health", "--attempts", str(tmp_path / "none.csv"))
    assert code == 2 and "no such file" in err
    code, _, err = run(capsys, "health", "--attempts", str(ATTEMPTS), "--router", "42")
    assert code == 2 and "router 42 is not in the log" in err
    code, _, err = run(capsys, "health", "--attempts", str(ATTEMPTS), "--name", "support")
    assert code == 2 and "expected ROUTER_ID=NAME" in err


# --------------------------------------------------------------------------- progress


def test_generate_calls_shows_progress_unless_asked_not_to(capsys, tmp_path):
    code, out, err = run(capsys, "generate-calls", "--calls", "200", str(tmp_path / "a.jsonl"))
    assert code == 0 and "wrote" in out
    assert "signing and encoding: 100%" in err and "writing a.jsonl: 100%" in err
    code, _, err = run(capsys, "generate-calls", "--calls", "200", "--no-progress", str(tmp_path / "b.jsonl"))
    assert code == 0 and err == ""
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
