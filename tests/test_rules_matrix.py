"""Routing-matrix syntax, validation errors naming row and column, shadow warnings."""

from __future__ import annotations

import warnings

import pandas as pd
import pytest

from dialpad_nb.core.errors import ValidationError
from dialpad_nb.rules.conditions import ConditionSyntaxError, parse_condition
from dialpad_nb.rules.matrix import MatrixError, ShadowedRuleWarning
from dialpad_nb.rules.ruleset import RuleSet, load_matrix
from dialpad_nb.samples.company import all_targets
from tests.helpers_rules import AFTER_HOURS, SALES, SPANISH, SUPPORT, TIER1, VIP

HEADER = "rule,internal_number,crm.segment,hours,days,tz,target_id,target_type\n"


def matrix(*rows: str, **kw) -> RuleSet:
    kw.setdefault("warn", False)
    return RuleSet.from_text(HEADER + "\n".join(rows) + "\n", **kw)


def row(name="r", internal="", segment="", hours="", days="", tz="", target=SUPPORT) -> str:
    return f"{name},{internal},{segment},{hours},{days},{tz},{target[0]},{target[1]}"


DEFAULT = row("default", target=TIER1)


# --------------------------------------------------------------------------- cell syntax


@pytest.mark.parametrize(
    ("cell", "op", "values", "negate"),
    [
        ("enterprise", "eq", ("enterprise",), False),
        ("=a:b", "eq", ("a:b",), False),
        ("in:gold| silver", "in", ("gold", "silver"), False),
        ("prefix:x|y", "prefix", ("x", "y"), False),
        ("!in:a|b", "in", ("a", "b"), True),
        ("null", "null", (), False),
        ("!null", "null", (), True),
        ("=null", "eq", ("null",), False),
    ],
)
def test_field_cells_parse(cell, op, values, negate):
    cond = parse_condition("crm.segment", cell)
    assert (cond.op, cond.values, cond.negate) == (op, values, negate)


def test_empty_cell_is_any():
    assert parse_condition("crm.segment", "  ") is None


def test_phone_equality_is_normalised_to_e164():
    cond = parse_condition("internal_number", "in:(415) 555-0111|+1 628 555 0123")
    assert cond.values == ("+14155550111", "+16285550123")


@pytest.mark.parametrize(
    ("field", "cell", "fragment"),
    [
        ("crm.segment", "rx:foo", "unknown operator 'rx:'"),
        ("crm.segment", "in:", "in: needs values"),
        ("crm.segment", "in:a||b", "in: needs values"),
        ("crm.segment", "re:(", "invalid regular expression"),
        ("crm.segment", "!", "'!' must be followed"),
        ("internal_number", "=call me", "not a phone number"),
        ("internal_number", "prefix:+1-415", "must be digits"),
        ("internal_number", "prefix:+1\u0664\u0661\u0665", "must be digits"),  # Arabic-Indic digits
        ("hours", "9-17", "must be HH:MM"),
        ("hours", "09:00-09:00", "is empty"),
        ("hours", "25:00-26:00", "not between 00:00 and 24:00"),
        ("hours", "09:00", "must look like 09:00-17:30"),
        ("days", "mon-funday", "must be day names"),
    ],
)
def test_bad_cells_say_why(field, cell, fragment):
    with pytest.raises(ConditionSyntaxError, match=fragment):
        parse_condition(field, cell)


def test_hours_cross_midnight_and_are_half_open():
    cond = parse_condition("hours", "18:00-08:00", tz="UTC")
    assert [cond._test_time(m, 0) for m in (17 * 60 + 59, 18 * 60, 23 * 60 + 59, 0, 7 * 60 + 59, 8 * 60)] == [
        False,
        True,
        True,
        True,
        True,
        False,
    ]


def test_hours_window_may_end_at_24_00():
    cond = parse_condition("hours", "hours:20:00-24:00")
    assert cond.values == ((1200, 1440),)
    assert cond._test_time(1439, 0) and not cond._test_time(0, 0)


@pytest.mark.parametrize(
    ("cell", "days"),
    [
        ("mon-fri", (0, 1, 2, 3, 4)),
        ("fri-mon", (0, 4, 5, 6)),
        ("sat|sun", (5, 6)),
        ("Weekend", (5, 6)),
        ("weekdays", (0, 1, 2, 3, 4)),
        ("days:tuesday", (1,)),
    ],
)
def test_days(cell, days):
    assert parse_condition("days", cell).values == days


def test_time_is_local_to_the_rows_timezone():
    rs = matrix(row("sf_evening", hours="18:00-20:00", tz="America/Los_Angeles", target=AFTER_HOURS), DEFAULT)
    # 2026-01-13T02:30Z is 18:30 in San Francisco (PST, UTC-8)
    assert rs.decide(_call("2026-01-13T02:30:00Z")).rule == "sf_evening"
    assert rs.decide(_call("2026-01-13T18:30:00Z")).rule == "default"


def test_matrix_timezone_applies_when_the_row_has_none():
    rs = matrix(
        row("evening", hours="18:00-20:00", target=AFTER_HOURS), DEFAULT, timezone="America/Los_Angeles"
    )
    assert rs.decide(_call("2026-01-13T02:30:00Z")).rule == "evening"


def test_days_use_the_local_weekday_after_midnight():
    # Friday 23:30 in San Francisco is already Saturday 07:30 in UTC
    rs = matrix(row("fri_night", days="fri", tz="America/Los_Angeles", target=AFTER_HOURS), DEFAULT)
    assert rs.decide(_call("2026-01-17T07:30:00Z")).rule == "fri_night"
    assert rs.decide(_call("2026-01-17T08:30:00Z")).rule == "default"


def _call(when: str, internal: str = "+14155550100", **extra) -> dict:
    return {
        "date_started": pd.Timestamp(when),
        "call_id": 1,
        "external_number": "+14155551234",
        "internal_number": internal,
        **extra,
    }


# --------------------------------------------------------------------------- validation


def test_unknown_target_type_names_row_and_column():
    with pytest.raises(MatrixError) as info:
        matrix(row("a"), row("b", target=(SALES[0], "team")), DEFAULT)
    err = info.value
    assert (err.row, err.column) == (2, "target_type")
    assert "row 2 (rule 'b'), column 'target_type'" in str(err)
    assert "'team' is not a target type" in str(err)
    assert isinstance(err, ValidationError)


def test_unparsable_condition_names_row_and_column():
    with pytest.raises(MatrixError) as info:
        matrix(row("a"), row("b"), row("c", hours="9am-5pm"), DEFAULT)
    assert (info.value.row, info.value.column) == (3, "hours")
    assert "cannot parse '9am-5pm'" in str(info.value)


def test_missing_required_column_is_named():
    with pytest.raises(MatrixError, match="column 'target_type': column is missing"):
        RuleSet.from_text("rule,target_id\ndefault,1\n")


def test_unknown_field_column_is_named():
    with pytest.raises(MatrixError) as info:
        RuleSet.from_text("rule,caller_name,target_id,target_type\ndefault,,1,department\n")
    assert info.value.column == "caller_name"
    assert "unknown field" in str(info.value)


def test_extra_fields_may_be_declared():
    rs = RuleSet.from_text(
        "rule,region,target_id,target_type\nwest,=west,1,department\ndefault,,2,department\n",
        fields=["region"],
    )
    assert rs.fields == {"region"}


def test_every_problem_is_listed_at_once():
    with pytest.raises(MatrixError) as info:
        matrix(
            row("a", internal="=nope"),
            row("b", target=(0, "callcenter")),
            row("c", tz="Mars/Olympus"),
            DEFAULT,
        )
    where = [(p.row, p.column) for p in info.value.problems]
    assert where == [(1, "internal_number"), (2, "target_id"), (3, "tz")]


def test_duplicate_rule_names_are_rejected():
    with pytest.raises(MatrixError, match=r"row 2 \(rule 'a'\), column 'rule': duplicate rule name"):
        matrix(row("a", segment="x"), row("a", segment="y"), DEFAULT)


def test_no_default_is_an_error_unless_given():
    with pytest.raises(MatrixError, match="no default"):
        matrix(row("a", segment="x"))
    rs = matrix(row("a", segment="x"), default=VIP)
    assert (rs.default.target_id, rs.default.target_type, rs.default.name) == (
        VIP[0],
        "callcenter",
        "default",
    )


def test_last_unconditional_row_is_the_default():
    rs = matrix(row("vip", segment="enterprise", target=VIP), row("fallback", target=TIER1))
    assert rs.rule_names == ["vip", "fallback"]
    assert rs.default.name == "fallback" and len(rs.rules) == 1


def test_target_ids_checked_against_a_directory():
    with pytest.raises(MatrixError) as info:
        matrix(
            row("a", segment="x", target=(5_002_000_000_000_999, "callcenter")),
            DEFAULT,
            directory=all_targets(),
        )
    assert (info.value.row, info.value.column) == (1, "target_id")
    assert "not in the directory" in str(info.value)
    # the same id under the wrong type is caught too
    with pytest.raises(MatrixError, match="department 5002000000000204 is not in the directory"):
        matrix(row("a", segment="x", target=(VIP[0], "department")), DEFAULT, directory=all_targets())
    assert (
        matrix(row("a", segment="x", target=VIP), DEFAULT, directory=all_targets()).default.name == "default"
    )


def test_not_csv_is_a_matrix_error():
    with pytest.raises(MatrixError, match="the matrix is empty"):
        RuleSet.from_text("   ")


def test_load_matrix_reads_frames_text_and_files(tmp_path):
    text = HEADER + row("vip", segment="enterprise", target=VIP) + "\n" + DEFAULT + "\n"
    path = tmp_path / "m.csv"
    path.write_text(text)
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    loaded = [load_matrix(path), load_matrix(text), load_matrix(frame)]
    assert [m.rule_names for m in loaded] == [["vip", "default"]] * 3
    assert loaded[0].name == "m"


# --------------------------------------------------------------------------- shadowing


def _shadowed(rs: RuleSet) -> list[tuple[str, str]]:
    return [(w.rule, w.shadowed_by) for w in rs.warnings]


def test_unconditional_row_shadows_everything_after_it():
    rs = matrix(row("all", target=SALES), row("vip", segment="enterprise", target=VIP), DEFAULT)
    assert _shadowed(rs) == [("vip", "all"), ("default", "all")]


def test_identical_conditions_shadow():
    rs = matrix(row("a", segment="enterprise"), row("b", segment="=enterprise", target=VIP), DEFAULT)
    assert _shadowed(rs) == [("b", "a")]
    assert "same conditions" in rs.warnings[0].message


def test_broader_earlier_row_shadows_a_narrower_one():
    rs = matrix(
        row("spanish", internal="+14155550111", target=SPANISH),
        row("spanish_evening", internal="+14155550111", hours="18:00-22:00", target=AFTER_HOURS),
        row("big", segment="in:enterprise|mid", target=VIP),
        row("ent", segment="enterprise", target=SALES),
        row("day", hours="08:00-18:00", target=SALES),
        row("morning", hours="09:00-12:00", target=SUPPORT),
        DEFAULT,
    )
    assert _shadowed(rs) == [("spanish_evening", "spanish"), ("ent", "big"), ("morning", "day")]


def test_narrower_earlier_row_does_not_shadow():
    rs = matrix(
        row("spanish_evening", internal="+14155550111", hours="18:00-22:00", target=AFTER_HOURS),
        row("spanish", internal="+14155550111", target=SPANISH),
        row("ent", segment="enterprise", target=SALES),
        row("not_ent", segment="!enterprise", target=SUPPORT),
        DEFAULT,
    )
    assert rs.warnings == ()


def test_shadow_warnings_are_emitted_at_the_callers_line():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        RuleSet.from_text(
            HEADER + row("a", segment="x") + "\n" + row("b", segment="x") + "\n" + DEFAULT + "\n"
        )
    assert [w.category for w in caught] == [ShadowedRuleWarning]
    assert caught[0].filename == __file__
    assert "rule 'b'" in str(caught[0].message)
