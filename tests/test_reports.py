"""The papermill reports, executed on the sample data (as cron or CI would run them)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dialpad_nb.cli import main
from dialpad_nb.core.errors import ValidationError
from dialpad_nb.ops import run_report
from dialpad_nb.samples import SAMPLE_SECRET

DATA = Path(__file__).resolve().parents[1] / "data"


def images(html: str) -> int:
    return len(re.findall(r"<img[^>]+src=\"data:image/png;base64,", html))


def test_the_health_report_from_the_command_line(tmp_path, capsys):
    out = tmp_path / "health.html"
    argv = ["report", "health", "--router", "support", "--names", "sample", "--attempts", str(DATA / "attempts_sample.csv"),
            "--since", "2026-10-06T12:00Z", "--until", "2026-10-07T06:00Z", "--timezone", "America/Los_Angeles",
            "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    html = out.read_text()
    assert images(html) == 2  # the error window and the latency, embedded
    assert "support: " in html and "America/Los_Angeles" in html
    # Tuesday's incident is in the period: its first disable, in the timezone asked for
    assert re.search(r"<td>2026-10-06 \d\d:\d\d:\d\d\.\d+ PDT</td>", html)
    assert "health_inputs" not in html and "ROUTER =" not in html  # no code
    assert "https://" not in html  # nothing fetched from a CDN when it is opened
    assert not (tmp_path / "health.html.failed.ipynb").exists()


def test_the_replay_report_from_python(tmp_path, monkeypatch):
    monkeypatch.setenv("SAMPLE_ROUTER_SECRET", SAMPLE_SECRET)
    out = run_report(
        "replay",
        {
            "calls": str(DATA / "calls_2026-10.jsonl.gz"),
            "candidate": str(DATA / "routing_candidate.csv"),
            "baseline": str(DATA / "routing_current.csv"),
            "crm": str(DATA / "crm_contacts.csv"),
            "capacity": str(DATA / "capacity.csv"),
            "timezone": "America/Los_Angeles",
            "directory": "sample",
            "secret_env": "SAMPLE_ROUTER_SECRET",
        },
        tmp_path / "replay.html",
    )
    html = out.read_text()
    assert images(html) == 3  # volume, hours, flows
    assert "Support Tier 1" in html  # targets by name
    assert "replay_inputs" not in html and "https://" not in html


def test_a_failing_cell_exits_1_with_that_cell_s_error(tmp_path, capsys):
    out = tmp_path / "health.html"
    argv = ["report", "health", "--router", "billing", "--names", "sample", "--attempts", str(DATA / "attempts_sample.csv"),
            "--out", str(out)]  # fmt: skip
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "failed at cell" in err and "ValidationError" in err and "'billing' is not a router" in err
    assert not out.exists() and (tmp_path / "health.html.failed.ipynb").exists()


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        (["--timezone", "Mars/Olympus"], "--timezone"),
        (["--since", "yesterday-ish"], "--since"),
        (["--since", "2026-10-07", "--until", "2026-10-06"], "--until"),
        (["--attempts", "no/such.csv"], "--attempts"),
    ],
)
def test_a_bad_parameter_fails_fast_naming_it(tmp_path, capsys, extra, named):
    out = tmp_path / "r.html"
    argv = ["report", "health", "--router", "support", "--names", "sample", "--out", str(out), *extra]
    if "--attempts" not in extra:
        argv += ["--attempts", str(DATA / "attempts_sample.csv")]
    assert main(argv) == 2
    assert capsys.readouterr().err.startswith(f"dialpad-nb report: {named}:")
    assert list(tmp_path.iterdir()) == []  # no kernel ran: nothing written


def test_a_bad_parameter_from_python_names_it(tmp_path):
    with pytest.raises(ValidationError) as exc:
        run_report("replay", {"calls": str(DATA / "calls_2026-10.jsonl.gz")}, tmp_path / "r.html")
    assert exc.value.field == "candidate"
    with pytest.raises(ValidationError) as exc:
        run_report("health", {"router": "support", "colour": "blue"}, tmp_path / "r.html")
    assert exc.value.field == "colour"
