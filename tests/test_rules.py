"""Rule sets: first match wins, defaults, Python rules, enrichment, the endpoint entry points."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from dialpad_nb.core.errors import ValidationError
from dialpad_nb.core.models import RoutingDecision, RoutingRequest
from dialpad_nb.endpoint.app import coerce_decision
from dialpad_nb.rules.enrich import Enrichment
from dialpad_nb.rules.matrix import MatrixError
from dialpad_nb.rules.ruleset import PythonRule, RuleDecision, RuleSet, load_matrix
from tests.helpers_rules import (
    AFTER_HOURS,
    CAMPAIGN_LINE,
    INBOUND_SALES,
    MAIN_LINE,
    SPANISH,
    SPANISH_LINE,
    TIER1,
    VIP,
    make_calls,
)

MATRIX = f"""rule,internal_number,external_number,crm.segment,hours,days,target_id,target_type
vip,,,enterprise,,,{VIP[0]},callcenter
spanish_after_hours,{SPANISH_LINE},,,18:00-08:00,,{AFTER_HOURS[0]},callcenter
spanish,{SPANISH_LINE},,,,,{SPANISH[0]},callcenter
campaign,{CAMPAIGN_LINE},,,,mon-fri,{INBOUND_SALES[0]},callcenter
uk,,re:^\\+44,,,,{TIER1[0]},callcenter
default,,,,,,{TIER1[0]},callcenter
"""
CRM = "phone,segment\n(415) 555-0199,enterprise\n(415) 555-0100,smb\n"

# 2026-01-14 is a Wednesday; 17:00Z = 09:00 in San Francisco, 03:00Z = 19:00 the evening before
DAY, EVENING, SATURDAY = "2026-01-14T17:00:00Z", "2026-01-14T03:00:00Z", "2026-01-17T17:00:00Z"


@pytest.fixture
def rules() -> RuleSet:
    crm = Enrichment.from_csv(io.StringIO(CRM))
    return RuleSet.from_text(MATRIX, timezone="America/Los_Angeles", name="candidate").with_enrichment(crm)


def request(
    when: str, internal: str = MAIN_LINE, external: str = "+14155551234", call_id: int = 1
) -> RoutingRequest:
    return RoutingRequest(int(pd.Timestamp(when).value // 1_000_000), call_id, external, internal)


@pytest.mark.parametrize(
    ("when", "internal", "external", "rule"),
    [
        (DAY, SPANISH_LINE, "+14155550199", "vip"),  # enterprise beats the Spanish line: first match wins
        (EVENING, SPANISH_LINE, "+14155551234", "spanish_after_hours"),
        (DAY, SPANISH_LINE, "+14155551234", "spanish"),
        (DAY, CAMPAIGN_LINE, "+14155551234", "campaign"),
        (SATURDAY, CAMPAIGN_LINE, "+14155551234", "default"),
        (DAY, MAIN_LINE, "+442071234567", "uk"),
        (DAY, MAIN_LINE, "+14155550100", "default"),
    ],
)
def test_first_matching_rule_decides(rules, when, internal, external, rule):
    decision = rules.decide(request(when, internal, external))
    assert decision.rule == rule
    assert decision.is_default == (rule == "default")
    frame = make_calls([{"date_started": when, "external_number": external, "internal_number": internal}])
    assert rules.decide_all(frame)["rule"].tolist() == [rule]


def test_decide_is_a_routing_decision_the_endpoint_understands(rules):
    decision = rules.decide(request(EVENING, SPANISH_LINE))
    assert isinstance(decision, RoutingDecision)
    assert decision.to_json() == {"target_id": AFTER_HOURS[0], "target_type": "callcenter"}
    answered, rule = coerce_decision(decision)  # what the endpoint kit does with decide()'s answer
    assert (answered.to_json(), rule) == (decision.to_json(), "spanish_after_hours")


def test_decide_all_columns_and_alignment(rules):
    calls = make_calls(
        [
            {"date_started": DAY, "external_number": "+14155550199", "internal_number": MAIN_LINE},
            {"date_started": DAY, "external_number": "+14155551234", "internal_number": MAIN_LINE},
        ]
    ).set_axis([10, 20])
    out = rules.decide_all(calls)
    assert list(out.index) == [10, 20]
    assert list(out.columns) == ["target_id", "target_type", "rule", "is_default"]
    assert out["target_id"].tolist() == [VIP[0], TIER1[0]]
    assert out["is_default"].tolist() == [False, True]
    assert str(out["target_id"].dtype) == "Int64"


def test_enrichment_is_joined_only_when_needed(rules):
    calls = make_calls(
        [{"date_started": DAY, "external_number": "+14155550199", "internal_number": MAIN_LINE}]
    )
    pre = calls.assign(**{"crm.segment": pd.array(["smb"], dtype="string")})
    # columns already on the frame win over the enrichment (the caller enriched on purpose)
    assert rules.decide_all(pre)["rule"].tolist() == ["default"]
    assert rules.decide_all(calls)["rule"].tolist() == ["vip"]


def test_missing_enrichment_field_is_a_clear_error():
    rs = RuleSet.from_text(MATRIX, warn=False)
    calls = make_calls([{"date_started": DAY, "external_number": "+1", "internal_number": MAIN_LINE}])
    with pytest.raises(ValidationError, match=r"rule 'vip' tests 'crm.segment' .*with_enrichment"):
        rs.decide_all(calls)


def test_python_rule_runs_only_on_calls_still_undecided():
    seen = []

    def odd_calls_to_vip(call):
        seen.append(call["call_id"])
        return VIP if call["call_id"] % 2 else None

    rs = RuleSet.from_text(MATRIX, timezone="America/Los_Angeles", warn=False).with_rule(
        odd_calls_to_vip, before="uk"
    )
    calls = make_calls(
        [
            {"call_id": 1, "date_started": DAY, "external_number": "+1415", "internal_number": SPANISH_LINE},
            {
                "call_id": 3,
                "date_started": DAY,
                "external_number": "+442071234567",
                "internal_number": MAIN_LINE,
            },
            {
                "call_id": 4,
                "date_started": DAY,
                "external_number": "+442071234567",
                "internal_number": MAIN_LINE,
            },
            {
                "call_id": 5,
                "date_started": DAY,
                "external_number": "+14155551234",
                "internal_number": MAIN_LINE,
            },
        ]
    ).assign(**{"crm.segment": pd.array([None] * 4, dtype="string")})
    out = rs.decide_all(calls)
    assert rs.name == "matrix+odd_calls_to_vip"
    assert seen == [3, 4, 5]  # call 1 was decided by 'spanish' before the python rule's turn
    assert out["rule"].tolist() == ["spanish", "odd_calls_to_vip", "uk", "odd_calls_to_vip"]
    assert out["target_id"].tolist() == [SPANISH[0], VIP[0], TIER1[0], VIP[0]]


@pytest.mark.parametrize(
    "answer", [VIP, RoutingDecision(*VIP), {"target_id": str(VIP[0]), "target_type": "callcenter"}]
)
def test_python_rule_answers_in_any_shape(answer):
    rs = RuleSet([PythonRule("py", lambda call: answer)], TIER1)
    assert rs.decide(request(DAY)) == RuleDecision(VIP[0], "callcenter", "py", False)


def test_python_rule_with_a_bad_answer_names_rule_and_call():
    rs = RuleSet([lambda call: (VIP[0], "team")], TIER1)
    with pytest.raises(ValidationError, match=r"python rule '<lambda>' returned .* for call 7"):
        rs.decide(request(DAY, call_id=7))


def test_rule_names_must_be_unique():
    with pytest.raises(ValidationError, match="repeated: default"):
        RuleSet([PythonRule("default", lambda c: None)], TIER1)


def test_with_rule_unknown_anchor_is_an_error(rules):
    with pytest.raises(ValidationError, match="no rule named 'nope'"):
        rules.with_rule(lambda c: None, before="nope")


def test_empty_calls_frame_evaluates_to_empty():
    rs = RuleSet.from_text(MATRIX, warn=False)
    calls = make_calls([{"date_started": DAY, "external_number": "+1", "internal_number": MAIN_LINE}]).iloc[
        :0
    ]
    calls = calls.assign(**{"crm.segment": pd.array([], dtype="string")})
    assert len(rs.decide_all(calls)) == 0


def test_repr_and_table(rules):
    assert repr(rules) == (
        f"RuleSet('candidate': 5 rules + default callcenter:{TIER1[0]}, tz=America/Los_Angeles, enriched)"
    )
    table = rules.to_frame()
    assert table["rule"].tolist() == ["vip", "spanish_after_hours", "spanish", "campaign", "uk", "default"]
    assert table.loc[1, "conditions"] == (
        f"internal_number {SPANISH_LINE} & hours 18:00-08:00 [America/Los_Angeles]"
    )
    assert table.loc[5, "conditions"] == "(any call)"
    assert "target" not in table.columns  # no directory given: no names to show


def test_with_a_directory_targets_are_named(rules):
    from dialpad_nb.samples.company import CALLCENTERS, all_targets

    names = {c["id"]: c["name"] for c in CALLCENTERS}
    named = RuleSet.from_text(
        MATRIX, timezone="America/Los_Angeles", name="candidate", directory=iter(all_targets())
    )
    table = named.to_frame()
    assert list(table.columns) == ["rule", "conditions", "target", "target_type", "target_id"]
    assert table["target"].tolist() == [
        names[t[0]] for t in (VIP, AFTER_HOURS, SPANISH, INBOUND_SALES, TIER1, TIER1)
    ]
    assert repr(named).startswith(
        f"RuleSet('candidate': 5 rules + default {names[TIER1[0]]} (callcenter:{TIER1[0]})"
    )
    html = named._repr_html_()
    assert f"<td>{names[SPANISH[0]]}</td>" in html
    # the names survive the copies; a python rule has no target to name
    copy = named.with_enrichment(Enrichment.from_csv(io.StringIO(CRM))).with_rule(lambda c: None, before="uk")
    assert copy.target_names == named.target_names
    targets = copy.to_frame()["target"].tolist()
    assert pd.isna(targets[4]) and targets[5:] == [names[TIER1[0]], names[TIER1[0]]]


def test_rule_set_serves_as_an_endpoint_and_its_log_replays_unchanged(rules, tmp_path):
    """The loop: an endpoint built from a rule set logs decisions with rule names; reading that log
    and replaying it through the same rules changes nothing."""
    from starlette.testclient import TestClient

    from dialpad_nb.calls.read import read_calls
    from dialpad_nb.core.clock import SimulatedClock
    from dialpad_nb.endpoint.app import routing_endpoint
    from dialpad_nb.rules.comparison import compare

    log = tmp_path / "endpoint.jsonl"
    app = routing_endpoint(rules, fallback=TIER1, log_path=log, clock=SimulatedClock())
    cases = [
        (DAY, SPANISH_LINE, "+14155550199"),
        (EVENING, SPANISH_LINE, "+14155551234"),
        (DAY, CAMPAIGN_LINE, "+14155551234"),
        (DAY, MAIN_LINE, "+442071234567"),
        (SATURDAY, MAIN_LINE, "+14155550100"),
    ]
    with TestClient(app) as client:
        for i, (when, internal, external) in enumerate(cases):
            response = client.post("/", json=request(when, internal, external, call_id=100 + i).to_json())
            assert response.status_code == 200
    calls, rejects = read_calls(log)
    assert len(rejects) == 0
    assert calls["logged_rule"].tolist() == ["vip", "spanish_after_hours", "campaign", "uk", "default"]
    result = compare(calls, rules)
    assert (result.summary.with_baseline, result.summary.changed) == (5, 0)
    assert result.summary.default_share_before == pytest.approx(1 / 5)


def test_html_shows_the_rules_and_the_shadow_warnings():
    rs = RuleSet.from_text(MATRIX + f"late,,,,,,{VIP[0]},callcenter\n", warn=False, fields=())
    page = rs._repr_html_()
    assert page.index("<caption>RuleSet(") < page.index("<td>vip</td>")
    assert "is shadowed by rule &#x27;default&#x27;" in page


def test_enrichment_must_have_the_fields_the_matrix_tests():
    crm = Enrichment.from_csv(io.StringIO("phone,segmnt\n(415) 555-0199,enterprise\n"))
    with pytest.raises(MatrixError) as info:
        RuleSet.from_text(MATRIX, warn=False).with_enrichment(crm)
    assert (info.value.row, info.value.column) == (1, "crm.segment")
    assert "the contact table has no field 'crm.segment' (it has crm.segmnt)" in str(info.value)


def test_time_rules_without_a_timezone_warn_that_they_are_read_in_utc():
    import warnings as _w

    from dialpad_nb.rules.ruleset import ImplicitUTCWarning

    csv = (
        "rule,hours,target_id,target_type\n"
        "office,09:00-17:00,5002000000000201,callcenter\n"
        "default,,5001000000000105,department\n"
    )
    with pytest.warns(ImplicitUTCWarning, match="read in UTC"):
        rs = load_matrix(csv)
    assert rs.timezone == "UTC"
    with _w.catch_warnings():
        _w.simplefilter("error", ImplicitUTCWarning)
        assert load_matrix(csv, timezone="America/Los_Angeles").timezone == "America/Los_Angeles"
        # every time rule names its own tz: nothing implicit
        load_matrix(
            csv.replace("rule,hours,", "rule,tz,hours,")
            .replace("office,", "office,Europe/Paris,")
            .replace("default,,", "default,,,")
        )
        # no time rules at all: nothing to warn about
        load_matrix(
            "rule,internal_number,target_id,target_type\n"
            "sales,+14155550142,5002000000000201,callcenter\n"
            "default,,5001000000000105,department\n"
        )
