"""read_calls: every input shape, the DataFrame contract, rejects with reasons, nothing lost."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import jwt
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dialpad_nb.calls import CALL_COLUMNS, CALL_DTYPES, iter_calls, read_calls
from dialpad_nb.calls import read as calls_mod
from dialpad_nb.calls import reader as call_reader
from dialpad_nb.calls.columns import empty_calls
from dialpad_nb.core.frames import RAW_LIMIT, REJECT_COLUMNS, ReadResult, empty_rejects
from dialpad_nb.samples import generate as datagen

# Many reads here leave JWTs unverified on purpose; the NoSecretWarning itself is tested in
# tests/test_read_calls_warns.py.
pytestmark = pytest.mark.filterwarnings("ignore::dialpad_nb.calls.read.NoSecretWarning")

SECRET = "calls-test-secret-0123456789-abcdefghijk"
REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "data" / "calls_2026-10.jsonl.gz"


def payload(call_id: int = 1, **over) -> dict:
    p = {
        "date_started": 1_790_000_000_000 + call_id * 1000,
        "call_id": call_id,
        "external_number": "+14155550123",
        "internal_number": "+14155550142",
        "contact_id": None,
        "contact_type": None,
    }
    p.update(over)
    return p


def sign(p: dict, key: str = SECRET) -> str:
    return jwt.encode(p, key, algorithm="HS256")


def log_record(p: dict | None, *, decision=None, rule=None, outcome="ok", status=200, error=None) -> dict:
    return {
        "v": 1,
        "ts": 1_790_000_000_000,
        "call_id": None if p is None else p["call_id"],
        "payload": p,
        "signed": True,
        "decision": decision,
        "rule": rule,
        "fallback": False,
        "status": status,
        "latency_ms": 1.5,
        "outcome": outcome,
        "error": error,
    }


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines))
    return path


def reference_read(*args, **kwargs):
    """The same read with pyarrow switched off: every record through the per-line reference path."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(call_reader, "_arrow_buf", lambda buf, newlines=None: None)
        return read_calls(*args, **kwargs)


# --------------------------------------------------------------------------- the contract


def test_empty_frames_have_the_contract_columns_and_dtypes() -> None:
    frame = empty_calls()
    assert tuple(frame.columns) == CALL_COLUMNS
    assert {c: str(d) for c, d in frame.dtypes.items()} == CALL_DTYPES
    assert tuple(empty_rejects().columns) == REJECT_COLUMNS


def test_sample_reads_with_contract_dtypes_and_documented_counts() -> None:
    res = read_calls(SAMPLE, secret=datagen.SAMPLE_SECRET)
    assert tuple(res.calls.columns) == CALL_COLUMNS
    assert {c: str(d) for c, d in res.calls.dtypes.items()} == CALL_DTYPES
    assert res.records == 24_014
    assert len(res.calls) == 24_000 and len(res.rejects) == 14
    assert res.rejects["kind"].value_counts().to_dict() == {
        "bad JSON": 4,
        "bad JWT": 2,
        "bad number": 2,
        "bad record": 2,
        "bad signature": 2,
        "duplicate": 2,
    }
    assert res.calls["line"].is_monotonic_increasing
    assert res.calls["call_id"].is_unique
    assert set(res.calls["source"]) == {str(SAMPLE)}


def test_typed_values_of_one_plain_payload(tmp_path: Path) -> None:
    p = payload(7, contact_id=42, contact_type="shared", external_number="(415) 555-0123")
    res = read_calls(write_lines(tmp_path / "a.jsonl", [json.dumps(p)]))
    row = res.calls.iloc[0]
    assert row["date_started"] == pd.Timestamp(p["date_started"], unit="ms", tz="UTC")
    assert row["call_id"] == 7
    assert row["external_number"] == "+14155550123"  # normalised
    assert row["contact_id"] == "42"  # ids become text
    assert row["contact_type"] == "shared"
    assert pd.isna(row["logged_target_id"]) and pd.isna(row["logged_rule"])
    assert not row["signed"]
    assert row["line"] == 1 and row["source"] == str(tmp_path / "a.jsonl")


# --------------------------------------------------------------------------- formats


def test_compact_and_wrapped_jwts_are_verified(tmp_path: Path) -> None:
    lines = [
        sign(payload(1)),
        json.dumps({"token": sign(payload(2))}),
        json.dumps({"jwt": sign(payload(3))}),
        sign(payload(4), key="some-other-secret-0123456789-abcdefghij"),
    ]
    res = read_calls(write_lines(tmp_path / "t.jwt", lines), secret=SECRET)
    assert res.calls["call_id"].tolist() == [1, 2, 3]
    assert res.calls["signed"].tolist() == [True, True, True]
    assert res.rejects["line"].tolist() == [4]
    assert res.rejects["reason"].tolist() == ["line 4: bad JWT signature (does not match the secret)"]


def test_without_a_secret_jwts_are_rejected_not_read_unverified(tmp_path: Path) -> None:
    lines = [json.dumps(payload(1)), sign(payload(2)), json.dumps({"token": sign(payload(3))})]
    res = read_calls(write_lines(tmp_path / "a.jsonl", lines))
    assert res.calls["call_id"].tolist() == [1]
    assert res.rejects["kind"].tolist() == ["no secret", "no secret"]
    assert "no secret given" in res.rejects["reason"].iloc[0]


def test_expired_jwt_is_rejected(tmp_path: Path) -> None:
    res = read_calls(write_lines(tmp_path / "a.jsonl", [sign({**payload(1), "exp": 1_000})]), secret=SECRET)
    assert res.calls.empty
    assert res.rejects["kind"].tolist() == ["expired JWT"]


def test_endpoint_log_records_carry_the_logged_decision(tmp_path: Path) -> None:
    lines = [
        json.dumps(log_record(payload(1), decision={"target_id": 5, "target_type": "user"}, rule="vip")),
        json.dumps(log_record(payload(2), outcome="error", status=200, error="decide failed")),
        json.dumps(log_record(None, outcome="unauthorized", status=401, error="bad JWT signature")),
    ]
    res = read_calls(write_lines(tmp_path / "endpoint.jsonl", lines))
    assert res.calls["call_id"].tolist() == [1, 2]
    assert res.calls["logged_target_id"].tolist()[0] == 5
    assert pd.isna(res.calls["logged_target_id"].iloc[1])
    assert res.calls["logged_target_type"].tolist()[0] == "user"
    assert res.calls["logged_rule"].tolist()[0] == "vip"
    assert res.calls["signed"].tolist() == [True, True]
    assert res.rejects["reason"].tolist() == [
        "line 3: endpoint logged unauthorized (HTTP 401): bad JWT signature"
    ]
    assert res.rejects["kind"].tolist() == ["logged error"]


def test_endpoint_log_from_the_kit_reads_identically_fast_and_reference(tmp_path: Path) -> None:
    lines = [
        json.dumps(log_record(payload(i), decision={"target_id": 100 + i % 3, "target_type": "callcenter"}))
        for i in range(1, 80)
    ] + [json.dumps(log_record(None, outcome="bad_request", status=400, error="not JSON"))]
    reload = {"v": 1, "event": "reload", "ts": 5, "ok": True, "trigger": "watch", "name": "m", "sha256": "ab"}
    for at in (0, 40, 70):  # reload events among the requests: one pyarrow block, skipped in columns
        lines.insert(at, json.dumps(reload))
    path = write_lines(tmp_path / "endpoint.jsonl", lines)
    fast, ref = read_calls(path), reference_read(path)
    pd.testing.assert_frame_equal(fast.calls, ref.calls)
    pd.testing.assert_frame_equal(fast.rejects, ref.rejects)
    assert len(fast.calls) == 79 and fast.calls["logged_target_type"].eq("callcenter").all()
    assert fast.skipped == ref.skipped == {"reload": 3} and fast.records == 83
    assert fast.summary.endswith("3 reload events skipped (not requests)")


def test_gzip_is_detected_by_content(tmp_path: Path) -> None:
    path = tmp_path / "calls.jsonl.gz"
    with gzip.open(path, "wt") as f:
        f.write(json.dumps(payload(1)) + "\n" + json.dumps(payload(2)) + "\n")
    assert read_calls(path).calls["call_id"].tolist() == [1, 2]


def test_csv_with_human_numbers_and_a_bad_row(tmp_path: Path) -> None:
    path = tmp_path / "calls.csv"
    path.write_text(
        "date_started,call_id,external_number,internal_number,contact_id,contact_type\n"
        "1790000000000,11,(415) 555-0123,+14155550142,,\n"
        "1790000001000,12,415.555.0124,+14155550142,900,shared\n"
        "1790000002000,13,555,+14155550142,,\n"
    )
    res = read_calls(path)
    assert res.calls["call_id"].tolist() == [11, 12]
    assert res.calls["external_number"].tolist() == ["+14155550123", "+14155550124"]
    assert res.calls["contact_id"].tolist()[1] == "900"
    assert res.rejects["line"].tolist() == [3]
    assert res.rejects["reason"].iloc[0] == "line 3: external_number '555' is not E.164"
    assert '"call_id": 13' in res.rejects["raw"].iloc[0]


def test_csv_with_iso_dates_takes_the_row_path(tmp_path: Path) -> None:
    path = tmp_path / "calls.csv"
    path.write_text(
        "date_started,call_id,external_number,internal_number\n2026-10-01T09:00:00Z,11,+14155550123,+14155550142\n"
    )
    res = read_calls(path)
    assert res.calls["date_started"].iloc[0] == pd.Timestamp("2026-10-01T09:00:00Z")


def test_parquet_including_a_calls_frame_round_trip(tmp_path: Path) -> None:
    frame = datagen.generate_calls(50, seed=3)
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), tmp_path / "a.parquet")
    res = read_calls(tmp_path / "a.parquet")
    assert res.calls["call_id"].tolist() == frame["call_id"].tolist()
    assert res.calls["line"].tolist() == list(range(1, 51))
    # a calls frame written to Parquet (timestamp column) reads back to the same calls
    back = read_calls(_write_parquet(res.calls, tmp_path / "b.parquet"))
    cols = ["date_started", "call_id", "external_number", "internal_number", "contact_id", "contact_type"]
    pd.testing.assert_frame_equal(back.calls[cols], res.calls[cols])


def _write_parquet(frame: pd.DataFrame, path: Path) -> Path:
    pq.write_table(pa.Table.from_pandas(frame[list(calls_mod.PAYLOAD_FIELDS)], preserve_index=False), path)
    return path


# --------------------------------------------------------------------------- sources


def test_folder_glob_and_list_sources(tmp_path: Path) -> None:
    d = tmp_path / "logs"
    (d / "sub").mkdir(parents=True)
    write_lines(d / "a.jsonl", [json.dumps(payload(1))])
    write_lines(d / "sub" / "b.jsonl", [json.dumps(payload(2))])
    (d / "notes.md").write_text("not a log")
    assert read_calls(d).calls["call_id"].tolist() == [1, 2]
    assert read_calls(str(d / "*.jsonl")).calls["call_id"].tolist() == [1]
    assert read_calls(str(d / "**" / "*.jsonl")).calls["call_id"].tolist() == [1, 2]
    res = read_calls([d / "sub" / "b.jsonl", d / "a.jsonl"])
    assert res.calls["call_id"].tolist() == [2, 1]
    assert res.files == (str(d / "sub" / "b.jsonl"), str(d / "a.jsonl"))


def test_empty_files_are_read_as_zero_records(tmp_path: Path) -> None:
    (tmp_path / "empty.jsonl").write_bytes(b"")
    write_lines(tmp_path / "blank.jsonl", ["", "  "])
    res = read_calls([tmp_path / "empty.jsonl", tmp_path / "blank.jsonl"])
    assert res.summary == "Read 0 records from 2 files: 0 calls accepted, 0 rejected"
    assert tuple(res.calls.columns) == CALL_COLUMNS and res.rejects.empty


def test_missing_sources_name_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nope.jsonl"):
        read_calls(tmp_path / "nope.jsonl")
    with pytest.raises(FileNotFoundError, match=r"no files match .*\*.gz"):
        read_calls(str(tmp_path / "*.gz"))
    with pytest.raises(FileNotFoundError, match="no call log files in folder"):
        read_calls(tmp_path)


# --------------------------------------------------------------------------- rejects


def test_reasons_name_line_and_problem(tmp_path: Path) -> None:
    lines = [
        "{not json",
        "hello world",
        json.dumps(payload(1, external_number="+1555")),
        json.dumps({k: v for k, v in payload(2).items() if k != "call_id"}),
        json.dumps({**payload(3), "call_id": "abc"}),
        json.dumps(payload(4, date_started="yesterday")),
        "[1, 2]",
        json.dumps(payload(5, contact_id=[1])),
    ]
    res = read_calls(write_lines(tmp_path / "bad.jsonl", lines))
    assert res.calls.empty
    assert res.rejects["reason"].tolist() == [
        "line 1: not JSON: Expecting property name enclosed in double quotes at col 2",
        "line 2: not JSON or a JWT: Expecting value at col 1",
        "line 3: external_number '+1555' is not E.164",
        "line 4: call_id is required",
        "line 5: call_id 'abc' is not an integer id",
        "line 6: date_started 'yesterday' is not milliseconds since the epoch",
        "line 7: not a JSON object or a JWT",
        "line 8: contact_id [1] is not an id",
    ]
    assert res.rejects["raw"].tolist()[0] == "{not json"


def test_duplicates_rejected_with_first_location_across_files(tmp_path: Path) -> None:
    a = write_lines(
        tmp_path / "a.jsonl", [json.dumps(payload(1)), json.dumps(payload(2)), json.dumps(payload(1))]
    )
    b = write_lines(tmp_path / "b.jsonl", [json.dumps(payload(2))])
    res = read_calls([a, b])
    assert res.calls["call_id"].tolist() == [1, 2]
    assert res.rejects["reason"].tolist() == [
        f"line 3: duplicate call_id 1 (first at {a}:1)",
        f"line 1: duplicate call_id 2 (first at {a}:2)",
    ]
    assert len(read_calls([a, b], duplicates="keep").calls) == 4


def test_raw_text_is_truncated(tmp_path: Path) -> None:
    res = read_calls(write_lines(tmp_path / "a.jsonl", ["x" * 2000]))
    assert len(res.rejects["raw"].iloc[0]) == RAW_LIMIT


def test_secret_never_appears_in_rejects_summary_or_repr(tmp_path: Path) -> None:
    lines = [
        SECRET,  # someone pasted the secret into the log
        json.dumps({"token": SECRET}),
        json.dumps(payload(1, external_number=SECRET)),
        sign(payload(2), key=SECRET + "x"),
        json.dumps({"secret": SECRET}),
    ]
    res = read_calls(write_lines(tmp_path / "a.jsonl", lines), secret=SECRET)
    assert len(res.rejects) == 5
    text = res.rejects.to_csv() + res.summary + repr(res) + res._repr_html_()
    assert SECRET not in text
    assert "***" in res.rejects["raw"].iloc[0]


def test_a_secret_cut_by_the_raw_limit_leaves_no_part_of_it(tmp_path: Path) -> None:
    line = json.dumps({"note": "x" * (RAW_LIMIT - 40), "secret": SECRET})  # SECRET straddles the cut
    assert line.index(SECRET) < RAW_LIMIT < line.index(SECRET) + len(SECRET)
    res = read_calls(write_lines(tmp_path / "a.jsonl", [line]), secret=SECRET)
    raw = res.rejects["raw"].iloc[0]
    assert len(raw) <= RAW_LIMIT and SECRET[:8] not in raw and raw.endswith('"secret": "***"}')


def test_summary_counts_by_kind(tmp_path: Path) -> None:
    lines = [json.dumps(payload(i)) for i in range(1, 4)] + [
        "",
        "oops",
        "{",
        json.dumps(payload(9, internal_number="x")),
    ]
    res = read_calls(write_lines(tmp_path / "a.jsonl", lines))
    expected = "Read 6 records from 1 file: 3 calls accepted, 3 rejected (2 bad JSON, 1 bad number)"
    assert res.summary == expected
    assert repr(res) == expected
    calls, rejects = res
    assert calls is res.calls and rejects is res.rejects
    assert isinstance(res, ReadResult)


def test_reject_counts_table(tmp_path: Path) -> None:
    lines = ["oops", "{", json.dumps(payload(9, internal_number="x")), json.dumps(payload(1))]
    res = read_calls(write_lines(tmp_path / "a.jsonl", lines))
    table = res.reject_counts()
    assert table["kind"].tolist() == ["bad JSON", "bad number"]
    assert table["count"].tolist() == [2, 1]
    assert table["example"].tolist()[1] == "line 3: internal_number 'x' is not E.164"
    empty = read_calls(write_lines(tmp_path / "b.jsonl", [json.dumps(payload(1))])).reject_counts()
    assert list(empty.columns) == ["kind", "count", "example"] and empty.empty


def test_blank_and_crlf_lines(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_bytes(
        b"\r\n   \n" + json.dumps(payload(1)).encode() + b"\r\n\t\n" + sign(payload(2)).encode() + b"\r\n"
    )
    res = read_calls(path, secret=SECRET)
    assert res.records == 2
    assert res.calls["line"].tolist() == [3, 5]


# --------------------------------------------------------------------------- chunking and paths agree


def test_chunked_reading_equals_one_chunk() -> None:
    whole = read_calls(SAMPLE, secret=datagen.SAMPLE_SECRET)
    chunked = read_calls(SAMPLE, secret=datagen.SAMPLE_SECRET, chunksize=997)
    pd.testing.assert_frame_equal(whole.calls, chunked.calls)
    pd.testing.assert_frame_equal(whole.rejects, chunked.rejects)
    assert chunked.summary == whole.summary


class _Reads:
    """A file object over ``data`` that gives at most ``cap`` bytes per ``read`` (a pipe, gzip)."""

    def __init__(self, data: bytes, cap: int) -> None:
        self.data, self.pos, self.cap = data, 0, cap

    def read(self, n: int) -> bytes:
        out = self.data[self.pos : self.pos + min(n, self.cap)]
        self.pos += len(out)
        return out


@settings(max_examples=40, deadline=None)
@given(
    lengths=st.lists(st.integers(0, 40), max_size=3000),
    final_newline=st.booleans(),
    chunksize=st.sampled_from([1, 2, 7, 1024, 1025, 2500, 10**6]),
    cap=st.sampled_from([1, 97, 4096, 10**9]),
)
def test_line_chunks_cut_whole_lines_in_order(
    lengths: list[int], final_newline: bool, chunksize: int, cap: int
) -> None:
    """``line_chunks`` gives back exactly the file's lines, ``chunksize`` at a time (the last may be
    shorter), however the reads fall and wherever the k-th newline is found (loop or numpy)."""
    lines = [bytes([65 + k % 26]) * n for k, n in enumerate(lengths)]
    data = b"\n".join(lines) + (b"\n" if final_newline and lines else b"")
    n_lines = data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1)
    chunks = list(call_reader.line_chunks(_Reads(data, cap), chunksize))
    assert b"".join(buf for buf, _ in chunks) == data
    assert [n for _, n in chunks[:-1]] == [chunksize] * (len(chunks) - 1)
    assert sum(n for _, n in chunks) == n_lines
    for buf, n in chunks[:-1]:
        assert buf.endswith(b"\n") and buf.count(b"\n") == n


def test_iter_calls_yields_bounded_chunks() -> None:
    chunks = list(iter_calls(SAMPLE, secret=datagen.SAMPLE_SECRET, chunksize=5_000))
    assert len(chunks) == 5
    assert all(len(c.calls) + len(c.rejects) <= 5_000 for c in chunks)
    assert sum(c.records for c in chunks) == 24_014


def test_sample_fast_path_equals_reference_path() -> None:
    fast = read_calls(SAMPLE, secret=datagen.SAMPLE_SECRET)
    ref = reference_read(SAMPLE, secret=datagen.SAMPLE_SECRET)
    pd.testing.assert_frame_equal(fast.calls, ref.calls)
    pd.testing.assert_frame_equal(fast.rejects, ref.rejects)


_GOOD = st.builds(
    lambda cid, ext, ctype: json.dumps(payload(cid, external_number=ext, contact_type=ctype)),
    st.integers(1, 40),
    st.sampled_from(["+14155550123", "(206) 555-0100", "+442079460000", "+1555", "", "0014155550123"]),
    st.sampled_from([None, "", "shared", "local"]),
)
_V2_RESULT = {"decision": {"target_id": 4, "target_type": "callcenter"}, "rule": "x", "outcome": "ok",
              "error": None, "duration_ms": 2.5}  # fmt: skip
_V2_SHADOWS = [
    {"name": "candidate", **_V2_RESULT},
    {
        "name": "slow",
        "decision": None,
        "rule": None,
        "outcome": "timeout",
        "error": "late",
        "duration_ms": 2000.0,
    },
    {"name": "odd", "decision": "not a target", "outcome": "nonsense"},  # read_calls does not read shadows
]
_KNOWN_EVENT = re.compile(r'^\{"v": [12], "event": "(reload|canary)"')
_LINE = st.one_of(
    _GOOD,
    st.integers(1, 40).map(lambda cid: sign(payload(cid))),
    st.integers(1, 40).map(lambda cid: json.dumps({"token": sign(payload(cid))})),
    st.integers(1, 40).map(lambda cid: sign(payload(cid), key="wrong-secret-0123456789-abcdefghijklmn")),
    st.integers(1, 40).map(
        lambda cid: json.dumps(log_record(payload(cid), decision={"target_id": 3, "target_type": "user"}))
    ),
    st.just(json.dumps(log_record(None, outcome="unauthorized", status=401, error="no token"))),
    st.sampled_from(  # endpoint events (reloads): skipped and counted, on both paths; an unknown one is a reject
        [
            json.dumps({"v": 1, "event": "reload", "ts": 1, "ok": True, "trigger": "signal", "sha256": "ab"}),
            json.dumps({"v": 1, "event": "reload", "ts": 2, "ok": False, "error": "bad matrix", "pid": 7}),
            json.dumps({"v": 1, "event": "party", "ts": 3}),
            json.dumps({"v": 1, "event": 5}),
        ]
    ),
    st.builds(  # version 2: shadows and canary arms beside the answer (read_calls reads the answer)
        lambda cid, side, shadows: json.dumps(
            {
                **log_record(payload(cid), decision={"target_id": 3, "target_type": "user"}, rule="r"),
                "v": 2,
                "side": side,
                "answered_by": side,
                "control": _V2_RESULT if side == "candidate" else None,
                "shadows": shadows,
            }
        ),  # fmt: skip
        st.integers(1, 40),
        st.sampled_from([None, "control", "candidate"]),
        st.lists(st.sampled_from(_V2_SHADOWS), max_size=3),
    ),
    st.sampled_from(  # version 2 events (canary, reload with shadows): skipped and counted
        [
            json.dumps(
                {
                    "v": 2,
                    "event": "canary",
                    "ts": 4,
                    "action": "stop",
                    "candidate": "c",
                    "share": 0.1,
                    "trigger": "auto",
                    "reason": "failed",
                    "candidate_calls": 20,
                    "candidate_failures": 7,
                    "control_calls": 21,
                    "control_failures": 0,
                    "pid": 9,
                }
            ),  # fmt: skip
            json.dumps(
                {
                    "v": 2,
                    "event": "reload",
                    "ts": 5,
                    "ok": True,
                    "trigger": "api",
                    "shadows": [{"shadow": "c", "name": "m", "sha256": "ab", "rules": 3}],
                }
            ),  # fmt: skip
        ]
    ),
    st.integers(1, 40).map(lambda cid: sign({**payload(cid), "exp": 1_000})),
    st.integers(1, 40).map(lambda cid: sign({**payload(cid), "exp": 4_000_000_000})),
    st.integers(1, 40).map(lambda cid: json.dumps({"token": sign(payload(cid)), "received": 1})),
    st.integers(1, 40).map(lambda cid: json.dumps(log_record(payload(cid), decision={"target_id": "x"}))),
    st.integers(1, 40).map(lambda cid: json.dumps(payload(cid, contact_id=cid * 7, contact_type="shared"))),
    st.sampled_from(
        [
            "",
            "   ",
            "{",
            "nope",
            "[]",
            "{}",
            '{"call_id": 1}',
            "null",
            '{"v": 2}',
            '{"v": 3}',
            "a.b.c",
            ".a.b",
        ]
    ),
    st.builds(
        lambda cid, ds: json.dumps(payload(cid, date_started=ds)),
        st.integers(1, 40),
        st.one_of(
            st.integers(-5, 2**62),
            st.floats(allow_nan=False, allow_infinity=False, min_value=0, max_value=1e13),
        ),
    ),
    st.text(max_size=12),
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(lines=st.lists(_LINE, max_size=120), chunksize=st.integers(1, 50), with_secret=st.booleans())
def test_counts_invariant_and_paths_agree(
    tmp_path: Path, lines: list[str], chunksize: int, with_secret: bool
) -> None:
    """accepted + rejected == non-blank lines; chunking and the pyarrow path change nothing."""
    secret = SECRET if with_secret else None
    lines = [line.replace("\n", " ").replace("\r", " ") for line in lines]
    path = tmp_path / "mixed.jsonl"
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8", errors="surrogateescape")
    # blank = ASCII whitespace only (a line of U+00A0 is a record, and not JSON)
    records = sum(1 for line in lines if line.encode("utf-8", "surrogateescape").strip())
    events = sum(1 for line in lines if _KNOWN_EVENT.match(line))
    res = read_calls(path, secret=secret)
    assert len(res.calls) + len(res.rejects) + events == records == res.records
    assert sum(res.skipped.values()) == events
    small = read_calls(path, secret=secret, chunksize=chunksize)
    pd.testing.assert_frame_equal(small.calls, res.calls)
    pd.testing.assert_frame_equal(small.rejects, res.rejects)
    assert small.skipped == res.skipped
    with pytest.MonkeyPatch.context() as mp:  # pyarrow blocks down to 2 lines: bisection everywhere
        mp.setattr(call_reader, "_SMALL", 2)
        tiny = read_calls(path, secret=secret)
    pd.testing.assert_frame_equal(tiny.calls, res.calls)
    pd.testing.assert_frame_equal(tiny.rejects, res.rejects)
    assert tiny.skipped == res.skipped
    ref = reference_read(path, secret=secret)
    pd.testing.assert_frame_equal(ref.calls, res.calls)
    pd.testing.assert_frame_equal(ref.rejects, res.rejects)
    assert ref.skipped == res.skipped
    assert res.calls["call_id"].is_unique


def test_default_country_code_applies_to_national_numbers(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "a.jsonl", [json.dumps(payload(1, external_number="020 7946 0000"))])
    assert read_calls(path).rejects["kind"].tolist() == ["bad number"]  # 11 digits, not NANP
    path = write_lines(tmp_path / "b.jsonl", [json.dumps(payload(1, external_number="2079460000"))])
    assert read_calls(path, default_country_code="44").calls["external_number"].tolist() == ["+442079460000"]


def test_leeway_accepts_a_token_that_just_expired(tmp_path: Path) -> None:
    import time

    token = sign({**payload(1), "exp": int(time.time()) - 30})
    path = write_lines(tmp_path / "a.jwt", [token])
    assert read_calls(path, secret=SECRET).rejects["kind"].tolist() == ["expired JWT"]
    assert read_calls(path, secret=SECRET, leeway_s=3600).calls["call_id"].tolist() == [1]


@pytest.mark.parametrize("chunksize", [1, 2, 3, 1000])
def test_last_line_without_newline_is_read(tmp_path: Path, chunksize: int) -> None:
    path = tmp_path / "a.jsonl"
    path.write_text(json.dumps(payload(1)) + "\n\n" + json.dumps(payload(2)) + "\n" + sign(payload(3)))
    res = read_calls(path, secret=SECRET, chunksize=chunksize)
    assert res.calls["call_id"].tolist() == [1, 2, 3]
    assert res.calls["line"].tolist() == [1, 3, 4]
    assert res.records == 3


def test_only_wrapped_tokens_without_a_secret(tmp_path: Path) -> None:
    lines = [json.dumps({"token": sign(payload(i))}) for i in range(1, 4)]
    res = read_calls(write_lines(tmp_path / "a.jsonl", lines))
    assert res.calls.empty
    assert res.rejects["kind"].tolist() == ["no secret"] * 3
    assert res.rejects["raw"].tolist() == lines
