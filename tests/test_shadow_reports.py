"""The reports on a known log: shadow_report's tables (rates with Wilson intervals, rules, named
flows, seeded samples, periods in a timezone), canary_report's arms with Newcombe and bootstrap
intervals and its join with Dialpad's outcomes, the interval functions themselves, the charts,
and /metrics counting what the log holds."""

from __future__ import annotations

import asyncio
import io
import json
import math
import os

import httpx
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dialpad_nb.calls import read_experiment
from dialpad_nb.charts import canary_chart, shadow_chart, shadow_flow_chart
from dialpad_nb.core.endpoint_log import make_canary_record, make_record, make_result
from dialpad_nb.core.errors import ValidationError
from dialpad_nb.endpoint import routing_endpoint
from dialpad_nb.health import (
    bootstrap_percentile_diff,
    canary_report,
    newcombe_interval,
    shadow_report,
    wilson_interval,
)
from dialpad_nb.samples.company import all_targets
from tests.helpers_metrics import samples

T0 = 1_791_820_800_000  # 2026-10-12 16:00 UTC = 09:00 in Los Angeles
SALES = {"target_id": 5002000000000201, "target_type": "callcenter"}
SUPPORT = {"target_id": 5002000000000202, "target_type": "callcenter"}
VIP = {"target_id": 5002000000000204, "target_type": "callcenter"}
NAMES = {(e.id, e.type): e.name for e in all_targets()}


def name_of(tid: int, ttype: str) -> str:
    return f"{NAMES[(tid, ttype)]} ({ttype})"


def payload(i: int) -> dict:
    return {
        "date_started": T0 + i * 600_000,
        "call_id": 1000 + i,
        "external_number": f"+1206555{i:04d}",
        "internal_number": "+14155550142",
        "contact_id": None,
        "contact_type": "shared" if i % 2 else None,
    }


def record(i: int, *, shadows=(), side=None, answered_by=None, control=None, latency=2.0, **over) -> dict:
    fields = dict(
        ts=T0 + i * 600_000, call_id=1000 + i, payload=payload(i), signed=True, decision=SALES, rule="sales",
        fallback=False, status=200, latency_ms=latency, outcome="ok", error=None,
    )  # fmt: skip
    fields.update(over)
    return make_record(**fields, side=side, answered_by=answered_by, control=control, shadows=shadows)


def result(name: str, decision=None, rule=None, outcome="ok", error=None, ms=1.0) -> dict:
    return make_result(name=name, decision=decision, rule=rule, outcome=outcome, error=error, duration_ms=ms)


def shadow_log() -> list[dict]:
    """12 requests, 10 minutes apart from 09:00 Los Angeles. Shadow "cand": matches on 0-5,
    mismatches on 6-9 (VIP), times out on 10; the control fails on 11. Shadow "slow": busy."""
    out = []
    for i in range(12):
        if i < 6:
            cand = result("cand", SALES, "sales")
        elif i < 10:
            cand = result("cand", VIP, "vip")
        elif i == 10:
            cand = result("cand", None, None, "timeout", "decide did not answer within the 1 s budget", 1000)
        else:
            cand = result("cand", VIP, "vip")
        over = {}
        if i == 11:
            over = dict(
                decision=SUPPORT, rule=None, fallback=True, outcome="error", error="decide raised KeyError()"
            )
        out.append(record(i, shadows=[cand, result("slow", outcome="busy", error="busy")], **over))
    return out


def test_shadow_report_tables_on_a_known_log():
    report = shadow_report(
        shadow_log(), timezone="America/Los_Angeles", freq="1h", name_of=name_of, samples=2
    )
    summary = report.summary.set_index("shadow")
    assert summary.loc["cand", ["requests", "compared", "match", "mismatch", "timeout", "control_failed"]].tolist() == [
        12, 10, 6, 4, 1, 1]  # fmt: skip
    assert summary.loc["cand", "mismatch_rate"] == 0.4
    assert (summary.loc["cand", "ci_low"], summary.loc["cand", "ci_high"]) == wilson_interval(4, 10)
    assert summary.loc["slow", ["compared", "busy"]].tolist() == [0, 12] and math.isnan(
        summary.loc["slow", "mismatch_rate"]
    )
    assert (
        "cand: 4 of 10 compared calls differ (40.0%" in report.headline
        and "slow: nothing to compare" in report.headline
    )
    over = report.over_time[report.over_time["shadow"] == "cand"]
    start = "start (America/Los_Angeles)"
    assert over[start].dt.hour.tolist() == [9, 10]  # 09:00-09:50 and 10:00-10:50 local
    assert over["compared"].tolist() == [6, 4] and over["mismatch"].tolist() == [0, 4]
    rules = report.rules[report.rules["shadow"] == "cand"]
    assert rules[["control_rule", "shadow_rule", "calls", "mismatch"]].values.tolist() == [
        ["sales", "sales", 6, 0], ["sales", "vip", 4, 4]]  # fmt: skip
    flows = report.flows[report.flows["changed"]]
    assert flows[["control_target", "shadow_target", "calls"]].values.tolist() == [
        ["Inbound Sales (callcenter)", "VIP Desk (callcenter)", 4]]  # fmt: skip
    assert len(report.samples) == 2 and set(report.samples["shadow_target"]) == {"VIP Desk (callcenter)"}
    again = shadow_report(shadow_log(), timezone="America/Los_Angeles", name_of=name_of, samples=2)
    pd.testing.assert_frame_equal(report.samples, again.samples)  # seeded
    other = shadow_report(shadow_log(), name_of=name_of, samples=2, seed=3)
    assert "time (UTC)" in other.samples.columns
    local = report.samples["time (America/Los_Angeles)"]  # aware: a time shown anywhere says its zone
    assert str(local.dt.tz) == "America/Los_Angeles" and local.min() >= pd.Timestamp(T0, unit="ms", tz="UTC")
    assert set(report.samples["call_id"]) <= {1006, 1007, 1008, 1009}
    assert report.durations.set_index("shadow").loc["cand", "max_ms"] == 1000


def test_shadow_report_without_names_shows_types_and_ids_and_says_so():
    report = shadow_report(shadow_log(), samples=1)
    assert report.flows["shadow_target"].str.startswith("callcenter 500200000000").all()


def canary_log(n_control: int = 200, n_candidate: int = 60) -> list[dict]:
    """Control callers answered in ~2 ms; candidate callers in ~3 ms, 6 of them replaced (failed)."""
    rng = np.random.default_rng(1)
    out = []
    for i in range(n_control):
        out.append(record(i, side="control", answered_by="control", latency=float(rng.normal(2, 0.2))))
    for j in range(n_candidate):
        i = n_control + j
        failed = j < 6
        cand = result("cand", None if failed else VIP, None if failed else "vip", "error" if failed else "ok")
        over = {} if failed else dict(decision=VIP, rule="vip")
        ctrl = make_result(decision=SALES, rule="sales", outcome="ok", error=None, duration_ms=1.0)
        out.append(record(i, side="cand", answered_by="control" if failed else "cand", control=ctrl,
                          shadows=[cand], latency=float(rng.normal(3, 0.2)), **over))  # fmt: skip
    out.append(make_canary_record(ts=T0, action="start", candidate="cand", share=0.2, trigger="start"))
    return out


def outcomes_for(records: list[dict], errors: set[int], defaults: set[int]) -> pd.DataFrame:
    ids = [r["call_id"] for r in records if "event" not in r]
    return pd.DataFrame(
        {
            "call_id": pd.array(ids, dtype="Int64"),
            "is_error": [c in errors for c in ids],
            "is_default": [c in defaults for c in ids],
        }
    )


def test_canary_report_compares_the_arms_with_newcombe_and_a_seeded_bootstrap():
    log = canary_log()
    cand_ids = [r["call_id"] for r in log if r.get("side") == "cand"]
    errors = set(cand_ids[:9]) | {1000, 1001}  # 9/60 on the candidate's side, 2/200 on the control's
    report = canary_report(log, outcomes_for(log, errors, set()), n_boot=500, seed=7)
    rates = report.rates.set_index("metric")
    row = rates.loc["dialpad_error"]
    assert (row["control"], row["control_n"], row["candidate_value"], row["candidate_n"]) == (
        0.01,
        200,
        0.15,
        60,
    )
    assert (row["ci_low"], row["ci_high"]) == pytest.approx(newcombe_interval(9, 60, 2, 200))
    assert bool(row["significant"]) is True
    assert rates.loc["rule_failed", "candidate_value"] == 0.1 and rates.loc["rule_failed", "control"] == 0.0
    assert bool(rates.loc["default_target", "significant"]) is False
    latency = report.latency.set_index("metric")
    assert latency.loc["latency_p50_ms", "difference"] == pytest.approx(1.0, abs=0.15)
    assert bool(latency.loc["latency_p50_ms", "significant"]) is True
    assert latency.loc["latency_p99_ms", "note"].startswith("no interval: an arm has fewer than 100")
    assert (
        math.isnan(latency.loc["latency_p99_ms", "ci_low"])
        and not latency.loc["latency_p99_ms", "significant"]
    )
    again = canary_report(log, outcomes_for(log, errors, set()), n_boot=500, seed=7)
    pd.testing.assert_frame_equal(report.latency, again.latency)  # seeded: the same every run
    arms = report.arms.set_index("side")
    assert arms.loc["cand", ["requests", "answered_by_candidate", "replaced_by_control", "joined"]].tolist() == [
        60, 54, 6, 60]  # fmt: skip
    assert "dialpad_error higher than the control by 14.0 points" in report.verdict
    assert "Newcombe" in report.method and "seed 7" in report.method
    assert report.events["action"].tolist() == ["start"]
    assert str(report.events["time (UTC)"].dt.tz) == "UTC"


def test_canary_report_without_outcomes_says_what_it_needs():
    report = canary_report(canary_log(40, 30))
    rates = report.rates.set_index("metric")
    assert rates.loc["dialpad_error", "note"] == "needs outcomes= (sandbox attempts or call history)"
    assert rates.loc["dialpad_error", "control_n"] == 0 and not rates.loc["dialpad_error", "significant"]
    with pytest.raises(ValidationError, match="is_default"):
        canary_report(canary_log(4, 4), pd.DataFrame({"call_id": [1], "is_error": [True]}))


# --------------------------------------------------------------------------- the intervals


def test_intervals_match_published_values():
    # Newcombe (1998), Statistics in Medicine 17:873-890, example (a): 56/70 - 48/80, method 10
    low, high = newcombe_interval(56, 70, 48, 80)
    assert (round(low, 4), round(high, 4)) == (0.0524, 0.3339)
    assert wilson_interval(0, 10) == (0.0, pytest.approx(0.2775, abs=1e-4))
    assert wilson_interval(10, 10)[1] == 1.0
    assert all(math.isnan(v) for v in wilson_interval(0, 0) + newcombe_interval(1, 0, 1, 2))


@given(k=st.integers(0, 500), extra=st.integers(0, 500), k2=st.integers(0, 500), extra2=st.integers(0, 500),
       confidence=st.sampled_from([0.8, 0.9, 0.95, 0.99]))  # fmt: skip
@settings(max_examples=200, deadline=None)
def test_intervals_hold_their_estimate_and_stay_in_range(k, extra, k2, extra2, confidence):
    n, n2 = k + extra, k2 + extra2
    if n:
        low, high = wilson_interval(k, n, confidence)
        assert 0 <= low <= k / n <= high <= 1
        assert (high - low) <= (wilson_interval(k, n, 0.999)[1] - wilson_interval(k, n, 0.999)[0]) + 1e-12
    if n and n2:
        low, high = newcombe_interval(k, n, k2, n2, confidence)
        assert -1 <= low <= k / n - k2 / n2 <= high <= 1


def test_the_bootstrap_is_seeded_and_finds_a_real_shift():
    rng = np.random.default_rng(0)
    a, b = rng.normal(10, 1, 400), rng.normal(11, 1, 400)
    first = bootstrap_percentile_diff(b, a, 50, n_boot=400, seed=1)
    assert first == bootstrap_percentile_diff(b, a, 50, n_boot=400, seed=1)
    assert first != bootstrap_percentile_diff(b, a, 50, n_boot=400, seed=2)
    diff, low, high = first
    assert low < diff < high and low > 0.5
    assert all(math.isnan(v) for v in bootstrap_percentile_diff(np.array([]), a, 50))


# --------------------------------------------------------------------------- charts


def _texts(fig) -> str:
    parts = [fig._suptitle.get_text() if fig._suptitle else ""]
    for ax in fig.axes:
        parts += [ax.get_title(), ax.get_xlabel(), ax.get_ylabel()]
        parts += [t.get_text() for t in ax.get_yticklabels()] + [t.get_text() for t in ax.texts]
        legend = ax.get_legend()
        if legend is not None:
            parts += [t.get_text() for t in legend.get_texts()]
    return "\n".join(parts)


def test_charts_name_targets_and_say_their_timezone():
    report = shadow_report(shadow_log(), timezone="America/Los_Angeles", name_of=name_of)
    text = _texts(shadow_chart(report))
    assert "time (America/Los_Angeles)" in text and "cand" in text and "mismatch rate per 1h (%)" in text
    flows = _texts(shadow_flow_chart(report, "cand"))
    assert "Inbound Sales (callcenter)  →  VIP Desk (callcenter)" in flows and "5002000000000" not in flows
    with pytest.raises(ValidationError, match="no shadow 'nope'"):
        shadow_flow_chart(report, "nope")
    canary = canary_report(canary_log(), timezone="America/Los_Angeles", n_boot=200)
    text = _texts(canary_chart(canary, "cand"))
    assert (
        "time (America/Los_Angeles)" in text
        and "answered by cand" in text
        and "replaced by the control" in text
    )
    assert "Dialpad error" in text and "own rule failed" in text
    empty = _texts(shadow_chart(shadow_report([])))
    assert "no shadow results in this log" in empty


# --------------------------------------------------------------------------- metrics count the log


def test_metrics_count_what_the_log_holds():
    shadows = {"same": lambda req: (5002000000000201, "callcenter"), "other": lambda req: (5002000000000204, "callcenter"),
               "broken": lambda req: 1 / 0}  # fmt: skip
    app = routing_endpoint(lambda req: (5002000000000201, "callcenter"), fallback=(5001000000000105, "department"),
                           shadows=shadows, canary={"other": 0.4}, canary_min_calls=1_000)  # fmt: skip
    bodies = [payload(i) for i in range(50)]

    async def go():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://e.test") as c:
            for b in bodies:
                await c.post("/route", json=b)
            await app.state.endpoint.drain()
            return (await c.get("/metrics")).text

    text = asyncio.run(go())
    exp = read_experiment(app.state.endpoint.log)
    logged = {(s, v): float(n) for (s, v), n in exp.shadows.groupby(["shadow", "verdict"]).size().items()}
    scraped = {
        (dict(labels)["shadow"], dict(labels)["result"]): v
        for (name, labels), v in samples(text).items()
        if name == "dialpad_endpoint_shadow_results_total" and v
    }
    assert scraped == logged and set(logged) == {
        ("same", "match"),
        ("other", "mismatch"),
        ("broken", "error"),
    }
    sides = {k: float(v) for k, v in exp.frame.groupby(["side", "answered_by"]).size().items()}
    requests = {
        (dict(labels)["side"], dict(labels)["answered_by"]): v
        for (name, labels), v in samples(text).items()
        if name == "dialpad_endpoint_canary_requests_total"
    }
    assert requests == sides and sum(sides.values()) == 50


# --------------------------------------------------------------------------- hostile lines

_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=False), st.text(max_size=8),
    st.lists(st.integers(), max_size=2), st.dictionaries(st.sampled_from(["target_id", "target_type", "name"]),
                                                          st.integers() | st.text(max_size=5), max_size=2),
)  # fmt: skip
_FIELDS = ["side", "answered_by", "control", "shadows", "payload", "ts", "decision", "latency_ms", "v"]


@given(
    mutations=st.lists(
        st.tuples(st.integers(0, 5), st.sampled_from(_FIELDS), _VALUES, st.booleans()), max_size=8
    ),
    junk=st.lists(st.text(max_size=30), max_size=3),
)
@settings(max_examples=int(os.environ.get("SHADOW_FUZZ_EXAMPLES", "25")), deadline=None)
def test_any_damage_to_a_record_is_a_reject_with_its_line_never_a_crash(mutations, junk):
    """Records of a canary log, damaged field by field (any JSON value, in the record or inside
    its first shadow), plus junk lines: the readers and both reports never raise, and every line
    is accepted, rejected (with its line) or skipped."""
    records = canary_log(3, 3)
    for index, field, value, inside_shadow in mutations:
        rec = records[index]
        shadows = rec.get("shadows")
        if inside_shadow and isinstance(shadows, list) and shadows and isinstance(shadows[0], dict):
            shadows[0][field] = value
        else:
            rec[field] = value
    lines = [json.dumps(r) for r in records] + [j.replace("\r", " ") for j in junk]
    text = "".join(line.replace("\n", " ") + "\n" for line in lines)
    read = read_experiment(io.StringIO(text))
    non_blank = sum(1 for line in text.split("\n") if line.strip())
    assert len(read.frame) + len(read.rejects) + sum(read.skipped.values()) == non_blank
    assert read.rejects["line"].is_unique and read.rejects["reason"].str.startswith("line ").all()
    shadow_report(read)
    canary_report(read, n_boot=50)
