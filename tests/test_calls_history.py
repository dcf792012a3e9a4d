"""``read_calls`` on Dialpad's call history, in every form: CallProto JSON and JSONL, saved call.list
pages, the ``client.calls()`` frame, lists of records, the event receiver's log; bad records are
rejected with their line and reason, and accepted + rejected = records."""

from __future__ import annotations

import gzip
import json
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dialpad_nb.api.history import call_history_frame
from dialpad_nb.calls import CALL_COLUMNS, CALL_DTYPES, read_calls
from dialpad_nb.core.event_log import make_event_record
from dialpad_nb.core.history import CALL_STATES, call_event
from dialpad_nb.core.signing import sign

from .helpers_history import ROUTER, routed_call

TIER1, RECEPTION = 5002000000000202, 5001000000000105


def jsonl(path, values):
    path.write_text("".join(json.dumps(v) + "\n" for v in values))
    return path


def check(res, n_calls, n_rejects):
    assert (len(res.calls), len(res.rejects), res.records) == (n_calls, n_rejects, n_calls + n_rejects)
    assert tuple(res.calls.columns) == CALL_COLUMNS
    assert {c: str(d) for c, d in res.calls.dtypes.items()} == CALL_DTYPES


def test_callproto_lines_become_calls_with_the_breadcrumbs_request_and_target(tmp_path):
    calls = [routed_call(1), routed_call(2, error="timeout"), routed_call(3, disabled=True)]
    res = read_calls(jsonl(tmp_path / "calls.jsonl", calls))
    check(res, 3, 0)
    ok, err, skipped = (res.calls.iloc[i] for i in range(3))
    assert ok["call_id"] == calls[0]["call_id"] and ok["internal_number"] == "+14155551001"
    assert ok["date_started"] == pd.Timestamp(calls[0]["date_started"], unit="ms", tz="UTC")
    assert (ok["logged_target_id"], ok["logged_target_type"]) == (TIER1, "callcenter")
    assert (err["logged_target_id"], err["logged_target_type"]) == (
        RECEPTION,
        "department",
    )  # what Dialpad used
    assert ok["router_id"] == ROUTER and pd.isna(ok["request_note"]) and pd.isna(ok["signed"])
    assert pd.isna(skipped["logged_target_id"])  # no request, no routing decision to compare with
    assert skipped["request_note"].startswith("rebuilt from the call's fields: no routing breadcrumb")
    assert skipped["external_number"] == "+14155550123" and skipped["call_id"] == calls[2]["call_id"]
    assert list(res.calls["line"]) == [1, 2, 3] and set(res.calls["source"]) == {
        str(tmp_path / "calls.jsonl")
    }


def test_the_request_is_checked_and_normalised_like_a_logged_payload(tmp_path):
    call = routed_call(1)
    call["routing_breadcrumbs"][0]["request"]["external_number"] = "(415) 555-0123"
    bad = routed_call(2)
    bad["routing_breadcrumbs"][0]["request"]["internal_number"] = "+1555"
    no_request = routed_call(3)
    no_request["routing_breadcrumbs"][0]["request"] = "eyJ.a.b"
    res = read_calls(jsonl(tmp_path / "c.jsonl", [call, bad, no_request]))
    check(res, 2, 1)
    assert res.calls["external_number"].iloc[0] == "+14155550123"
    assert (
        res.calls["request_note"].iloc[1]
        == "rebuilt from the call's fields: the routing breadcrumb holds no request object"
    )
    assert res.calls["logged_target_id"].iloc[1] == TIER1  # the breadcrumb still says where the call went
    (reject,) = res.rejects.itertuples()
    assert (reject.line, reject.kind) == (2, "bad number")
    assert reject.reason == "line 2: internal_number '+1555' is not E.164"


@pytest.mark.parametrize(
    ("record", "kind", "reason"),
    [
        ({"call_id": 5, "date_started": 1, "entry_point_target": {"type": "office", "id": "124"}, "routing_breadcrumbs": []},
         "not routed", "call 5 did not come through a call router (its entry point is a office"),
        ({"call_id": "x", "direction": "inbound"}, "bad record", "call_id 'x' is not an integer id"),
        ({"call_id": 5, "direction": "inbound"}, "bad record", "date_started is required"),
        ({"call_id": 5, "date_started": -3, "direction": "inbound"}, "bad record", "date_started -3"),
        ({"call_id": 5, "date_started": 1, "routing_breadcrumbs": [7]}, "bad record", "routing_breadcrumbs[0] is not an object"),
        ({"call_id": 5, "date_started": 1, "routing_breadcrumbs": [{"target_id": "x", "target_type": "user"}]},
         "bad record", "routing_breadcrumbs[0].target_id 'x'"),
    ],
)  # fmt: skip
def test_malformed_and_unrouted_calls_are_rejected_with_line_and_reason(tmp_path, record, kind, reason):
    res = read_calls(jsonl(tmp_path / "c.jsonl", [routed_call(1), record]))
    check(res, 1, 1)
    (reject,) = res.rejects.itertuples()
    assert (
        (reject.line, reject.kind) == (2, kind)
        and reason in reject.reason
        and reject.reason.startswith("line 2: ")
    )


def test_saved_pages_documents_and_gzip(tmp_path):
    calls = [routed_call(i) for i in range(5)]
    pages = [{"items": calls[:3], "cursor": "c1"}, {"items": calls[3:] + [{"call_id": 9, "direction": "x"}]}]
    res = read_calls(jsonl(tmp_path / "pages.jsonl", pages))
    check(res, 5, 1)
    assert res.rejects["reason"].iloc[0].startswith("line 2, item 3: ")
    (tmp_path / "array.json").write_text(json.dumps(calls, indent=2))
    check(read_calls(tmp_path / "array.json"), 5, 0)
    (tmp_path / "page.json").write_text(json.dumps(pages[0], indent=1))
    check(read_calls(tmp_path / "page.json"), 3, 0)
    with gzip.open(tmp_path / "calls.jsonl.gz", "wt") as f:
        f.writelines(json.dumps(c) + "\n" for c in calls)
    check(read_calls(tmp_path / "calls.jsonl.gz"), 5, 0)


def test_the_client_frame_and_lists_of_records(tmp_path):
    calls = [routed_call(i) for i in range(4)] + [routed_call(9, disabled=True)]
    frame = call_history_frame([*calls, ["junk"]], source="call.list")
    res = read_calls(frame)
    check(res, 5, 1)
    assert set(res.calls["source"]) == {"call.list"} and res.rejects["line"].tolist() == [6]
    check(read_calls(calls), 5, 0)
    check(read_calls([{"items": calls}]), 5, 0)
    round_trip = tmp_path / "frame.parquet"  # a saved frame's raw column reads back the same
    frame.to_parquet(round_trip)
    assert read_calls(pd.read_parquet(round_trip)).calls["call_id"].tolist() == res.calls["call_id"].tolist()


def test_the_receiver_log_keeps_each_calls_latest_event_and_counts_the_rest(tmp_path):
    calls = [routed_call(1), routed_call(2, error="http_status")]
    records = [
        make_event_record(ts=0, event=call_event(c, s), signed=True, outcome="ok")
        for c in calls
        for s in CALL_STATES
    ]
    records.insert(
        3,
        make_event_record(ts=0, event=None, signed=False, outcome="unauthorized", error="bad_signature: no"),
    )
    res = read_calls(jsonl(tmp_path / "events.jsonl", records))
    check(res, 2, 7)
    assert res.calls["call_id"].tolist() == [c["call_id"] for c in calls]
    counts = res.rejects["kind"].value_counts().to_dict()
    assert counts == {"superseded event": 6, "logged error": 1}
    first = res.rejects.iloc[0]
    assert (
        first["reason"]
        == f"line 1: call {calls[0]['call_id']}'s calling event is superseded by its hangup event at line 5"
    )


def test_a_file_whose_first_call_lacks_its_id_is_still_read_as_call_history(tmp_path):
    first = {k: v for k, v in routed_call(1).items() if k != "call_id"}
    res = read_calls(jsonl(tmp_path / "c.jsonl", [first, routed_call(2)]))  # not mistaken for a routing log
    check(res, 1, 1)
    assert res.calls["router_id"].tolist() == [ROUTER] and res.rejects["reason"].tolist() == [
        "line 1: call_id is required"
    ]


def test_duplicates_across_history_and_logs_are_rejected_after_the_first(tmp_path):
    calls = [routed_call(1), routed_call(2)]
    a = jsonl(tmp_path / "a.jsonl", calls)
    b = jsonl(tmp_path / "b.jsonl", [calls[1]])
    res = read_calls([a, b])
    check(res, 2, 1)
    assert res.rejects["kind"].tolist() == ["duplicate"] and f"{a}:2" in res.rejects["reason"].iloc[0]


def test_routing_logs_are_still_read_as_before(tmp_path):
    payload = {
        "date_started": 1767603600000,
        "call_id": 1,
        "external_number": "+14155550123",
        "internal_number": "+14155551001",
    }
    log = tmp_path / "log.jsonl"
    log.write_text(json.dumps(payload) + "\n" + sign(payload | {"call_id": 2}, "k" * 32) + "\n")
    res = read_calls(log, secret="k" * 32)
    check(res, 2, 0)
    assert res.calls["router_id"].isna().all() and res.calls["request_note"].isna().all()
    assert res.calls["signed"].tolist() == [False, True]


# --------------------------------------------------------------------------- the two paths agree

MUTATIONS = {
    "none": lambda c: c,
    "error": lambda c: routed_call(c["call_id"] % 1000, error="timeout"),
    "disabled": lambda c: routed_call(c["call_id"] % 1000, disabled=True),
    "bad_caller": lambda c: _set(c, ("routing_breadcrumbs", 0, "request", "external_number"), "+1555"),
    "human_caller": lambda c: _set(
        c, ("routing_breadcrumbs", 0, "request", "external_number"), "(415) 555-0142"
    ),
    "other_request_id": lambda c: _set(c, ("routing_breadcrumbs", 0, "request", "call_id"), 99),
    "no_request": lambda c: _set(c, ("routing_breadcrumbs", 0, "request"), None),
    "external_api_first": lambda c: {
        **c,
        "routing_breadcrumbs": [{"breadcrumb_type": "external_api"}, *c["routing_breadcrumbs"]],
    },
    "not_routed": lambda c: {
        **c,
        "entry_point_target": {"id": "124", "type": "office"},
        "routing_breadcrumbs": [],
    },
    "bad_router_id": lambda c: _set(c, ("entry_point_target", "id"), "router-7"),
    "negative_date": lambda c: {**c, "date_started": -5},
    "no_call_id": lambda c: {k: v for k, v in c.items() if k != "call_id"},
    "bad_crumb_date": lambda c: _set(c, ("routing_breadcrumbs", 0, "date"), -1),
    "crumb_without_type": lambda c: _set(c, ("routing_breadcrumbs", 0, "target_type"), None),
    "duplicate": lambda c: routed_call(1),
    "contact_int": lambda c: _set(c, ("routing_breadcrumbs", 0, "request", "contact_id"), 42),
}


def _set(call: dict, path: tuple, value) -> dict:
    out = json.loads(json.dumps(call))
    node = out
    try:
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    except (IndexError, KeyError, TypeError):
        pass
    return out


@settings(max_examples=30, deadline=None)
@given(st.lists(st.sampled_from(sorted(MUTATIONS)), min_size=1, max_size=60), st.integers(1, 25))
def test_the_vectorised_path_and_the_reference_path_read_the_same(kinds, chunksize):
    import dialpad_nb.calls.history as history

    lines = [MUTATIONS[k](routed_call(i + 1)) for i, k in enumerate(kinds)]
    with tempfile.TemporaryDirectory() as tmp:
        path = jsonl(Path(tmp) / "calls.jsonl", lines)
        fast = read_calls(path, chunksize=chunksize)
        history.VECTORISED = False
        try:
            slow = read_calls(path, chunksize=chunksize)
        finally:
            history.VECTORISED = True
    pd.testing.assert_frame_equal(fast.calls, slow.calls)
    pd.testing.assert_frame_equal(fast.rejects, slow.rejects)
    assert fast.records == slow.records == len(lines)
    frame = read_calls(call_history_frame(lines, source="call.list"))  # the client's frame: its raw column
    history.VECTORISED = False
    try:
        frame_slow = read_calls(call_history_frame(lines, source="call.list"))
    finally:
        history.VECTORISED = True
    pd.testing.assert_frame_equal(frame.calls, frame_slow.calls)
    pd.testing.assert_frame_equal(frame.rejects, frame_slow.rejects)
    if chunksize >= len(lines):  # one chunk: the duplicates are judged alike, so the reads agree
        keep = [c for c in fast.calls.columns if c != "source"]
        pd.testing.assert_frame_equal(frame.calls[keep], fast.calls[keep])


def test_plain_callproto_lines_take_the_vectorised_path():
    import dialpad_nb.calls.history as history
    from dialpad_nb.calls.columns import Part
    from dialpad_nb.calls.reader import CallReader

    calls = [routed_call(i, error="http_status" if i % 3 else None, disabled=i == 4) for i in range(1, 9)]
    buf = "".join(json.dumps(c) + "\n" for c in calls).encode()
    reader = CallReader(None, default_country_code="1", duplicates="reject", leeway_s=0)
    part = Part()
    assert history._vector_chunk(reader, part, buf, len(calls), 1) == 8
    blocks = part.cols["line"]  # arrays: one block per group (with a request, rebuilt), no row by row
    assert [b.tolist() for b in blocks] == [[1, 2, 3, 5, 6, 7, 8], [4]]
    pages = "".join(json.dumps({"items": calls[:2]}) + "\n" for _ in range(2)).encode()
    assert (
        history._vector_chunk(reader, Part(), pages, 2, 1) == 4
    )  # pages: read by the reference path, counted by call


def test_a_frame_whose_raw_column_is_not_json_text_is_rejected_row_by_row():
    frame = call_history_frame([routed_call(1), routed_call(2)])
    frame["raw"] = pd.array([frame["raw"].iloc[0], None], dtype="string")
    odd = pd.DataFrame({"raw": [json.dumps(routed_call(3)), 17, {"call_id": 1}, "[[[", None]})
    res = read_calls(frame)
    assert (len(res.calls), res.rejects["kind"].tolist()) == (1, ["bad JSON"])
    res = read_calls(odd)
    assert len(res.calls) == 1 and res.records == 5 and set(res.rejects["kind"]) == {"bad JSON"}
    assert res.rejects["line"].tolist() == [2, 3, 4, 5]
