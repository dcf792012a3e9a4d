"""Attempts in the dataset: ingest stores an endpoint log's attempts; read_endpoint_log, simulate
and dask-free health read them back equal to the log's, filtered by time and router."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dialpad_nb.calls.columns import PAYLOAD_FIELDS
from dialpad_nb.calls.dataset import MANIFEST, ingest
from dialpad_nb.calls.read import read_calls
from dialpad_nb.cli import main
from dialpad_nb.core.clock import to_ms
from dialpad_nb.core.errors import ValidationError
from dialpad_nb.core.policy import DIALPAD
from dialpad_nb.health import endpoint_attempts, read_endpoint_log, simulate
from dialpad_nb.samples import generate as datagen

R1, R2 = 7300000000000001, 7300000000000002
DAY = 86_400_000


def endpoint_log(path: Path, seed: int, n: int = 600) -> Path:
    """A seeded endpoint kit log over three days (times a little out of order), with every
    outcome Dialpad can see, a reload event and a bad line."""
    rng = np.random.default_rng(seed)
    calls = datagen.generate_calls(n, seed=seed, start="2026-10-05", days=3)
    lines = []
    for k, call in enumerate(calls.to_dict("records")):
        ms = to_ms(call["date_started"])
        payload = {f: (None if pd.isna(call[f]) else call[f]) for f in PAYLOAD_FIELDS} | {"date_started": ms}
        status = int(rng.choice([200, 200, 200, 500, 401]))
        rec = {
            "v": 1, "ts": ms + int(rng.integers(0, 900)), "call_id": int(call["call_id"]), "payload": payload,
            "signed": False, "decision": {"target_id": 5001, "target_type": "callcenter"} if status == 200 else None,
            "rule": "r", "fallback": False, "status": status,
            "latency_ms": float(rng.gamma(2.0, 1500.0)), "outcome": "ok" if status == 200 else "error", "error": None,
        }  # fmt: skip
        lines.append(json.dumps(rec, default=int))
        if k == 10:
            lines.append(json.dumps({"v": 1, "ts": ms, "event": "reload", "loaded": True}))
            lines.append("{not json")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    folder = tmp_path_factory.mktemp("attempts")
    return endpoint_log(folder / "r1.jsonl", 1), endpoint_log(folder / "r2.jsonl", 2), folder


def _both(logs, to: Path) -> Path:
    one, two, _ = logs
    ingest([one], to, router_id=R1, attempts=endpoint_attempts)
    ingest([two], to, router_id=R2, attempts=endpoint_attempts)
    return to


def test_attempts_from_the_dataset_equal_the_logs_with_filters(logs, tmp_path: Path):
    one, two, _ = logs
    ds = _both(logs, tmp_path / "ds")
    a1 = read_endpoint_log(one, router_id=R1).attempts
    a2 = read_endpoint_log(two, router_id=R2).attempts
    assert len(a1) == 600 and a1["time"].dt.floor("D").nunique() >= 3
    whole = pd.concat([a1, a2], ignore_index=True)
    got = read_endpoint_log(ds)
    assert got.rejects.empty
    pd.testing.assert_frame_equal(got.attempts, whole)  # same rows, order and dtypes
    # by router
    pd.testing.assert_frame_equal(read_endpoint_log(ds, router_id=R2).attempts, a2.reset_index(drop=True))
    # by time: [start, end), a day and a time within a day
    lo, hi = pd.Timestamp("2026-10-06", tz="UTC"), pd.Timestamp("2026-10-07 06:30", tz="UTC")
    want = whole[(whole["time"] >= lo) & (whole["time"] < hi)].reset_index(drop=True)
    window = read_endpoint_log(ds, start="2026-10-06", end="2026-10-07T06:30:00Z").attempts
    assert 0 < len(window) < len(whole)
    pd.testing.assert_frame_equal(window, want)
    # the health window analysis on them: the same as on the logs
    pd.testing.assert_frame_equal(simulate(got.attempts), simulate(whole))
    pd.testing.assert_frame_equal(
        simulate(read_endpoint_log(ds, router_id=R1).attempts), simulate(a1).reset_index(drop=True)
    )
    # calls are still read as before
    assert len(read_calls(ds).calls) == len(read_calls([one, two]).calls)
    with pytest.raises(ValidationError, match="deadline"):
        read_endpoint_log(ds, policy=DIALPAD.replace(deadline_s=3))
    with pytest.raises(ValidationError, match="filter a dataset"):
        read_endpoint_log(one, start="2026-10-06")


def test_a_plain_call_log_has_no_attempts_and_a_grown_log_replaces_them(logs, tmp_path: Path):
    one, _, folder = logs
    plain = folder / "plain.jsonl"
    datagen.write_call_log(plain, 50, seed=3, jwt_share=0, wrapped_share=0)
    growing = tmp_path / "live.jsonl"
    text = one.read_text().splitlines(keepends=True)
    growing.write_text("".join(text[:300]))
    ds = tmp_path / "ds"
    ingest([plain, growing], ds, router_id=R1, attempts=endpoint_attempts)
    entries = json.loads((ds / MANIFEST).read_text())["sources"].values()
    assert sorted(len(e["attempts_parts"]) for e in entries)[0] == 0  # the plain log: checked, none
    before = read_endpoint_log(ds).attempts
    pd.testing.assert_frame_equal(before, read_endpoint_log(growing, router_id=R1).attempts)
    growing.write_text("".join(text))  # the live log grew: its attempts are replaced, none twice
    report = ingest([plain, growing], ds, router_id=R1, attempts=endpoint_attempts)
    assert report.replaced == (str(growing),)
    pd.testing.assert_frame_equal(
        read_endpoint_log(ds).attempts, read_endpoint_log(growing, router_id=R1).attempts
    )
    assert not list((ds / "attempts").rglob(".*")) and (ds / ".tmp").exists() is False
    listed = {
        p for e in json.loads((ds / MANIFEST).read_text())["sources"].values() for p in e["attempts_parts"]
    }
    assert {p.relative_to(ds).as_posix() for p in (ds / "attempts").rglob("*.parquet")} == listed


def test_a_dataset_ingested_without_attempts_says_how_to_get_them(logs, tmp_path: Path, capsys):
    one, _, _ = logs
    ds = tmp_path / "old"
    ingest([one], ds, router_id=R1)  # as before this change: calls only
    assert len(read_calls(ds).calls) == len(read_calls(one).calls)  # calls still open
    with pytest.raises(ValidationError, match=r"holds no attempts for 1 source.*ingest them again"):
        read_endpoint_log(ds)
    # the CLI ingests again what lacks attempts (the calls stay the same), then health reads them
    calls_before = read_calls(ds).calls
    assert main(["ingest", str(one), "--to", str(ds), "--router-id", str(R1), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["added"] == [str(one)]
    pd.testing.assert_frame_equal(read_calls(ds).calls, calls_before)
    pd.testing.assert_frame_equal(
        read_endpoint_log(ds).attempts, read_endpoint_log(one, router_id=R1).attempts
    )
    assert main(["ingest", str(one), "--to", str(ds), "--format", "json"]) == 0  # now skipped
    assert json.loads(capsys.readouterr().out)["skipped"] == [str(one)]
    assert main(["health", "--log", str(ds), "--start", "2026-10-06", "--format", "json"]) == 0
    out = capsys.readouterr().out
    assert str(R1) in out
