"""``from_dialpad_calls``: call history and call events -> the attempts frame, by the documented mapping."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from dialpad_nb.api.history import call_history_frame
from dialpad_nb.core.event_log import make_event_record
from dialpad_nb.core.history import CALL_STATES, call_event
from dialpad_nb.core.policy import ASSUMPTIONS
from dialpad_nb.health import ATTEMPT_COLUMNS, from_dialpad_calls, simulate, window_summary

from .helpers_history import ROUTER, T0, routed_call


def test_the_mapping_outcome_latency_status_target_default():
    calls = [
        routed_call(1),
        routed_call(2, error="timeout"),
        routed_call(3, error="http_status"),
        routed_call(4, error="invalid_response"),
        routed_call(5, error="unknown_target"),
        routed_call(6, error="connect_error"),
        routed_call(7, disabled=True),
    ]
    res = from_dialpad_calls(calls)
    a = res.attempts
    assert tuple(a.columns) == ATTEMPT_COLUMNS and res.rejects.empty and res.records == 7
    assert a["outcome"].tolist() == [
        "ok",
        "timeout",
        "http_status",
        "invalid_response",
        "unknown_target",
        "connect_error",
        "skipped_disabled",
    ]
    assert a["is_error"].tolist() == [False, True, True, True, True, True, False]
    assert a["latency_ms"].isna().tolist() == [True, False, False, False, False, False, True]
    assert (
        a["latency_ms"].iloc[1] == 12.0
        and a["http_status"].iloc[2] == 503
        and pd.isna(a["http_status"].iloc[0])
    )
    assert a["target_id"].tolist() == [5002000000000202] + [5001000000000105] * 5 + [5002000000000202]
    assert a["is_default"].tolist()[1:] == [True] * 6 and pd.isna(a["is_default"].iloc[0])
    assert (
        (a["router_id"] == ROUTER).all()
        and a["error_count"].isna().all()
        and set(a["source"]) == {"dialpad_calls"}
    )
    assert a["time"].iloc[0] == pd.Timestamp(T0 + 60_000, unit="ms", tz="UTC")


def test_an_error_name_we_do_not_know_still_counts_as_an_error():
    odd = routed_call(1, error="http_status")
    odd["routing_breadcrumbs"][0]["response"] = {"error": "rate_limited", "status": 429}
    quiet = routed_call(2, error="http_status")
    quiet["routing_breadcrumbs"][0]["response"] = {"error": "weird", "status": None}
    a = from_dialpad_calls([odd, quiet]).attempts
    assert a["outcome"].tolist() == ["http_status", "invalid_response"] and a["is_error"].all()
    assert "breadcrumb_unknown_error" in ASSUMPTIONS


def test_rejects_name_the_line_and_why():
    no_response = routed_call(2)
    no_response["routing_breadcrumbs"][0]["response"] = None
    office = {
        "call_id": 9,
        "date_started": T0,
        "entry_point_target": {"type": "office", "id": "1"},
        "routing_breadcrumbs": [],
    }
    res = from_dialpad_calls([routed_call(1), no_response, office, routed_call(1)])
    assert len(res.attempts) == 1 and res.records == 4
    assert res.rejects["kind"].tolist() == ["bad record", "not routed", "duplicate"]
    assert (
        res.rejects["reason"].iloc[0].startswith("line 2: routing breadcrumb of call")
        and "no response" in res.rejects["reason"].iloc[0]
    )
    assert (
        res.rejects["reason"].iloc[2]
        == f"line 4: duplicate call_id {routed_call(1)['call_id']} (first at line 1)"
    )


def test_router_filter_and_the_client_frame_and_receiver_events(tmp_path):
    mine = [routed_call(i, error="http_status" if i > 3 else None) for i in range(1, 16)]
    other = routed_call(20)
    other["entry_point_target"]["id"] = "5514135059149999"
    frame = call_history_frame([*reversed(mine), other])
    a = from_dialpad_calls(frame, router_id=ROUTER).attempts
    assert len(a) == 15 and a["time"].is_monotonic_increasing  # sorted by time whatever the page order
    summary = window_summary(simulate(a))
    assert (summary.loc[ROUTER, "errors"], summary.loc[ROUTER, "disables"]) == (11, 1)
    log = tmp_path / "events.jsonl"
    log.write_text(
        "".join(
            json.dumps(make_event_record(ts=0, event=call_event(c, s), signed=True, outcome="ok")) + "\n"
            for c in mine
            for s in CALL_STATES
        )
    )
    from_events = from_dialpad_calls(log)
    assert from_events.attempts["outcome"].tolist() == a["outcome"].tolist()
    assert (
        from_events.rejects["kind"].unique().tolist() == ["superseded event"]
        and len(from_events.rejects) == 45
    )


def test_a_source_that_is_not_call_history_is_refused(tmp_path):
    log = tmp_path / "endpoint.jsonl"
    log.write_text('{"v": 1, "ts": 1, "payload": null}\n')
    with pytest.raises(ValueError, match="holds no Dialpad call history"):
        from_dialpad_calls(log)
    with pytest.raises(FileNotFoundError):
        from_dialpad_calls(tmp_path / "missing.jsonl")
