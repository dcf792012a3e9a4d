"""What the rules layer tells a person: matrix problems one per line, a target_name that
contradicts its target_id, what to pass when there is no baseline, and timezones that differ."""

from __future__ import annotations

import warnings

import pytest

from dialpad_nb.rules.comparison import compare
from dialpad_nb.rules.matrix import MatrixError, TargetNameWarning
from dialpad_nb.rules.ruleset import RuleSet, TimezoneMismatchWarning
from dialpad_nb.samples.company import all_targets
from tests.helpers_rules import AFTER_HOURS, SPANISH, SPANISH_LINE, TIER1, VIP, make_calls

HEAD = "rule,internal_number,hours,target_id,target_type,target_name\n"


def test_matrix_errors_are_listed_one_per_line_without_a_misleading_count():
    text = HEAD + "a,,25:00-26:00,x,callcenter,\nb,,,1,planet,\n"
    with pytest.raises(MatrixError) as info:
        RuleSet.from_text(text, timezone="UTC")
    lines = str(info.value).split("\n")
    assert lines[0] == "invalid routing matrix, 3 problems:"
    assert lines[1].startswith("  - row 1 (rule 'a'), column 'hours': cannot parse '25:00-26:00'")
    assert lines[2] == "  - row 1 (rule 'a'), column 'target_id': 'x' is not an integer id"
    assert lines[3].startswith("  - row 2 (rule 'b'), column 'target_type': 'planet' is not a target type")
    assert len(lines) == 4 and "more)" not in str(info.value)
    with pytest.raises(MatrixError) as one:
        RuleSet.from_text(HEAD + f"d,,,{TIER1[0]},planet,\n")
    assert str(one.value).startswith("invalid routing matrix, 1 problem:\n  - row 1 (rule 'd')")


def test_a_target_name_that_contradicts_the_directory_is_warned_about():
    text = (
        HEAD
        + f"vip,{SPANISH_LINE},,{AFTER_HOURS[0]},callcenter,VIP Desk\n"  # the id is After Hours'
        + f"spanish,+14155550199,,{SPANISH[0]},callcenter,spanish line\n"  # case does not matter
        + f"default,,,{TIER1[0]},callcenter,Support Tier 1\n"
    )
    with pytest.warns(TargetNameWarning) as caught:
        rules = RuleSet.from_text(text, directory=all_targets(), name="candidate")
    (message,) = [str(w.message) for w in caught]
    assert message == (
        f"candidate: row 1 (rule 'vip'): target_name says 'VIP Desk' but callcenter {AFTER_HOURS[0]} is "
        "'After Hours' in the directory; calls go to 'After Hours' (by target_id): fix the id or the name"
    )
    assert [w.rule for w in rules.warnings] == ["vip"]  # kept, and shown under the rule table
    assert rules.warnings[0].category is TargetNameWarning and rules.warnings[0].shadowed_by is None


def test_without_a_directory_two_names_for_one_target_are_warned_about():
    text = (
        HEAD
        + f"a,{SPANISH_LINE},,{VIP[0]},callcenter,VIP Desk\n"
        + f"b,+14155550199,,{VIP[0]},callcenter,Billing\n"
        + f"default,,,{TIER1[0]},callcenter,\n"
    )
    with pytest.warns(
        TargetNameWarning, match=r"row 2 \(rule 'b'\): target_name says 'Billing' but row 1 calls"
    ):
        RuleSet.from_text(text)
    with warnings.catch_warnings():
        warnings.simplefilter("error", TargetNameWarning)
        RuleSet.from_text(
            HEAD + f"default,,,{TIER1[0]},callcenter,whatever you like\n"
        )  # nothing to contradict


def _calls():
    return make_calls(
        [
            {  # 01:00 UTC (night) is 17:00 in San Francisco (day): the timezone decides this call
                "date_started": "2026-01-14T01:00:00Z",
                "external_number": "+1",
                "internal_number": SPANISH_LINE,
            },
            {
                "date_started": "2026-01-14T17:00:00Z",
                "external_number": "+1",
                "internal_number": SPANISH_LINE,
            },
        ]
    )


NIGHT = (
    HEAD
    + f"night,{SPANISH_LINE},18:00-08:00,{AFTER_HOURS[0]},callcenter,\ndefault,,,{SPANISH[0]},callcenter,\n"
)


def test_compare_without_a_baseline_says_what_to_pass():
    text = str(compare(_calls(), RuleSet.from_text(NIGHT, timezone="UTC", name="candidate")).summary)
    assert "nothing can be compared" not in text
    assert "none of the 2 calls has a baseline decision" in text
    assert (
        "pass baseline=<the current RuleSet, e.g. load_matrix('routing_current.csv', timezone=...)>" in text
    )
    assert "or read an endpoint kit log, whose records carry the decisions made" in text


def test_rule_sets_read_in_two_timezones_are_flagged():
    la = RuleSet.from_text(NIGHT, timezone="America/Los_Angeles", name="candidate")
    utc = RuleSet.from_text(NIGHT, timezone="UTC", name="current")
    with pytest.warns(
        TimezoneMismatchWarning, match="candidate reads hours/days in America/Los_Angeles but current in UTC"
    ):
        result = compare(_calls(), la, baseline=utc)
    assert result.summary.changed == 1  # the same rules: only the clock differs
    assert any("America/Los_Angeles but current in UTC" in n for n in result.summary.notes)
    assert "America/Los_Angeles but current in UTC" in result._repr_html_()
    with warnings.catch_warnings():
        warnings.simplefilter("error", TimezoneMismatchWarning)
        assert compare(_calls(), la, baseline=la).summary.notes == ()


def test_hours_read_in_utc_for_want_of_a_timezone_are_noted_in_the_result():
    with pytest.warns(UserWarning, match="read in UTC because no timezone was given"):
        implicit = RuleSet.from_text(NIGHT, name="candidate")
    assert implicit.implicit_utc and implicit.with_enrichment(None).implicit_utc
    result = compare(_calls(), implicit)
    assert result.summary.notes[0].startswith(
        "candidate: hours/days rules are read in UTC because no timezone"
    )
    assert result.summary.headline()["hours and days read in"] == "UTC"


def test_the_per_target_table_reads_plainly():
    la = RuleSet.from_text(NIGHT, timezone="America/Los_Angeles", name="candidate", directory=all_targets())
    table = compare(_calls(), la, baseline=la).summary.per_target_display()
    assert list(table.columns[:3]) == ["type", "calls (baseline)", "calls (candidate)"]
    assert "nan" not in table.to_string().lower() and "True" not in table.to_string()
