"""core.history / core.event_log / the new policy numbers: the shapes both sides share."""

from __future__ import annotations

import pytest

from dialpad_nb.core.errors import DialpadError, IncompleteRead
from dialpad_nb.core.event_log import check_event_record, make_event_record
from dialpad_nb.core.history import (
    BREADCRUMB_ERRORS,
    CALL_STATES,
    OUTCOME_OF_ERROR,
    BadCallRecord,
    call_event,
    check_call,
    is_call_record,
    routing_verdict,
    simulated_timeline,
)
from dialpad_nb.core.policy import ASSUMPTIONS, ERROR_OUTCOMES, EVENT_DELIVERY, EventDelivery

from .helpers_history import routed_call


def test_every_error_outcome_has_a_breadcrumb_error_and_back():
    assert set(BREADCRUMB_ERRORS) == set(ERROR_OUTCOMES)
    assert {OUTCOME_OF_ERROR[e] for e in BREADCRUMB_ERRORS.values()} == set(ERROR_OUTCOMES)
    for outcome in ERROR_OUTCOMES:
        call = routed_call(1, error=outcome)
        assert routing_verdict(check_call(call)).outcome == outcome


def test_the_timeline_is_seeded_by_call_and_ordered():
    a = simulated_timeline(0, 7, 1000)
    assert a == simulated_timeline(0, 7, 1000) != simulated_timeline(1, 7, 1000)
    assert 1000 + 200 <= a["date_rang"] < a["date_connected"] < a["date_ended"]
    assert a["date_ended"] - a["date_connected"] >= 20_000


def test_each_event_shows_only_the_times_reached_by_its_state():
    call = routed_call(1)
    events = [call_event(call, s) for s in CALL_STATES]
    assert [e["state"] for e in events] == list(CALL_STATES)
    assert [e["event_timestamp"] for e in events] == [
        call[k] for k in ("date_started", "date_rang", "date_connected", "date_ended")
    ]
    assert events[0]["date_rang"] is None and events[1]["date_rang"] == call["date_rang"]
    assert events[2]["date_ended"] is None and events[2]["duration"] is None
    assert {k: v for k, v in events[3].items() if k != "event_timestamp"} == {
        k: v for k, v in call.items() if k != "event_timestamp"
    }


def test_a_bare_routing_request_is_not_a_call_record():
    payload = {
        "date_started": 1,
        "call_id": 2,
        "external_number": "+14155550123",
        "internal_number": "+14155550100",
    }
    assert not is_call_record(payload) and is_call_record(routed_call(1))


def test_receiver_records_round_trip_and_refusals_are_logged_errors():
    event = call_event(routed_call(1), "ringing")
    record = make_event_record(ts=5, event=event, signed=True, outcome="ok")
    assert (record["call_id"], record["state"]) == (event["call_id"], "ringing") and check_event_record(
        record
    ) == event
    refused = make_event_record(
        ts=5, event=None, signed=False, outcome="unauthorized", error="unsigned event"
    )
    with pytest.raises(BadCallRecord) as info:
        check_event_record(refused)
    assert info.value.kind == "logged error" and "unsigned event" in str(info.value)
    with pytest.raises(BadCallRecord, match="version"):
        check_event_record({**record, "v": 2})


def test_delivery_schedule_and_assumptions_live_in_policy():
    assert [EVENT_DELIVERY.retry_delay_s(n) for n in (1, 2, 3)] == [1.0, 2.0, 4.0]
    for bad in ({"attempts": 0}, {"backoff_s": -1}, {"factor": 0.5}, {"timeout_s": 0}):
        with pytest.raises(ValueError):
            EventDelivery(**bad)
    for key in (
        "breadcrumb_error",
        "breadcrumb_target",
        "breadcrumb_latency",
        "no_breadcrumb_disabled",
        "event_delivery",
    ):
        assert key in ASSUMPTIONS


def test_incomplete_read_keeps_what_was_read():
    cause = DialpadError("boom")
    exc = IncompleteRead("stopped", partial=[1, 2], pages=1, records=2, cursor="c", cause=cause)
    assert isinstance(exc, DialpadError) and (exc.partial, exc.pages, exc.records, exc.cursor, exc.cause) == (
        [1, 2],
        1,
        2,
        "c",
        cause,
    )
