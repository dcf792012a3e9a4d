"""read_calls on hostile and damaged files (issue #9): no crash, nothing read is lost,
accepted + rejected = records."""

from __future__ import annotations

import codecs
import gzip
import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dialpad_nb import read_calls
from dialpad_nb.core.signing import sign

SECRET = "s" * 40


def payload(i: int, **kw) -> dict:
    return {
        "date_started": 1_790_000_000_000 + i,
        "call_id": 1000 + i,
        "external_number": "+14155550123",
        "internal_number": "+14155550142",
    } | kw


def lines(n: int, start: int = 0) -> bytes:
    return "".join(json.dumps(payload(i)) + "\n" for i in range(start, start + n)).encode()


def balanced(res) -> None:
    assert len(res.calls) + len(res.rejects) == res.records


def test_a_deeply_nested_line_no_longer_kills_the_interpreter(tmp_path):
    """The issue's reproduction, in a child process: it exited with 139 (segfault in pyarrow)."""
    path = tmp_path / "d.jsonl"
    path.write_bytes(lines(3) + b'{"a":' * 20_000 + b"1" + b"}" * 20_000 + b"\n" + lines(2, start=3))
    code = (
        "import sys; from dialpad_nb import read_calls; r = read_calls(sys.argv[1]); "
        "print(len(r.calls), len(r.rejects), r.records, r.rejects['reason'].iloc[0])"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "5 1 6 line 4: not JSON: nested too deeply"


def test_deep_lines_among_many_take_the_reference_path(tmp_path):
    path = tmp_path / "many.jsonl"
    deep = b'[{"a":' * 3000 + b"1" + b"}]" * 3000 + b"\n"
    path.write_bytes(lines(5000) + deep + lines(5000, start=5000) + deep)
    res = read_calls(path)
    assert len(res.calls) == 10_000 and res.rejects["line"].tolist() == [5001, 10_002]
    balanced(res)


def test_a_truncated_gz_keeps_what_was_read_and_rejects_the_tail(tmp_path):
    data = gzip.compress(lines(5000))
    path = tmp_path / "calls.jsonl.gz"
    path.write_bytes(data[: len(data) * 2 // 3])
    res = read_calls(path)
    balanced(res)
    assert len(res.calls) > 3000 and res.calls["line"].tolist() == list(range(1, len(res.calls) + 1))
    (tail,) = res.rejects.itertuples()
    assert tail.kind == "truncated file" and tail.line == len(res.calls) + 1 and tail.source == str(path)
    assert "truncated" in tail.reason and tail.reason.startswith(f"line {tail.line}: cut off")


def test_a_gz_cut_in_its_trailer_keeps_every_record(tmp_path):
    path = tmp_path / "calls.jsonl.gz"
    path.write_bytes(gzip.compress(lines(100))[:-4])
    res = read_calls(path)
    assert len(res.calls) == 100 and res.rejects["line"].tolist() == [101]
    balanced(res)


def test_damaged_gz_data_and_concatenated_members(tmp_path):
    two = tmp_path / "two.jsonl.gz"
    two.write_bytes(gzip.compress(lines(10)) + gzip.compress(lines(10, start=10)))
    assert read_calls(two).calls["call_id"].tolist() == [1000 + i for i in range(20)]
    data = bytearray(gzip.compress(lines(2000)))
    data[len(data) // 2 : len(data) // 2 + 50] = b"\x00" * 50
    bad = tmp_path / "bad.jsonl.gz"
    bad.write_bytes(bytes(data))
    res = read_calls(bad)
    balanced(res)
    assert (
        res.rejects["kind"].iloc[-1] == "truncated file"
        and "damaged gzip data" in res.rejects["reason"].iloc[-1]
    )


def test_a_csv_short_or_long_row_is_one_reject(tmp_path):
    path = tmp_path / "calls.csv"
    path.write_text(
        "date_started,call_id,external_number,internal_number\n"
        "1790000000000,11,+14155550123,+14155550142\n"
        "1790000001000,12,+1415\n"
        "1790000002000,13,+14155550124,+14155550142,extra\n"
        "1790000003000,14,+14155550125,+14155550142\n"
        "1790000004000,abc,+14155550125,+14155550142\n"
    )
    res = read_calls(path)
    assert res.calls["call_id"].tolist() == [11, 14] and res.calls["line"].tolist() == [1, 4]
    assert res.rejects["line"].tolist() == [2, 3, 5]
    assert res.rejects["reason"].tolist()[:2] == [
        "line 2: a row of 3 fields where the header has 4",
        "line 3: a row of 5 fields where the header has 4",
    ]
    assert res.rejects["raw"].iloc[0] == "1790000001000,12,+1415"
    balanced(res)


CSV = (
    "date_started,call_id,external_number,internal_number,contact_type\r\n"
    "1790000000000,11,+14155550123,+14155550142,café\r\n"
    "1790000001000,12,(415) 555-0124,+14155550142,\r\n"
)


def _encoded(text: str, how: str) -> bytes:
    return {
        "utf-8": text.encode(),
        "utf-8-bom": codecs.BOM_UTF8 + text.encode(),
        "utf-16-bom": codecs.BOM_UTF16_LE + text.encode("utf-16-le"),
        "utf-16-be-bom": codecs.BOM_UTF16_BE + text.encode("utf-16-be"),
        "utf-16-no-bom": text.encode("utf-16-le"),
        "cp1252": text.encode("cp1252"),
        "gz-utf-16": gzip.compress(codecs.BOM_UTF16_LE + text.encode("utf-16-le")),
    }[how]


ENCODINGS = ["utf-8", "utf-8-bom", "utf-16-bom", "utf-16-be-bom", "utf-16-no-bom", "cp1252", "gz-utf-16"]


def test_windows_files_read_like_any_other(tmp_path):
    jsonl = "".join(
        json.dumps(payload(i, contact_type="café"), ensure_ascii=False) + "\r\n" for i in range(3)
    )
    for how in ENCODINGS:
        csv = tmp_path / f"{how}.csv"
        csv.write_bytes(_encoded(CSV, how))
        res = read_calls(csv)
        assert res.calls["call_id"].tolist() == [11, 12], how
        assert res.calls["contact_type"].tolist()[0] == "café", how
        assert len(res.rejects) == 0, (how, res.rejects["reason"].tolist())
        log = tmp_path / f"{how}.jsonl"
        log.write_bytes(_encoded(jsonl, how))
        res = read_calls(log)
        assert res.calls["call_id"].tolist() == [1000, 1001, 1002], (how, res.rejects["reason"].tolist())
        assert set(res.calls["contact_type"]) == {"café"}, how


def test_empty_and_unreadable_files_do_not_stop_the_others(tmp_path):
    (tmp_path / "a_empty.csv").write_bytes(b"")
    (tmp_path / "b_broken.parquet").write_bytes(b"PAR1 not parquet at all")
    (tmp_path / "c_empty.jsonl.gz").write_bytes(b"")
    (tmp_path / "d_good.jsonl").write_bytes(lines(3))
    res = read_calls(tmp_path)
    assert len(res.calls) == 3 and res.rejects["kind"].tolist() == ["unreadable file"]
    balanced(res)


def test_a_parquet_file_still_reads(tmp_path):
    pq.write_table(pa.Table.from_pylist([payload(i) for i in range(5)]), tmp_path / "a.parquet")
    assert len(read_calls(tmp_path / "a.parquet").calls) == 5


# --------------------------------------------------------------------------- property: hostile files

_GOOD_LINE = st.integers(0, 10**6).map(lambda i: json.dumps(payload(i)).encode())
_TOKEN_LINE = st.integers(0, 10**6).map(lambda i: sign(payload(i), SECRET).encode())
_LINE = st.one_of(
    _GOOD_LINE,
    _TOKEN_LINE,
    st.binary(max_size=60),
    st.text(max_size=40).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.builds(
        lambda n, open_, close: open_ * n + b"1" + close * n,
        st.integers(1, 30_000),
        st.sampled_from([b"[", b'{"a":']),
        st.just(b""),
    ),
    st.builds(lambda n: b'{"a":' * n + b"1" + b"}" * n, st.integers(200, 30_000)),
    st.builds(
        lambda d: json.dumps({**payload(1), **d}).encode(),
        st.dictionaries(
            st.sampled_from(["date_started", "call_id", "external_number", "contact_id", "v", "token"]),
            st.none()
            | st.integers()
            | st.floats()
            | st.text(max_size=8)
            | st.lists(st.integers(), max_size=2),
            max_size=3,
        ),
    ),
)


@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    body=st.lists(_LINE, min_size=0, max_size=40),
    sep=st.sampled_from([b"\n", b"\r\n"]),
    encoding=st.sampled_from(["utf-8", "utf-8-bom", "utf-16-bom", "cp1252-ish", "gzip", "gzip-truncated"]),
    cut=st.floats(0.05, 0.95),
    csv=st.booleans(),
)
def test_any_bytes_nesting_encoding_or_truncation_read_without_a_crash(
    tmp_path_factory, body, sep, encoding, cut, csv
):
    data = sep.join(body) + sep
    if csv:
        data = b"date_started,call_id,external_number,internal_number" + sep + data
    if encoding == "utf-8-bom":
        data = codecs.BOM_UTF8 + data
    elif encoding == "utf-16-bom":
        data = codecs.BOM_UTF16_LE + data.decode("utf-8", "replace").encode("utf-16-le", "replace")
    elif encoding == "cp1252-ish":
        data = data.replace(b"+1415", b"+1415\xe9")
    elif encoding == "gzip":
        data = gzip.compress(data)
    elif encoding == "gzip-truncated":
        data = gzip.compress(data)
        data = data[: max(1, int(len(data) * cut))]
    path = Path(tmp_path_factory.mktemp("hostile")) / ("calls.csv" if csv else "calls.jsonl")
    path.write_bytes(data)
    for secret in (None, SECRET):
        res = read_calls(path, secret=secret)
        balanced(res)
        assert res.rejects["line"].is_monotonic_increasing
        assert res.calls["line"].is_unique
        assert not res.rejects["reason"].isna().any()
        if secret:
            assert not res.rejects["raw"].str.contains(SECRET, regex=False).any()
