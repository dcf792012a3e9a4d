"""Replay and compare: logged or rule-set baselines, changes, defaults, volume, peaks vs capacity, rule hits."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from dialpad_nb.core.errors import ValidationError
from dialpad_nb.rules.comparison import compare, load_capacity, logged_decisions, replay
from dialpad_nb.rules.matrix import MatrixError
from dialpad_nb.rules.ruleset import RuleSet
from dialpad_nb.samples import all_targets
from tests.helpers_rules import AFTER_HOURS, INBOUND_SALES, SALES, SPANISH, SPANISH_LINE, TIER1, make_calls

CANDIDATE = f"""rule,internal_number,hours,target_id,target_type
spanish_night,{SPANISH_LINE},18:00-08:00,{AFTER_HOURS[0]},callcenter
spanish,{SPANISH_LINE},,{SPANISH[0]},callcenter
unused,+19995550100,,{SALES[0]},department
default,,,{TIER1[0]},callcenter
"""
CURRENT = f"""rule,internal_number,target_id,target_type
spanish,{SPANISH_LINE},{SPANISH[0]},callcenter
default,,{TIER1[0]},callcenter
"""
# 17:00Z = 09:00 in San Francisco; 03:00Z = 19:00 the evening before
DAY, NIGHT = "2026-01-14T17:00:00Z", "2026-01-14T03:00:00Z"


@pytest.fixture
def calls() -> pd.DataFrame:
    return make_calls(
        [
            # logged as the current rules would route it; the candidate moves it to After Hours
            {
                "date_started": NIGHT,
                "external_number": "+1",
                "internal_number": SPANISH_LINE,
                "logged": SPANISH,
            },
            {
                "date_started": DAY,
                "external_number": "+1",
                "internal_number": SPANISH_LINE,
                "logged": SPANISH,
            },
            {
                "date_started": DAY,
                "external_number": "+1",
                "internal_number": "+14155550100",
                "logged": TIER1,
            },
            # same hour as the first: two After Hours calls in that clock hour under the candidate
            {
                "date_started": "2026-01-14T03:30:00Z",
                "external_number": "+1",
                "internal_number": SPANISH_LINE,
                "logged": SPANISH,
            },
            # not logged: no baseline decision
            {"date_started": DAY, "external_number": "+1", "internal_number": "+14155550100"},
        ]
    )


@pytest.fixture
def candidate() -> RuleSet:
    return RuleSet.from_text(
        CANDIDATE, timezone="America/Los_Angeles", name="candidate", directory=all_targets()
    )


def test_replay_adds_decisions_to_call_ids(calls, candidate):
    out = replay(calls, candidate)
    assert list(out.columns) == ["call_id", "date_started", "target_id", "target_type", "rule", "is_default"]
    assert out["rule"].tolist() == ["spanish_night", "spanish", "default", "spanish_night", "default"]


def test_logged_decisions_mark_missing_and_default(calls):
    logged = logged_decisions(calls, default=TIER1)
    assert logged["target_id"].isna().tolist() == [False, False, False, False, True]
    assert logged["is_default"].tolist() == [False, False, True, False, pd.NA]
    # where the log names the rule, that decides; elsewhere the target does
    named = calls.assign(logged_rule=pd.array(["default", None, "fallback", None, None], dtype="string"))
    assert logged_decisions(named, default=TIER1, default_rule="fallback")["is_default"].tolist() == [
        False,
        False,
        True,
        False,
        pd.NA,
    ]
    with pytest.raises(ValidationError, match="no logged decisions"):
        logged_decisions(calls.drop(columns=["logged_target_id"]))


def test_compare_against_the_log(calls, candidate):
    result = compare(calls, candidate)
    s = result.summary
    assert (s.calls, s.with_baseline, s.no_baseline, s.changed) == (5, 4, 1, 2)
    assert s.default_share_before == pytest.approx(1 / 4)
    assert s.default_share_after == pytest.approx(2 / 5)
    assert result.changes["call_id"].tolist() == [calls["call_id"][0], calls["call_id"][3]]
    assert result.changes[["before_name", "after_name"]].astype(str).drop_duplicates().values.tolist() == [
        ["Spanish Line", "After Hours"]
    ]
    # the unlogged call is shown, not dropped, and never counts as changed
    assert result.no_baseline["call_id"].tolist() == [calls["call_id"][4]]
    assert not result.no_baseline["changed"].any()


def test_compare_against_another_rule_set(calls, candidate):
    current = RuleSet.from_text(CURRENT, name="current")
    result = compare(calls, candidate, baseline=current)
    assert (result.summary.with_baseline, result.summary.changed) == (5, 2)
    assert result.baseline_rule_hits.set_index("rule")["calls"].to_dict() == {"spanish": 3, "default": 2}
    assert "candidate vs current" in repr(result)


def test_rule_hits_and_never_hit(calls, candidate):
    result = compare(calls, candidate)
    assert result.rule_hits.set_index("rule")["calls"].to_dict() == {
        "spanish_night": 2,
        "spanish": 1,
        "unused": 0,
        "default": 2,
    }
    assert result.never_hit == ["unused"]
    # shares read as percents (2 of 5 calls = 40.0), rounded to 0.1
    assert result.rule_hits.set_index("rule")["share_pct"].to_dict() == {
        "spanish_night": 40.0,
        "spanish": 20.0,
        "unused": 0.0,
        "default": 40.0,
    }
    assert "share" not in result.rule_hits.columns


def test_rule_hit_percents_are_rounded_to_a_tenth(calls):
    thirds = RuleSet.from_text(
        f"rule,internal_number,target_id,target_type\nspanish,{SPANISH_LINE},{SPANISH[0]},callcenter\n"
        f"default,,{TIER1[0]},callcenter\n"
    )
    hits = compare(calls.iloc[:3], thirds).rule_hits.set_index("rule")["share_pct"]
    assert hits.to_dict() == {"spanish": 66.7, "default": 33.3}


def test_changes_show_the_rule_sets_local_time(calls, candidate):
    result = compare(calls, candidate)
    changes = result.changes
    assert list(changes.columns[:3]) == ["call_id", "date_started", "date_started_local"]
    # 03:00Z is 19:00 the evening before in San Francisco: why 'spanish_night' (18:00-08:00) fired
    assert str(changes["date_started_local"].iloc[0]) == "2026-01-13 19:00:00-08:00"
    assert (changes["date_started_local"] == changes["date_started"]).all()  # same instants
    utc = compare(calls, candidate, timezone="UTC").decisions
    assert str(utc["date_started_local"].iloc[1]) == "2026-01-14 17:00:00+00:00"
    with pytest.raises(ValidationError, match="Mars/Olympus"):
        compare(calls, candidate, timezone="Mars/Olympus")


def test_volume_per_target_by_name(calls, candidate):
    volume = compare(calls, candidate).volume
    assert volume.loc["After Hours", ["before", "after", "change"]].tolist() == [0, 2, 2]
    assert volume.loc["Spanish Line", ["before", "after", "change"]].tolist() == [3, 1, -2]
    assert volume.loc["Support Tier 1", ["before", "after"]].tolist() == [1, 2]
    assert volume["before"].sum() == 4 and volume["after"].sum() == 5


def test_peaks_against_capacity(calls, candidate):
    capacity = pd.DataFrame(
        {
            "target_id": [str(AFTER_HOURS[0]), str(SPANISH[0])],
            "target_type": ["callcenter", "callcenter"],
            "max_calls_per_hour": ["1", "5"],
        }
    )
    result = compare(calls, candidate, capacity=capacity)
    peaks = result.peaks
    assert peaks.loc["After Hours", ["peak_before", "peak_after", "capacity"]].tolist() == [0, 2, 1]
    assert bool(peaks.loc["After Hours", "over_after"]) and not bool(peaks.loc["After Hours", "over_before"])
    assert peaks.loc["Spanish Line", "peak_before"] == 2  # the two night calls share a clock hour
    assert pd.isna(peaks.loc["Support Tier 1", "capacity"])
    assert result.summary.over_capacity == ["After Hours"]


def test_flows_count_changed_calls(calls, candidate):
    flows = compare(calls, candidate).flows
    assert flows.values.tolist() == [["Spanish Line", "After Hours", 2]]


def test_unknown_targets_are_labelled_by_type_and_id(calls):
    rs = RuleSet.from_text("rule,target_id,target_type\ndefault,42,user\n")
    volume = compare(calls, rs, directory=all_targets()).volume
    assert volume.index.tolist() == ["user 42", "Spanish Line", "Support Tier 1"]


def test_without_a_directory_targets_show_as_type_and_id(calls):
    # analytics never assume the sample company: nobody named these targets
    rs = RuleSet.from_text(CANDIDATE, timezone="America/Los_Angeles")
    volume = compare(calls, rs).volume
    assert sorted(volume.index) == sorted(f"callcenter {t[0]}" for t in (AFTER_HOURS, SPANISH, TIER1))


def test_summary_renders_html_and_text(calls, candidate):
    result = compare(calls, candidate)
    html = result._repr_html_()
    assert "calls whose target changes" in html and "2 (50.0%)" in html
    assert "without a baseline decision</th><td style='text-align:left'>1<" in html
    assert "unused" in html
    assert str(result.summary).startswith("candidate vs logged decisions: 2 of 4 calls change target (50.0%)")


def test_decision_frames_are_accepted_as_baseline_and_candidate(calls, candidate):
    before = replay(calls, RuleSet.from_text(CURRENT))
    after = replay(calls, candidate)
    result = compare(calls, after, baseline=before)
    assert result.summary.changed == 2
    with pytest.raises(ValidationError, match="for each of the 5 calls"):
        compare(calls, after.iloc[:2], baseline=before)


def test_bad_baseline_name(calls, candidate):
    with pytest.raises(ValidationError, match="'current': use 'logged'"):
        compare(calls, candidate, baseline="current")


def test_capacity_errors_name_row_and_column():
    bad = pd.DataFrame(
        {"target_id": ["1", "x"], "target_type": ["callcenter", "team"], "max_calls_per_hour": ["ten", "3"]}
    )
    with pytest.raises(MatrixError) as info:
        load_capacity(bad)
    assert [(p.row, p.column) for p in info.value.problems] == [
        (1, "max_calls_per_hour"),
        (2, "target_id"),
        (2, "target_type"),
    ]
    with pytest.raises(MatrixError, match="column 'max_calls_per_hour': column is missing"):
        load_capacity(pd.DataFrame({"target_id": [], "target_type": []}))


def test_sample_capacity_table_loads():
    table = load_capacity(Path(__file__).parents[1] / "data" / "capacity.csv")
    assert table["max_calls_per_hour"].dtype == "int64"
    assert (int(INBOUND_SALES[0]), "callcenter") in set(
        zip(table["target_id"], table["target_type"], strict=True)
    )


def test_no_baseline_at_all_is_said_plainly(calls, candidate):
    unlogged = calls.assign(logged_target_id=pd.array([None] * len(calls), dtype="Int64"))
    summary = compare(unlogged, candidate).summary
    assert (summary.with_baseline, summary.no_baseline, summary.changed) == (0, 5, 0)
    assert summary.default_share_before is None
    assert str(summary).startswith(
        "candidate vs logged decisions: none of the 5 calls has a baseline decision"
    )


def test_sample_matrices_against_the_sample_month():
    """What data/ROUTING_MATRIX.md says the sample candidate does to the sample month."""
    from dialpad_nb.calls.read import read_calls
    from dialpad_nb.rules.enrich import Enrichment
    from dialpad_nb.rules.matrix import ShadowedRuleWarning
    from dialpad_nb.rules.ruleset import load_matrix
    from dialpad_nb.samples import generate as datagen
    from dialpad_nb.samples.company import all_targets

    data = Path(__file__).parents[1] / "data"
    calls, _ = read_calls(data / "calls_2026-10.jsonl.gz", secret=datagen.SAMPLE_SECRET)
    crm = Enrichment.from_csv(data / "crm_contacts.csv")
    kw = {"timezone": "America/Los_Angeles", "directory": all_targets()}
    with pytest.warns(
        ShadowedRuleWarning, match=r"\(rule 'support_priority'\) is shadowed by rule 'support_known'"
    ):
        current = load_matrix(data / "routing_current.csv", **kw).with_enrichment(crm)
    candidate = load_matrix(data / "routing_candidate.csv", **kw).with_enrichment(crm)
    assert candidate.warnings == ()
    result = compare(calls, candidate, baseline=current, capacity=data / "capacity.csv")
    assert (result.summary.calls, result.summary.changed) == (24_000, 3_115)
    assert result.summary.over_capacity == ["Inbound Sales", "VIP Desk"]
    assert result.peaks.loc[["Inbound Sales", "VIP Desk"], "peak_after"].tolist() == [85, 9]
    assert result.never_hit == []
    hits = result.baseline_rule_hits
    assert hits.loc[hits["calls"] == 0, "rule"].tolist() == ["old_promo", "support_priority"]
    assert {"VIP Desk", "After Hours", "Inbound Sales", "Sales"} <= set(result.flows["to"])
