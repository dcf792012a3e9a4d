"""Ingest once, analyse many times: the Parquet dataset (calls/dataset.py) reads back as the logs do."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from dialpad_nb.calls.dataset import MANIFEST, add_calls, ingest
from dialpad_nb.calls.read import iter_calls, read_calls
from dialpad_nb.cli import main
from dialpad_nb.core.errors import ValidationError
from dialpad_nb.samples import generate as datagen

SECRET = datagen.SAMPLE_SECRET


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Three mixed logs (plain, JWT, wrapped, bad lines; one gzip), days apart."""
    folder = tmp_path_factory.mktemp("logs")
    out = []
    for k, (start, n) in enumerate((("2026-10-01", 3000), ("2026-10-06", 2000), ("2026-10-10", 1500))):
        path = folder / (f"calls-{k}.jsonl" + (".gz" if k == 1 else ""))
        calls = datagen.generate_calls(n, seed=k + 1, start=start, days=4)
        calls["call_id"] += k * 10**9  # distinct ids across files
        datagen.write_call_log(path, n, calls=calls, seed=k, jwt_share=0.3, secret=SECRET, bad_lines=9)
        out.append(path)
    return out


def _same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True))


def test_a_dataset_reads_back_as_the_logs_do(logs: list[Path], tmp_path: Path) -> None:
    report = ingest(logs, tmp_path / "ds", SECRET)
    direct = read_calls(logs, SECRET)
    back = read_calls(tmp_path / "ds")
    assert report.calls == len(direct.calls) and report.rejects == len(direct.rejects) > 0
    _same(back.calls, direct.calls)
    _same(back.rejects, direct.rejects)
    assert back.records == direct.records and back.files == direct.files
    # one part per source file and UTC day, rejects beside them
    parts = sorted(p.relative_to(tmp_path / "ds").as_posix() for p in (tmp_path / "ds").rglob("*.parquet"))
    assert all(p.startswith(("calls/day=2026-10-", "rejects/")) for p in parts)
    assert sum(p.startswith("rejects/") for p in parts) == 3


def test_ingest_is_incremental_by_content(logs: list[Path], tmp_path: Path) -> None:
    ds = tmp_path / "ds"
    first = ingest(logs[:2], ds, SECRET)
    assert len(first.added) == 2 and not first.skipped
    copy = tmp_path / "renamed.jsonl"
    copy.write_bytes(logs[0].read_bytes())
    again = ingest([*logs, copy], ds, SECRET)
    assert again.added == (str(logs[2]),)  # the new file only; the renamed copy has a known hash
    assert set(again.skipped) == {str(logs[0]), str(logs[1]), str(copy)}
    _same(read_calls(ds).calls, read_calls(logs, SECRET).calls)


def test_a_log_that_grew_replaces_its_earlier_version_and_no_call_is_in_twice(
    logs: list[Path], tmp_path: Path
) -> None:
    live = tmp_path / "endpoint.jsonl"  # a live log: ingested, then appended to, then ingested again
    lines = logs[0].read_bytes().splitlines(keepends=True)
    live.write_bytes(b"".join(lines[:1000]))
    ds = tmp_path / "ds"
    first = ingest(live, ds, SECRET)
    assert first.added == (str(live),) and not first.replaced
    with live.open("ab") as fh:
        fh.write(b"".join(lines[1000:]))
    again = ingest(live, ds, SECRET)
    assert again.replaced == (str(live),) and "grew since the last ingest" in again.summary
    back = read_calls(ds)
    _same(back.calls, read_calls(live, SECRET).calls)  # the whole file once, not its first part twice
    assert back.calls["call_id"].is_unique
    manifest = json.loads((ds / MANIFEST).read_text())
    assert len(manifest["sources"]) == 1
    listed = {p for e in manifest["sources"].values() for p in [*e["parts"], e["rejects_part"]]}
    on_disk = {p.relative_to(ds).as_posix() for p in ds.rglob("*.parquet")}
    assert on_disk == listed  # the earlier version's parts are gone too
    # a different file that happens to have the same name elsewhere is not an earlier version
    other = tmp_path / "other" / "endpoint.jsonl"
    other.parent.mkdir()
    other.write_bytes(logs[2].read_bytes())
    third = ingest(other, ds, SECRET)
    assert third.added == (str(other),) and not third.replaced


def test_filters_by_date_and_router(logs: list[Path], tmp_path: Path) -> None:
    ds = tmp_path / "ds"
    ingest(logs[:2], ds, SECRET, router_id=111)
    ingest(logs[2:], ds, SECRET, router_id=222)
    everything = read_calls(ds).calls
    assert set(everything["router_id"].astype(int)) == {111, 222}
    lo, hi = pd.Timestamp("2026-10-03T00:00Z"), pd.Timestamp("2026-10-11T12:30Z")
    window = read_calls(ds, start="2026-10-03", end="2026-10-11T12:30:00Z")
    want = everything[(everything["date_started"] >= lo) & (everything["date_started"] < hi)]
    assert 0 < len(window.calls) < len(everything)
    _same(window.calls, want)
    assert window.rejects.empty  # a refused record has no trustworthy date: not in a filtered read
    routed = read_calls(ds, router_id=222).calls
    _same(routed, everything[everything["router_id"] == 222])
    with pytest.raises(ValidationError, match="filter a dataset"):
        read_calls(logs[0], SECRET, router_id=1)


def test_a_damaged_part_is_named_and_skipped_whole(logs: list[Path], tmp_path: Path) -> None:
    ds = tmp_path / "ds"
    ingest(logs[:1], ds, SECRET)
    parts = sorted((ds / "calls").rglob("*.parquet"))
    victim = parts[1]
    size = victim.stat().st_size
    with open(victim, "r+b") as f:
        f.truncate(size // 2)
    res = read_calls(ds)
    bad = res.rejects[res.rejects["kind"] == "unreadable file"]
    assert len(bad) == 1 and victim.name in bad["reason"].iloc[0] and "day=" in bad["reason"].iloc[0]
    full = read_calls(logs[0], SECRET).calls
    lost_day = victim.parent.name.removeprefix("day=")
    kept = full[full["date_started"].dt.strftime("%Y-%m-%d") != lost_day]
    _same(res.calls, kept)  # every other day whole, nothing of the damaged one


KILLER = """
import os, signal, sys
from dialpad_nb.calls import dataset
real, count, at = os.replace, [0], int(sys.argv[1])
def replace(a, b):
    count[0] += 1
    if count[0] == at:
        os.kill(os.getpid(), signal.SIGKILL)
    return real(a, b)
dataset.os.replace = replace
dataset.ingest(sys.argv[3:], sys.argv[2], {secret!r}, workers={workers})
"""


# each file makes 7 renames: its 5 day parts, its rejects, then the manifest. Killed at rename 7 (file 1's
# parts all in place, unlisted: its manifest not yet replaced) and 10 (file 1 listed, file 2 half in place);
# with 2 worker processes, this process still makes every rename (the workers write under .tmp/)
@pytest.mark.parametrize(("at", "workers"), [(7, 1), (10, 1), (10, 2)])
def test_ingest_killed_then_rerun_gives_the_same_dataset(
    logs: list[Path], tmp_path: Path, at: int, workers: int
) -> None:
    ref, ds = tmp_path / "ref", tmp_path / "ds"
    ingest(logs, ref, SECRET)
    manifest = json.loads((ref / MANIFEST).read_text())
    assert [len(e["parts"]) for e in manifest["sources"].values()] == [5, 5, 5]  # the kill points' premise
    script = KILLER.format(secret=SECRET, workers=workers)
    done = subprocess.run(
        [sys.executable, "-c", script, str(at), str(ds), *map(str, logs)], capture_output=True, text=True
    )
    assert done.returncode == -9, done.stderr
    interrupted = read_calls(ds) if (ds / MANIFEST).exists() else None
    if interrupted is not None:  # what a reader sees mid-crash: whole files only
        whole = read_calls(logs[: len(interrupted.files)], SECRET)
        _same(interrupted.calls, whole.calls)
    ingest(logs, ds, SECRET)
    assert json.loads((ds / MANIFEST).read_text()) == json.loads((ref / MANIFEST).read_text())
    files = {p.relative_to(ds).as_posix() for p in ds.rglob("*") if p.is_file()}
    assert files == {p.relative_to(ref).as_posix() for p in ref.rglob("*") if p.is_file()}
    a, b = read_calls(ds), read_calls(ref)
    _same(a.calls, b.calls)
    _same(a.rejects, b.rejects)


def test_iter_calls_streams_one_source_file_at_a_time(logs: list[Path], tmp_path: Path) -> None:
    ingest(logs, tmp_path / "ds", SECRET)
    chunks = list(iter_calls(tmp_path / "ds"))
    assert [c.files for c in chunks] == [(str(p),) for p in logs]
    for chunk, log in zip(chunks, logs, strict=True):
        _same(chunk.calls, read_calls(log, SECRET).calls)


def test_cli_ingest_then_again_skips(
    logs: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ROUTER_SECRET", SECRET)
    argv = ["ingest", *map(str, logs[:2]), "--to", str(tmp_path / "ds"), "--secret-env", "ROUTER_SECRET"]
    assert main(argv) == 0
    assert "Ingested 2 files" in capsys.readouterr().out
    assert main([*argv, "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["added"] == [] and len(out["skipped"]) == 2 and out["calls"] == 0
    assert SECRET not in json.dumps(out)
    _same(read_calls(tmp_path / "ds").calls, read_calls(logs[:2], SECRET).calls)
    assert main([*argv, "--workers", "0"]) != 0  # refused, naming the option
    assert "workers" in capsys.readouterr().err


def test_add_calls_puts_a_frame_in_once(logs: list[Path], tmp_path: Path) -> None:
    calls = read_calls(logs[0], SECRET).calls
    assert add_calls(tmp_path / "ds", calls, source="generated-0") is True
    assert add_calls(tmp_path / "ds", calls.iloc[:5], source="generated-0") is False  # known by its name
    _same(read_calls(tmp_path / "ds").calls, calls)


def test_two_worker_processes_give_the_same_dataset(logs: list[Path], tmp_path: Path) -> None:
    """``workers=2``: files read in two spawned processes, committed here in order: the same
    manifest, the same files and the same calls as one process (a file ingested again for its
    attempts included)."""
    from dialpad_nb.health.dataset_attempts import endpoint_attempts

    one, two = tmp_path / "one", tmp_path / "two"
    ingest(logs[:1], one, SECRET)
    ingest(logs[:1], two, SECRET)
    a = ingest(logs, one, SECRET, attempts=endpoint_attempts, workers=1)
    b = ingest(logs, two, SECRET, attempts=endpoint_attempts, workers=2)
    assert (a.added, a.skipped, a.calls, a.rejects) == (b.added, b.skipped, b.calls, b.rejects)
    assert json.loads((two / MANIFEST).read_text()) == json.loads((one / MANIFEST).read_text())
    files = {p.relative_to(two).as_posix() for p in two.rglob("*") if p.is_file()}
    assert files == {p.relative_to(one).as_posix() for p in one.rglob("*") if p.is_file()}
    x, y = read_calls(one), read_calls(two)
    _same(x.calls, y.calls)
    _same(x.rejects, y.rejects)
    with pytest.raises(ValidationError, match="workers"):
        ingest(logs, tmp_path / "three", SECRET, workers=0)
