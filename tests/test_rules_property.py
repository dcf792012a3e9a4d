"""Vectorised replay and per-call evaluation give identical decisions (hypothesis).

Random matrices over every condition kind (equals, in, prefix, regex, null,
negation, hours windows that cross midnight, weekday ranges that wrap, per-row
timezones with DST and half-hour offsets) and random calls clustered around DST
transitions and local midnights, with and without a Python rule and a CRM join.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dialpad_nb.core.models import RoutingRequest
from dialpad_nb.rules.enrich import Enrichment
from dialpad_nb.rules.ruleset import RuleSet
from tests.helpers_rules import AFTER_HOURS, INBOUND_SALES, SALES, SPANISH, SUPPORT, TIER1, VIP, make_calls

INTERNAL = ["+14155550100", "+14155550111", "+16285550123", "+12065550100"]
EXTERNAL = ["+14155551234", "+442071234567", "+12065550000", "+16285559990", "+14155550199", "+33142000000"]
CONTACT_TYPES = [None, "user", "shared", "customer"]
SEGMENTS = [None, "enterprise", "smb", "mid"]
TARGETS = [SALES, SUPPORT, INBOUND_SALES, TIER1, VIP, AFTER_HOURS, SPANISH]
ZONES = ["America/Los_Angeles", "Europe/London", "Australia/Lord_Howe", "Asia/Kolkata", "UTC"]
DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
# DST transitions (US, EU, Lord Howe's 30-minute shift) and a plain week, in UTC
ANCHORS = [
    datetime(2026, 3, 8, 10, 0, tzinfo=UTC),
    datetime(2026, 11, 1, 9, 0, tzinfo=UTC),
    datetime(2026, 3, 29, 1, 0, tzinfo=UTC),
    datetime(2026, 10, 25, 1, 0, tzinfo=UTC),
    datetime(2026, 4, 4, 15, 0, tzinfo=UTC),
    datetime(2026, 10, 3, 15, 30, tzinfo=UTC),
    datetime(2026, 1, 12, 8, 0, tzinfo=UTC),
]
REGEXES = [r"^\+44", r"5{3}", r"0$", r"^\+1(415|628)", "enter", "^s", r"\d{4}9"]


def _values(field: str) -> list[str]:
    return {
        "internal_number": INTERNAL,
        "external_number": EXTERNAL,
        "contact_type": [v for v in CONTACT_TYPES if v],
        "crm.segment": [v for v in SEGMENTS if v],
    }[field]


@st.composite
def field_cell(draw, field: str) -> str:
    values = _values(field)
    kind = draw(st.sampled_from(["", "", "eq", "in", "prefix", "re", "null"]))
    if kind == "":
        return ""
    if kind == "eq":
        cell = "=" + draw(st.sampled_from(values))
    elif kind == "in":
        cell = "in:" + "|".join(draw(st.lists(st.sampled_from(values), min_size=1, max_size=3, unique=True)))
    elif kind == "prefix":
        if field.endswith("number"):
            cell = "prefix:" + draw(st.sampled_from(["+1", "+1415", "+44", "+1206", "+16285"]))
        else:
            cell = "prefix:" + draw(st.sampled_from(["e", "s", "us", "m"]))
    elif kind == "re":
        cell = "re:" + draw(st.sampled_from(REGEXES))
    else:
        cell = "null"
    return ("!" if draw(st.booleans()) and draw(st.booleans()) else "") + cell


@st.composite
def hours_cell(draw) -> str:
    if draw(st.booleans()):
        return ""
    windows = []
    for _ in range(draw(st.integers(1, 2))):
        # mostly half-hour boundaries, so calls (also on half hours) land exactly on them
        start = draw(st.one_of(st.integers(0, 47).map(lambda h: h * 30), st.integers(0, 1439)))
        end = draw(
            st.one_of(st.integers(1, 48).map(lambda h: h * 30), st.integers(1, 1440)).filter(
                lambda e, s=start: e != s
            )
        )
        windows.append(f"{start // 60:02d}:{start % 60:02d}-{end // 60:02d}:{end % 60:02d}")
    return ("!" if draw(st.integers(0, 3)) == 0 else "") + "|".join(windows)


@st.composite
def days_cell(draw) -> str:
    if draw(st.booleans()):
        return ""
    if draw(st.booleans()):
        return f"{draw(st.sampled_from(DAYS))}-{draw(st.sampled_from(DAYS))}"
    return "|".join(draw(st.lists(st.sampled_from(DAYS), min_size=1, max_size=4, unique=True)))


@st.composite
def matrix_text(draw) -> str:
    fields = ["internal_number", "external_number", "contact_type", "crm.segment"]
    lines = [
        "rule,internal_number,external_number,contact_type,crm.segment,hours,days,tz,target_id,target_type"
    ]
    for i in range(draw(st.integers(1, 7))):
        cells = [draw(field_cell(f)) for f in fields] + [draw(hours_cell()), draw(days_cell())]
        tz = draw(st.sampled_from(ZONES + [""]))
        tid, ttype = draw(st.sampled_from(TARGETS))
        lines.append(",".join([f"r{i}", *cells, tz, str(tid), ttype]))
    tid, ttype = draw(st.sampled_from(TARGETS))
    lines.append(f"default,,,,,,,,{tid},{ttype}")
    return "\n".join(lines) + "\n"


@st.composite
def calls_frame(draw) -> pd.DataFrame:
    rows = []
    for i in range(draw(st.integers(1, 30))):
        anchor = draw(st.sampled_from(ANCHORS))
        minutes = draw(st.one_of(st.integers(-72, 72).map(lambda h: h * 30), st.integers(-36 * 60, 36 * 60)))
        jitter = draw(st.sampled_from([0, 0, -1, 1, 59_999, 30_000]))
        ms = int(anchor.timestamp() * 1000) + minutes * 60_000 + jitter
        rows.append(
            {
                "date_started": ms,
                "call_id": 10_000 + i,
                "external_number": draw(st.sampled_from(EXTERNAL)),
                "internal_number": draw(st.sampled_from(INTERNAL)),
                "contact_type": draw(st.sampled_from(CONTACT_TYPES)),
                "contact_id": None,
            }
        )
    return make_calls(rows)


def _with_python_rule(rs: RuleSet, draw) -> RuleSet:
    target = draw(st.sampled_from(TARGETS))
    modulus = draw(st.integers(2, 4))

    def every_nth_call(call):
        return target if call["call_id"] % modulus == 0 else None

    names = [r.name for r in rs.rules]
    before = draw(st.sampled_from([None, *names]))
    return rs.with_rule(every_nth_call, before=before)


SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(text=matrix_text(), calls=calls_frame(), data=st.data())
def test_vectorised_equals_per_call_with_crm_columns(text, calls, data):
    rs = RuleSet.from_text(text, timezone=data.draw(st.sampled_from(ZONES)), warn=False)
    if data.draw(st.booleans()):
        rs = _with_python_rule(rs, data.draw)
    segments = data.draw(st.lists(st.sampled_from(SEGMENTS), min_size=len(calls), max_size=len(calls)))
    calls = calls.assign(**{"crm.segment": pd.array(segments, dtype="string")})

    vectorised = rs.decide_all(calls)
    for pos, record in enumerate(calls.to_dict("records")):
        one = rs.decide(record)
        got = vectorised.iloc[pos]
        assert (int(got["target_id"]), got["target_type"], got["rule"], bool(got["is_default"])) == (
            one.target_id,
            one.target_type,
            one.rule,
            one.is_default,
        ), f"call {record['call_id']} at {record['date_started']}\n{text}"


@SETTINGS
@given(text=matrix_text(), calls=calls_frame(), data=st.data())
def test_endpoint_path_equals_replay_with_crm_join(text, calls, data):
    """decide(RoutingRequest) with the CRM looked up per request = evaluate() with the CRM joined."""
    crm_rows = ["phone,segment"]
    for number in EXTERNAL:
        seg = data.draw(st.sampled_from(SEGMENTS))
        if seg is not None:
            # human formatting on purpose: the join normalises
            crm_rows.append(f"{number[:2]} {number[2:5]} {number[5:]},{seg}")
    crm = Enrichment.from_csv(io.StringIO("\n".join(crm_rows) + "\n"))
    rs = RuleSet.from_text(text, timezone="America/Los_Angeles", warn=False).with_enrichment(crm)
    if data.draw(st.booleans()):
        rs = _with_python_rule(rs, data.draw)

    vectorised = rs.decide_all(calls)
    for pos, record in enumerate(calls.to_dict("records")):
        request = RoutingRequest(
            date_started=int(record["date_started"].value // 1_000_000),
            call_id=int(record["call_id"]),
            external_number=record["external_number"],
            internal_number=record["internal_number"],
            contact_id=None,
            contact_type=None if pd.isna(record["contact_type"]) else record["contact_type"],
        )
        one = rs.decide(request)
        got = vectorised.iloc[pos]
        assert (int(got["target_id"]), got["target_type"], got["rule"]) == (
            one.target_id,
            one.target_type,
            one.rule,
        )


@st.composite
def field_condition(draw):
    from dialpad_nb.rules.conditions import parse_condition

    kind = draw(
        st.sampled_from(
            ["hours", "days", "internal_number", "external_number", "contact_type", "crm.segment"]
        )
    )
    tz = draw(st.sampled_from(ZONES))
    if kind == "hours":
        cell = draw(hours_cell().filter(bool))
    elif kind == "days":
        cell = draw(days_cell().filter(bool))
    else:
        cell = draw(field_cell(kind).filter(bool))
    return parse_condition(kind, cell, tz=tz)


@settings(max_examples=150, deadline=None)
@given(cond=field_condition(), calls=calls_frame(), data=st.data())
def test_condition_mask_equals_test(cond, calls, data):
    """Each condition alone: the vectorised mask equals the per-call test, element by element."""
    from dialpad_nb.rules.conditions import FrameContext

    segments = data.draw(st.lists(st.sampled_from(SEGMENTS), min_size=len(calls), max_size=len(calls)))
    calls = calls.assign(**{"crm.segment": pd.array(segments, dtype="string")})
    mask = cond.mask(FrameContext(calls))
    expected = [cond.test(record) for record in calls.to_dict("records")]
    assert mask.tolist() == expected, cond


@st.composite
def boundary_calls(draw) -> pd.DataFrame:
    """Calls exactly on, or 1 ms either side of, half-hour instants near DST changes."""
    rows = []
    for _ in range(draw(st.integers(5, 40))):
        anchor = draw(st.sampled_from(ANCHORS))
        ms = (
            int(anchor.timestamp() * 1000)
            + draw(st.integers(-96, 96)) * 1_800_000
            + draw(st.sampled_from([-1, 0, 1]))
        )
        rows.append({"date_started": ms, "external_number": EXTERNAL[0], "internal_number": INTERNAL[0]})
    return make_calls(rows)


@st.composite
def half_hour_windows(draw) -> str:
    windows = []
    for _ in range(draw(st.integers(1, 2))):
        start = draw(st.integers(0, 47)) * 30
        end = draw(st.integers(1, 48).map(lambda h: h * 30).filter(lambda e, s=start: e != s))
        windows.append(f"{start // 60:02d}:{start % 60:02d}-{end // 60:02d}:{end % 60:02d}")
    return "|".join(windows)


@settings(max_examples=100, deadline=None)
@given(cell=half_hour_windows(), days=days_cell(), tz=st.sampled_from(ZONES), calls=boundary_calls())
def test_time_conditions_agree_on_window_edges(cell, days, tz, calls):
    from dialpad_nb.rules.conditions import FrameContext, parse_condition

    ctx = FrameContext(calls)
    records = calls.to_dict("records")
    for cond in (parse_condition("hours", cell, tz=tz), parse_condition("days", days or "mon", tz=tz)):
        assert cond.mask(ctx).tolist() == [cond.test(r) for r in records], (cond, tz)
