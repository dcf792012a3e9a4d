"""The endpoint log on disk: appends from several processes never interleave, size rotation with
gzip, and every reader follows the rotated generations and skips (and counts) reload events."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from dialpad_nb.calls import read_calls, read_log, read_log_events
from dialpad_nb.core.endpoint_log import (
    LogEvent,
    check_record,
    log_files,
    make_record,
    make_reload_record,
    rotated_name,
)
from dialpad_nb.core.errors import ValidationError
from dialpad_nb.endpoint.log import EndpointLog
from dialpad_nb.health import read_endpoint_log

ROOT = Path(__file__).resolve().parents[1]


def request_record(call_id: int, *, pad: str = "", ts: int = 1_790_000_000_000) -> dict:
    payload = {
        "date_started": ts,
        "call_id": call_id,
        "external_number": "+14155550123",
        "internal_number": "+14155550142",
        "contact_id": pad or None,
        "contact_type": None,
    }
    return make_record(
        ts=ts, call_id=call_id, payload=payload, signed=False,
        decision={"target_id": 5002000000000201, "target_type": "callcenter"}, rule="sales",
        fallback=False, status=200, latency_ms=1.0, outcome="ok", error=None,
    )  # fmt: skip


def reload_record(ok: bool = True) -> dict:
    return make_reload_record(
        ts=1_790_000_000_500, ok=ok, trigger="signal", name="m", sha256="ab" * 32 if ok else None,
        rules=3 if ok else None, serving_sha256="ab" * 32, error=None if ok else "invalid routing matrix",
    )  # fmt: skip


# --------------------------------------------------------------------------- several processes at once

WRITER = """
import sys
from dialpad_nb.core.endpoint_log import make_record
from dialpad_nb.endpoint.log import EndpointLog
path, proc, n, max_bytes = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
log = EndpointLog(path, keep=1, max_bytes=max_bytes)
for i in range(n):
    call_id = proc * 1_000_000 + i + 1
    payload = {"date_started": 1_790_000_000_000, "call_id": call_id, "external_number": "+14155550123",
               "internal_number": "+14155550142", "contact_type": None,
               # every 10th record is ~40 KB: far above any pipe/page atomicity size
               "contact_id": "x" * 40_000 if i % 10 == 0 else None}
    log.append(make_record(ts=1_790_000_000_000, call_id=call_id, payload=payload, signed=False,
                           decision={"target_id": 5002000000000201, "target_type": "callcenter"},
                           rule="sales", fallback=False, status=200, latency_ms=1.0, outcome="ok", error=None))
log.close()
"""


@pytest.mark.http
def test_appends_from_several_processes_never_interleave_and_rotation_loses_nothing(tmp_path):
    """Three processes append 300 records each (some 40 KB) to one log rotated every 30 KB: every
    line of every generation is a whole record, each record is there exactly once."""
    path = tmp_path / "endpoint.jsonl"
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(p), "300", "30000"], cwd=ROOT)
        for p in range(1, 4)
    ]
    assert [p.wait(timeout=90) for p in procs] == [0, 0, 0]
    files = log_files(path)
    assert len(files) > 10 and files[-1] == path
    assert all(f.name.endswith(".jsonl.gz") for f in files[:-1])  # every rotated file was compressed
    assert not list(tmp_path.glob("*.part"))
    res = read_log(path)
    assert res.rejects.empty, res.rejects.head()
    expected = sorted(p * 1_000_000 + i + 1 for p in range(1, 4) for i in range(300))
    assert sorted(res.frame["call_id"].tolist()) == expected
    for f in files:  # and no generation holds a torn line
        opener = gzip.open if f.suffix == ".gz" else open
        with opener(f, "rt", encoding="utf-8") as fh:
            for line in fh:
                check_record(json.loads(line))
    assert set(res.frame["source"]) == {str(f) for f in files}


# --------------------------------------------------------------------------- rotation, in one process


def test_rotation_by_size_gzips_and_every_reader_follows_the_generations(tmp_path):
    path = tmp_path / "endpoint.jsonl"
    log = EndpointLog(path, max_bytes=3_000)
    log.append(reload_record())
    for i in range(40):
        log.append(request_record(i + 1, ts=1_790_000_000_000 + i))
    log.append(reload_record(ok=False))
    log.close()
    files = log_files(path)
    assert log.rotations == len(files) - 1 >= 3
    assert all(f.stat().st_size <= 3_000 for f in files[:-1])
    assert [f.suffix for f in files[:-1]] == [".gz"] * (len(files) - 1)

    logged = read_log(path)
    assert logged.frame["call_id"].tolist() == list(range(1, 41))  # oldest generation first
    assert logged.records == 42 and logged.skipped == {"reload": 2} and logged.rejects.empty
    assert "2 reload events skipped (not requests)" in logged.summary

    calls = read_calls(path)
    assert calls.calls["call_id"].tolist() == list(range(1, 41))
    assert calls.records == 42 and calls.skipped == {"reload": 2} and calls.rejects.empty
    assert calls.calls["logged_rule"].eq("sales").all()
    assert len(calls.files) == len(files)

    attempts = read_endpoint_log(path)
    assert len(attempts.attempts) == 40 and attempts.skipped == {"reload": 2} and attempts.rejects.empty

    events = read_log_events(path)
    assert events["ok"].tolist() == [True, False] and events["trigger"].tolist() == ["signal", "signal"]
    assert events["error"].tolist()[1] == "invalid routing matrix"
    assert str(events["time"].iloc[0]) == "2026-09-21 14:13:20.500000+00:00"


def test_max_files_keeps_the_newest_rotated_files(tmp_path):
    path = tmp_path / "e.jsonl"
    log = EndpointLog(path, max_bytes=1_000, max_files=2, compress=False)
    for i in range(30):
        log.append(request_record(i + 1))
    files = log_files(path)
    assert len(files) == 3  # two rotated + the active one
    kept = read_log(path).frame["call_id"].tolist()
    assert kept == list(range(kept[0], 31))  # the newest records, none missing among them


def test_a_generation_caught_mid_compression_is_read_once(tmp_path):
    path = tmp_path / "e.jsonl"
    old = rotated_name(path, "20260101T000000000000Z")
    old.write_text(json.dumps(request_record(1)) + "\n")
    with gzip.open(old.with_name(old.name + ".gz"), "wt") as fh:  # the same content, gzipped
        fh.write(json.dumps(request_record(1)) + "\n")
    path.write_text(json.dumps(request_record(2)) + "\n")
    assert log_files(path) == [old, path]
    assert read_log(path).frame["call_id"].tolist() == [1, 2]
    res = read_calls(tmp_path)  # a folder: the .gz twin is not read twice
    assert res.calls["call_id"].tolist() == [1, 2] and res.rejects.empty


def test_rotation_settings_are_checked():
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValidationError):
            EndpointLog(None, max_bytes=bad)


# --------------------------------------------------------------------------- events are not rejects


def test_an_event_record_is_recognised_and_an_unknown_event_is_a_reject(tmp_path):
    assert isinstance(check_record(reload_record()), LogEvent)
    p = tmp_path / "log.jsonl"
    p.write_text(
        "\n".join(
            json.dumps(r)
            for r in (
                request_record(1),
                reload_record(),
                {**reload_record(), "event": "party"},
                request_record(2),
            )
        )
        + "\n"
    )
    for res in (read_log(p), read_calls(p), read_endpoint_log(p)):
        assert res.records == 4 and res.skipped == {"reload": 1}
        assert res.rejects["line"].tolist() == [3] and "party" in res.rejects["reason"].iloc[0]
    pd.testing.assert_series_equal(
        read_log(p).frame["call_id"], pd.Series([1, 2], dtype="Int64", name="call_id")
    )


def _rotate_while_reading(monkeypatch, path: Path, *, new_active: bool) -> list[str]:
    """The first time a reader opens the active file, the endpoint rotates it just before: the
    active file becomes a new generation and (``new_active``) a new active file starts."""
    import dialpad_nb.calls.endpoint_log as module

    real_open = module.open_generation
    rotated: list[str] = []

    def racing_open(p):
        if Path(p) == path and not rotated:
            moved = rotated_name(path, "20260101T000000000001Z")
            path.rename(moved)
            rotated.append(moved.name)
            if new_active:
                path.write_text(json.dumps(request_record(3)) + "\n")
        return real_open(p)

    monkeypatch.setattr(module, "open_generation", racing_open)
    return rotated


@pytest.mark.parametrize("new_active", [False, True], ids=["active-file-gone", "new-active-file"])
def test_a_rotation_between_listing_and_reading_loses_and_repeats_nothing(tmp_path, monkeypatch, new_active):
    path = tmp_path / "e.jsonl"
    rotated_name(path, "20260101T000000000000Z").write_text(json.dumps(request_record(1)) + "\n")
    path.write_text(json.dumps(request_record(2)) + "\n" + json.dumps(reload_record()) + "\n")
    rotated = _rotate_while_reading(monkeypatch, path, new_active=new_active)
    read = read_log(path)
    assert rotated, "the rotation happened during the read"
    expected = [1, 2, 3] if new_active else [1, 2]
    assert read.frame["call_id"].tolist() == expected  # each record once, in log order
    assert read.rejects.empty and read.skipped == {"reload": 1}
    assert read_log_events(path)["event"].tolist() == ["reload"]


def test_a_missing_log_is_still_a_missing_file_not_a_rotation(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_log(tmp_path / "nothing.jsonl")
