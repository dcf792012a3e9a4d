"""The streamed replay's per-chunk counting (tally_chunk) equals the reference (partial_of, which
runs compare on the chunk), and a dataset read lean (scan_source) holds what read_source holds.

Hypothesis: random matrices on both sides (with a CRM join, a Python rule sometimes), a logged
baseline with gaps, a directory where two targets share a name, calls over DST changes, and the
calls given as read_calls types them or as the lean reader gives them (text columns coded).
"""

from __future__ import annotations

import io
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dialpad_nb.calls.columns import CALL_DTYPES
from dialpad_nb.calls.dataset import add_calls, dataset_parts, read_source
from dialpad_nb.calls.dataset_scan import scan_source
from dialpad_nb.core.errors import ValidationError
from dialpad_nb.rules.chunk_tally import CODED_COLUMNS, columns_needed, tally_chunk
from dialpad_nb.rules.enrich import Enrichment
from dialpad_nb.rules.ruleset import RuleSet
from dialpad_nb.rules.streamed import Partial, partial_of
from tests.helpers_rules import AFTER_HOURS, INBOUND_SALES, SALES, SPANISH, SUPPORT, TIER1, VIP, make_calls

INTERNAL = ["+14155550100", "+14155550111", "+16285550123"]
EXTERNAL = ["+14155551234", "+442071234567", "+12065550000", "+14155550199"]
CONTACT_TYPES = [None, "shared", "local"]
TARGETS = [SALES, SUPPORT, INBOUND_SALES, TIER1, VIP, AFTER_HOURS, SPANISH]
ZONES = ["America/Los_Angeles", "Europe/London", "Asia/Kolkata", "UTC"]
ANCHORS_MS = [1772964000000, 1793437200000, 1768204800000]  # 2026-03-08 10:00Z, 2026-11-01 09:00Z, 2026-01-12
CRM = Enrichment.from_csv(io.StringIO("phone,segment\n+1 415 555 1234,enterprise\n+1 206 555 0000,smb\n"))
# two targets share a name: which keeps the plain name is decided by first appearance
DIRECTORY = [
    {"id": SALES[0], "type": SALES[1], "name": "Sales"},
    {"id": SUPPORT[0], "type": SUPPORT[1], "name": "Sales"},
    {"id": VIP[0], "type": VIP[1], "name": "VIP Desk"},
]


@st.composite
def matrix(draw) -> RuleSet:
    lines = ["rule,internal_number,contact_type,crm.segment,hours,days,target_id,target_type"]
    for i in range(draw(st.integers(1, 5))):
        internal = draw(st.sampled_from(["", *INTERNAL, "!" + INTERNAL[0], "null"]))
        ctype = draw(st.sampled_from(["", "shared", "null", "!null"]))
        seg = draw(st.sampled_from(["", "", "enterprise", "null"]))
        hours = draw(st.sampled_from(["", "", "08:00-18:00", "18:00-08:00", "00:30-01:30"]))
        days = draw(st.sampled_from(["", "", "mon-fri", "sat|sun"]))
        tid, ttype = draw(st.sampled_from(TARGETS))
        lines.append(f"r{i},{internal},{ctype},{seg},{hours},{days},{tid},{ttype}")
    tid, ttype = draw(st.sampled_from(TARGETS))
    lines.append(f"default,,,,,,{tid},{ttype}")
    rs = RuleSet.from_text(
        "\n".join(lines) + "\n",
        timezone=draw(st.sampled_from(ZONES)),
        warn=False,
        name=draw(st.text("ab", min_size=1, max_size=3)),
    ).with_enrichment(CRM)
    if draw(st.integers(0, 4)) == 0:
        target = draw(st.sampled_from(TARGETS))
        rs = rs.with_rule(lambda call, t=target: t if call["call_id"] % 3 == 0 else None, name="every_third")
    return rs


@st.composite
def calls_frame(draw) -> pd.DataFrame:
    rows = []
    for i in range(draw(st.integers(0, 40))):
        ms = (
            draw(st.sampled_from(ANCHORS_MS))
            + draw(st.integers(-30, 30)) * 1_800_000
            + draw(st.sampled_from([0, 1, 59_999]))
        )
        logged = draw(st.one_of(st.none(), st.sampled_from(TARGETS)))
        rows.append(
            {
                "date_started": ms,
                "call_id": 10_000 + i,
                "external_number": draw(st.sampled_from(EXTERNAL)),
                "internal_number": draw(st.sampled_from(INTERNAL)),
                "contact_type": draw(st.sampled_from(CONTACT_TYPES)),
                "logged": logged,
                "logged_rule": draw(st.sampled_from([None, "r0", "default"])) if logged else None,
            }
        )
    return make_calls(rows)


def coded(calls: pd.DataFrame) -> pd.DataFrame:
    """The calls as the lean reader gives them: text columns of few values as categoricals."""
    return calls.assign(**{c: calls[c].astype("category") for c in CODED_COLUMNS if c in calls.columns})


def assert_same_partial(a: Partial, b: Partial) -> None:
    for side in ("before", "after"):
        assert list(a.labels[side].items()) == list(b.labels[side].items()), side  # order counts
        assert a.hours[side] == b.hours[side], side
    assert list(a.hits.items()) == list(b.hits.items())
    assert list(a.base_hits.items()) == list(b.base_hits.items())
    assert a == b


def read_changes(folder: Path) -> list[pd.DataFrame]:
    return [pd.read_parquet(p) for p in sorted(folder.glob("part-*.parquet"))]


SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.filterwarnings("ignore::dialpad_nb.rules.ruleset.TimezoneMismatchWarning")
@SETTINGS
@given(calls=calls_frame(), candidate=matrix(), data=st.data())
def test_tally_equals_compare_on_the_chunk(calls, candidate, data):
    baseline = data.draw(st.one_of(matrix(), st.just("logged")))
    directory = data.draw(st.sampled_from([None, DIRECTORY]))
    timezone = data.draw(st.sampled_from([None, "Asia/Kolkata"]))
    default = data.draw(st.sampled_from([None, SALES]))
    lean = data.draw(st.booleans())
    kw = {"directory": directory, "timezone": timezone, "default": default}
    with tempfile.TemporaryDirectory() as tmp:
        want = partial_of(calls, candidate, baseline, changes_to=Path(tmp) / "ref", part=3, **kw)
        given_calls = coded(calls) if lean else calls
        got = tally_chunk(given_calls, candidate, baseline, changes_to=Path(tmp) / "fast", part=3, **kw)
        assert_same_partial(got, want)
        ref, fast = read_changes(Path(tmp) / "ref"), read_changes(Path(tmp) / "fast")
        assert len(ref) == len(fast) == 1
        pd.testing.assert_frame_equal(fast[0], ref[0])
        assert (Path(tmp) / "fast" / "part-00003.parquet").exists()


def test_tally_fails_as_compare_fails():
    calls = make_calls(
        [{"date_started": ANCHORS_MS[0], "external_number": EXTERNAL[0], "internal_number": INTERNAL[0]}]
    )
    rules = RuleSet.from_text(f"rule,target_id,target_type\ndefault,{SALES[0]},{SALES[1]}\n")
    cases = [((calls, rules, "kept"), {}), ((calls, rules, rules), {"timezone": "Nowhere/Land"})]
    for args, kw in cases:
        with pytest.raises(ValidationError) as ref:
            partial_of(*args, **kw)
        with pytest.raises(ValidationError) as fast:
            tally_chunk(*args, **kw)
        assert str(fast.value) == str(ref.value)


def test_columns_needed_names_what_the_rules_read():
    rules = RuleSet.from_text(
        f"rule,internal_number,crm.segment,hours,target_id,target_type\n"
        f"a,+14155550100,enterprise,08:00-18:00,{SALES[0]},{SALES[1]}\ndefault,,,,{VIP[0]},{VIP[1]}\n",
        warn=False,
    ).with_enrichment(CRM)
    assert columns_needed(rules, "logged") == [
        "call_id",
        "date_started",
        "external_number",  # crm.segment: the CRM is joined on the caller's number
        "internal_number",
        "logged_target_id",
        "logged_target_type",
        "logged_rule",
    ]
    assert (
        columns_needed(rules.with_rule(lambda call: None, name="py"), rules) is None
    )  # a Python rule reads any
    assert columns_needed(rules, pd.DataFrame()) is None


@pytest.fixture(scope="module")
def small_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two sources whose rows are not in day order (a source's days are put back in line order),
    with 16-digit ids above 2**53 in columns with gaps."""
    ds = tmp_path_factory.mktemp("scan") / "ds"
    rng = np.random.default_rng(5)
    for k in range(2):
        n = 300
        when = ANCHORS_MS[0] + rng.integers(-3 * 86_400_000, 3 * 86_400_000, size=n)
        big = [9_999_999_999_999_999 - 2 * i if i % 3 else None for i in range(n)]  # odd: not a float64
        calls = make_calls(
            [
                {
                    "date_started": int(w),
                    "call_id": k * 1000 + i,
                    "external_number": EXTERNAL[i % 4],
                    "internal_number": INTERNAL[i % 3],
                    "contact_type": CONTACT_TYPES[i % 3],
                    "logged": (big[i], "callcenter") if big[i] else None,
                }
                for i, w in enumerate(when)
            ]
        )
        calls["router_id"] = pd.array([big[i] if i % 2 else 7 for i in range(n)], dtype="Int64")
        calls["request_note"] = pd.array([None] * n, dtype="string")
        add_calls(ds, calls[list(CALL_DTYPES)], source=f"src-{k}")
    return ds


@pytest.mark.parametrize(
    "filters", [{}, {"lo": ANCHORS_MS[0] - 86_400_000, "hi": ANCHORS_MS[0] + 3_600_000, "router_id": 7}]
)
def test_scan_holds_what_read_source_holds(small_dataset, filters):
    for entry in dataset_parts(small_dataset):
        assert len(entry[1]) > 2
        full = read_source(entry, **filters).calls
        assert len(full) > 10
        assert (full["logged_target_id"].dropna() % 2 == 1).all()  # all odd: exact, not through float64
        cols = ["date_started", "call_id", "internal_number", "contact_type", "logged_target_id", "router_id"]
        lean, bad = scan_source(entry, cols, coded=["internal_number", "contact_type"], **filters)
        assert bad == []
        assert list(lean.columns) == [*cols, "line"]
        assert isinstance(lean["internal_number"].dtype, pd.CategoricalDtype)
        want = full[[*cols, "line"]].reset_index(drop=True)
        got = lean.assign(
            **{c: lean[c].astype(object).astype("string") for c in ("internal_number", "contact_type")}
        )
        pd.testing.assert_frame_equal(got, want)


def test_scan_skips_a_damaged_part_whole(small_dataset, tmp_path):
    ds = tmp_path / "ds"
    shutil.copytree(small_dataset, ds)
    entry = dataset_parts(ds)[0]
    Path(entry[1][1]).write_bytes(Path(entry[1][1]).read_bytes()[:100])  # truncated
    lean, bad = scan_source(entry, ["call_id"])
    assert bad == [entry[1][1]]
    whole = read_source(entry).calls
    assert lean["call_id"].tolist() == whole["call_id"].tolist() and 0 < len(lean) < 300
    with pytest.raises(ValidationError, match="not a column"):
        scan_source(entry, ["call_id", "nope"])


def test_hours_counted_either_way(monkeypatch):
    """Many (name, hour) cells are counted with np.unique instead of np.bincount: the same counts."""
    from dialpad_nb.rules import chunk_tally

    rows = [
        {"date_started": ANCHORS_MS[k % 3] + k * 1_234_567, "external_number": EXTERNAL[k % 4],
         "internal_number": INTERNAL[k % 3], "contact_type": CONTACT_TYPES[k % 3]}
        for k in range(200)
    ]  # fmt: skip
    calls = make_calls(rows)
    rules = RuleSet.from_text(
        f"rule,internal_number,hours,target_id,target_type\n"
        f"a,{INTERNAL[0]},08:00-18:00,{SALES[0]},{SALES[1]}\nb,{INTERNAL[1]},,{VIP[0]},{VIP[1]}\n"
        f"default,,,{TIER1[0]},{TIER1[1]}\n",
        timezone="America/Los_Angeles",
    )
    want = partial_of(calls, rules, rules.with_rule(lambda c: None, name="none"))
    by_bincount = tally_chunk(calls, rules, rules.with_rule(lambda c: None, name="none"))
    monkeypatch.setattr(chunk_tally, "_BINCOUNT_MAX", 0)
    by_unique = tally_chunk(calls, rules, rules.with_rule(lambda c: None, name="none"))
    assert sum(want.hours["after"].values()) == 200 and len(want.hours["after"]) > 50
    assert_same_partial(by_bincount, want)
    assert_same_partial(by_unique, want)
