"""One attempts shape from the sandbox, the endpoint-kit log and users' CSVs."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest

from dialpad_nb.core.policy import DIALPAD, OUTCOMES
from dialpad_nb.health.attempts import (
    ATTEMPT_COLUMNS,
    ATTEMPT_DTYPES,
    REJECT_COLUMNS,
    empty_attempts,
    from_sandbox,
    read_attempts_csv,
    read_endpoint_log,
    write_attempts_csv,
)

T0 = 1_767_600_000_000
ROUTER = 7_100_000_000_000_001
TARGET = 5_002_000_000_000_201


def sandbox_record(**over):
    rec = {
        "attempt_id": 1,
        "call_id": 9001,
        "router_id": ROUTER,
        "external_number": "+14155550123",
        "internal_number": "+14155550100",
        "at": T0,
        "latency_ms": 120.5,
        "outcome": "ok",
        "http_status": 200,
        "detail": None,
        "target_id": TARGET,
        "target_type": "callcenter",
        "is_default": False,
        "error_count": 0,
        "disabled_after": False,
        "enabled_before": True,
    }
    rec.update(over)
    return rec


def assert_shape(frame):
    assert tuple(frame.columns) == ATTEMPT_COLUMNS
    assert frame.dtypes.to_dict() == {c: pd.Series([], dtype=d).dtype for c, d in ATTEMPT_DTYPES.items()}


def test_empty_attempts_has_the_contract_shape():
    assert_shape(empty_attempts())
    assert list(empty_attempts()["outcome"].cat.categories) == list(OUTCOMES)


def test_sandbox_records_become_attempts_sorted_by_time():
    records = [
        sandbox_record(
            at=T0 + 5,
            call_id=2,
            outcome="timeout",
            latency_ms=5000.0,
            http_status=None,
            is_default=True,
            error_count=1,
        ),
        sandbox_record(),
        sandbox_record(at=T0 + 9, call_id=3, outcome="skipped_disabled", latency_ms=None, http_status=None),
    ]
    attempts, rejects = from_sandbox(records)
    assert_shape(attempts)
    assert rejects.empty and tuple(rejects.columns) == REJECT_COLUMNS
    assert attempts["call_id"].tolist() == [9001, 2, 3]
    assert attempts["is_error"].tolist() == [False, True, False]
    assert attempts["time"].iloc[0] == pd.Timestamp(T0, unit="ms", tz="UTC")
    assert np.isnan(attempts["latency_ms"].iloc[2])
    assert attempts["http_status"].isna().tolist() == [False, True, True]
    assert attempts["router_id"].iloc[0] == ROUTER  # 64-bit id intact
    assert (attempts["source"] == "sandbox").all()


def test_sandbox_dataframe_input_is_accepted():
    frame = pd.DataFrame(
        [sandbox_record(), sandbox_record(at=T0 + 1, latency_ms=None, outcome="skipped_disabled")]
    )
    attempts, rejects = from_sandbox(frame)
    assert len(attempts) == 2 and rejects.empty


def test_bad_sandbox_records_are_rejected_with_reasons_and_positions():
    records = [
        sandbox_record(),
        sandbox_record(outcome="exploded"),
        sandbox_record(at="yesterday-ish"),
        sandbox_record(latency_ms=-3),
        sandbox_record(outcome="skipped_disabled", latency_ms=10.0),
        "not a record",
    ]
    attempts, rejects = from_sandbox(records)
    assert len(attempts) == 1
    assert rejects["line"].tolist() == [2, 3, 4, 5, 6]
    reasons = [r.split(": ", 1)[1] for r in rejects["reason"]]
    assert reasons[0].startswith("outcome: 'exploded'")
    assert reasons[1].startswith("time:")
    assert reasons[2].startswith("latency_ms:")
    assert "skipped_disabled" in reasons[3]
    assert "expected a JSON object" in reasons[4]
    assert '"outcome": "exploded"' in rejects["raw"].iloc[0]
    assert set(rejects["kind"]) == {"bad record"} and set(rejects["source"]) == {"sandbox"}


def kit_line(**over):
    rec = {
        "v": 1,
        "ts": T0,
        "call_id": 11,
        "payload": {"call_id": 11},
        "signed": True,
        "decision": {"target_id": TARGET, "target_type": "callcenter"},
        "rule": "vip",
        "fallback": False,
        "status": 200,
        "latency_ms": 12.0,
        "outcome": "ok",
        "error": None,
    }
    rec.update(over)
    return json.dumps(rec)


def test_endpoint_log_maps_to_what_dialpad_would_see():
    lines = [
        kit_line(),
        kit_line(ts=T0 + 1, status=401, decision=None, outcome="unauthorized"),
        kit_line(ts=T0 + 2, latency_ms=DIALPAD.deadline_ms + 1.0),
        kit_line(ts=T0 + 3, fallback=True, outcome="fallback"),
        kit_line(ts=T0 + 4, decision=None, outcome="error", status=204),
        kit_line(ts=T0 + 5, status=500, decision=None, outcome="error"),
        kit_line(ts=T0 + 6, status=503, decision=None, outcome="error", latency_ms=DIALPAD.deadline_ms + 1.0),
    ]
    attempts, rejects = read_endpoint_log(io.StringIO("\n".join(lines) + "\n"), router_id=ROUTER)
    assert rejects.empty
    assert_shape(attempts)
    assert attempts["outcome"].tolist() == [
        "ok",
        "http_status",
        "timeout",
        "ok",
        "invalid_response",
        "http_status",
        "timeout",  # a late 503: Dialpad gave up at the deadline, as the sandbox's dispatch says
    ]
    assert attempts["http_status"].tolist() == [200, 401, 200, 200, 204, 500, 503]
    assert attempts["target_id"].iloc[0] == TARGET and pd.isna(attempts["target_id"].iloc[1])
    assert (attempts["router_id"] == ROUTER).all()
    assert (attempts["source"] == "endpoint_log").all()


def test_endpoint_log_deadline_comes_from_the_policy():
    line = kit_line(latency_ms=3500.0)
    attempts, _ = read_endpoint_log(io.StringIO(line), policy=DIALPAD.replace(deadline_s=3))
    assert attempts["outcome"].tolist() == ["timeout"]


def test_endpoint_log_of_another_version_is_rejected_naming_the_versions_read():
    attempts, rejects = read_endpoint_log(io.StringIO(kit_line(v=3) + "\n" + kit_line(ts=T0 + 1)))
    assert len(attempts) == 1
    assert rejects["reason"].tolist() == ["line 1: unsupported endpoint log version 3 (expected one of 1, 2)"]


def test_endpoint_log_versions_1_and_2_read_the_same():
    v2 = kit_line(v=2, side="control", answered_by="control", control=None, shadows=[])
    attempts, rejects = read_endpoint_log(io.StringIO(kit_line() + "\n" + v2 + "\n"))
    assert rejects.empty
    assert attempts.drop(columns="time").iloc[0].equals(attempts.drop(columns="time").iloc[1])


def test_endpoint_log_rejects_bad_lines_with_line_numbers(tmp_path):
    path = tmp_path / "kit.jsonl"
    path.write_text(
        "\n".join([kit_line(), "{not json", kit_line(v=3), kit_line(status=None), "", kit_line(ts="x")])
        + "\n"
    )
    attempts, rejects = read_endpoint_log(path)
    assert len(attempts) == 1
    assert rejects["line"].tolist() == [2, 3, 4, 6]
    reasons = [r.split(": ", 1)[1] for r in rejects["reason"]]
    assert [r.split(":")[0].split(" ")[0] for r in reasons] == ["not", "unsupported", "status", "time"]
    assert rejects["kind"].tolist() == ["bad JSON", "bad record", "bad record", "bad record"]


def test_user_csv_with_a_column_mapping_units_and_outcome_labels():
    text = (
        "Timestamp,Duration (s),Result,Router\n"
        "2026-01-05 09:00:00,0.25,OK,42\n"
        "2026-01-05 09:00:01,6.0,TIMEOUT,42\n"
        "2026-01-05 09:00:02,,DISABLED,\n"
        "not a time,1,OK,42\n"
        "2026-01-05 09:00:03,1,WEIRD,42\n"
    )
    attempts, rejects = read_attempts_csv(
        io.StringIO(text),
        columns={
            "time": "Timestamp",
            "latency_ms": "Duration (s)",
            "outcome": "Result",
            "router_id": "Router",
        },
        latency_unit="s",
        timezone="America/Los_Angeles",
        outcome_map={"OK": "ok", "TIMEOUT": "timeout", "DISABLED": "skipped_disabled"},
        router_id=99,
    )
    assert_shape(attempts)
    assert attempts["latency_ms"].tolist()[:2] == [250.0, 6000.0]
    assert attempts["time"].iloc[0] == pd.Timestamp("2026-01-05T17:00:00Z")
    assert attempts["router_id"].tolist() == [42, 42, 99]
    assert attempts["outcome"].tolist() == ["ok", "timeout", "skipped_disabled"]
    assert rejects["line"].tolist() == [4, 5]
    assert rejects["reason"].iloc[0].startswith("line 4: time:")
    assert "WEIRD" in rejects["reason"].iloc[1]


def test_csv_outcome_derived_from_status_and_latency_and_epoch_seconds():
    text = "t,ms,code\n1767600000,100,200\n1767600001,6000,200\n1767600002,50,503\n1767600003,6000,503\n"
    attempts, rejects = read_attempts_csv(
        io.StringIO(text), columns={"time": "t", "latency_ms": "ms", "http_status": "code"}, time_unit="s"
    )
    assert rejects.empty
    assert attempts["outcome"].tolist() == ["ok", "timeout", "http_status", "timeout"]
    assert attempts["time"].iloc[0] == pd.Timestamp(T0, unit="ms", tz="UTC")


def test_csv_mapping_errors_name_the_column():
    with pytest.raises(ValueError, match="no column"):
        read_attempts_csv(io.StringIO("a,b\n1,2\n"), columns={"time": "Timestamp"})
    with pytest.raises(ValueError, match="unknown attempt column"):
        read_attempts_csv(io.StringIO("a\n1\n"), columns={"when": "a"})
    with pytest.raises(ValueError, match="outcome column or an http_status"):
        read_attempts_csv(io.StringIO("time\n1\n"))


def test_write_then_read_round_trips():
    attempts, _ = from_sandbox(
        [
            sandbox_record(),
            sandbox_record(
                at=T0 + 1, latency_ms=None, outcome="skipped_disabled", http_status=None, is_default=True
            ),
        ]
    )
    buf = io.StringIO()
    write_attempts_csv(attempts, buf)
    back, rejects = read_attempts_csv(io.StringIO(buf.getvalue()), source="sandbox")
    assert rejects.empty
    pd.testing.assert_frame_equal(back, attempts)


def test_a_non_finite_sandbox_time_is_a_reject_not_a_crash():
    attempts, rejects = from_sandbox([sandbox_record(at=float("inf")), sandbox_record(at=T0 + 1)])
    assert len(attempts) == 1
    assert rejects["reason"].tolist() == ["line 1: time: not a time: inf"]
