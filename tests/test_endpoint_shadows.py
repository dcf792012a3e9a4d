"""Shadow rules in the endpoint kit: evaluated on every request, never delaying or changing the
answer, each within its own budget and threads; the log's version 2 records every shadow's
decision, rule, outcome and duration, and every reader still reads version 1; shadows reload
with the matrix and are refused at start-up when their targets are not in the directory."""

from __future__ import annotations

import asyncio
import json
import threading

import httpx
import pandas as pd
import pytest

from dialpad_nb.calls import read_calls, read_experiment, read_log
from dialpad_nb.calls import reader as call_reader
from dialpad_nb.core.clock import SimulatedClock
from dialpad_nb.core.directory import Directory
from dialpad_nb.core.endpoint_log import LOG_FIELDS, RESULT_FIELDS
from dialpad_nb.core.errors import ValidationError
from dialpad_nb.core.models import RoutingDecision
from dialpad_nb.endpoint import routing_endpoint, serve_endpoint
from dialpad_nb.health import canary_report, read_endpoint_log, shadow_report
from dialpad_nb.rules import MatrixError, MatrixSource, load_matrix
from dialpad_nb.samples.company import all_targets

SALES = (5002000000000201, "callcenter")
SUPPORT = (5002000000000202, "callcenter")
VIP = (5002000000000204, "callcenter")
FALLBACK = (5001000000000105, "department")
START = "2026-10-12T16:00:00Z"


def request(i: int, caller: str | None = None) -> dict:
    return {
        "date_started": 1_791_820_800_000 + i * 60_000,
        "call_id": 7_000_000_000_000_000 + i,
        "external_number": caller or f"+1415555{i % 10_000:04d}",
        "internal_number": "+14155550142",
        "contact_id": None,
        "contact_type": None,
    }


def control(req):
    return {"target_id": SALES[0], "target_type": SALES[1], "rule": "sales"}


async def post_all(app, bodies: list[dict]) -> list[httpx.Response]:
    """POST each body in turn through the ASGI app, then wait until every record is written."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://endpoint.test") as c:
        answers = [await c.post("/route", json=b) for b in bodies]
    await app.state.endpoint.drain()
    return answers


def run(app, bodies: list[dict]) -> list[httpx.Response]:
    return asyncio.run(post_all(app, bodies))


def requests_of(app) -> list[dict]:
    """The request records in arrival order (a record is appended when its shadows are done)."""
    return sorted(
        (r for r in app.state.endpoint.log.records() if "event" not in r), key=lambda r: r["call_id"] or 0
    )


# --------------------------------------------------------------------------- the answer is the control's


@pytest.mark.http
def test_a_slow_shadow_never_delays_the_answer_and_its_result_is_logged_when_it_ends(tmp_path):
    """The answer arrives while the shadow is still blocked (released only once the answer is
    in): the endpoint did not wait for it. Its record is written when the shadow ends."""
    release, started = threading.Event(), threading.Event()

    def blocked(req):
        started.set()
        release.wait(30)
        return VIP

    app = routing_endpoint(control, fallback=FALLBACK, shadows={"blocked": blocked}, shadow_budget_s=3.0,
                           log_path=tmp_path / "e.jsonl")  # fmt: skip
    served = serve_endpoint(app)
    try:
        answer = httpx.post(served.url + "/route", json=request(1), timeout=10)
        assert answer.json() == {"target_id": SALES[0], "target_type": "callcenter"}
        assert started.wait(10)  # the shadow runs (it may start after the answer was sent) ...
        assert requests_of(app) == []  # ... and cannot finish before release: the answer did not wait
        release.set()
        assert app.state.endpoint.wait_idle(10)
    finally:
        release.set()
        served.stop()
    (rec,) = requests_of(app)
    assert tuple(rec) == LOG_FIELDS and rec["v"] == 2
    (shadow,) = rec["shadows"]
    assert shadow["name"] == "blocked" and shadow["outcome"] == "ok"
    assert shadow["decision"] == {"target_id": VIP[0], "target_type": VIP[1]}


def test_shadows_that_fail_in_every_way_leave_the_answer_unchanged(tmp_path):
    hold = threading.Event()

    def raises(req):
        raise KeyError("crm down")

    def too_slow(req):
        hold.wait(30)
        return VIP

    shadows = {
        "raises": raises,
        "invalid": lambda req: {"target_id": "abc", "target_type": "callcenter"},
        "garbage": lambda req: 42,
        "too_slow": too_slow,
        "no_match": lambda req: None,
        "agrees": control,
        "differs": lambda req: (VIP[0], VIP[1], "vip"),
    }
    app = routing_endpoint(control, fallback=FALLBACK, shadows=shadows, shadow_budget_s=0.3,
                           log_path=tmp_path / "e.jsonl")  # fmt: skip
    try:
        answers = run(app, [request(1)])
    finally:
        hold.set()
    assert answers[0].json() == {"target_id": SALES[0], "target_type": "callcenter"}
    (rec,) = requests_of(app)
    assert rec["outcome"] == "ok" and rec["rule"] == "sales" and rec["fallback"] is False
    results = {s["name"]: s for s in rec["shadows"]}
    assert list(results) == list(shadows)  # in the order given
    assert {n: r["outcome"] for n, r in results.items()} == {
        "raises": "error", "invalid": "error", "garbage": "error", "too_slow": "timeout",
        "no_match": "no_match", "agrees": "ok", "differs": "ok",
    }  # fmt: skip
    assert results["raises"]["error"] == "decide raised KeyError('crm down')"
    assert (
        "target_id" in results["invalid"]["error"] and "not a routing decision" in results["garbage"]["error"]
    )
    assert results["too_slow"]["error"] == "decide did not answer within the 0.3 s budget"
    assert results["no_match"]["decision"] == {"target_id": FALLBACK[0], "target_type": FALLBACK[1]}
    assert results["differs"]["rule"] == "vip" and results["agrees"]["rule"] == "sales"
    for r in results.values():
        assert tuple(r) == ("name", *RESULT_FIELDS) and r["duration_ms"] >= 0
    verdicts = read_experiment(tmp_path / "e.jsonl").shadows.set_index("shadow")["verdict"].to_dict()
    assert verdicts == {
        "raises": "error", "invalid": "error", "garbage": "error", "too_slow": "timeout",
        "no_match": "mismatch", "agrees": "match", "differs": "mismatch",
    }  # fmt: skip


def test_a_shadow_uses_its_own_threads_never_the_controls():
    """A shadow stuck on all its threads is 'busy' for later requests; the control, on its own
    pool of the same size, still answers every request."""
    hold = threading.Event()

    def stuck(req):
        hold.wait(30)

    app = routing_endpoint(
        control, fallback=FALLBACK, shadows={"stuck": stuck}, shadow_budget_s=0.2, max_workers=2
    )
    try:
        answers = [run(app, [request(i)])[0] for i in range(5)]  # one at a time, each record written
        threads = app.state.endpoint._shadow_pools["stuck"].threads
    finally:
        hold.set()
    assert [a.json()["target_id"] for a in answers] == [SALES[0]] * 5
    outcomes = [r["shadows"][0]["outcome"] for r in requests_of(app)]
    assert outcomes == ["timeout", "timeout", "busy", "busy", "busy"]
    assert [r["outcome"] for r in requests_of(app)] == ["ok"] * 5
    assert threads == 2


def test_shadows_wait_while_a_request_is_being_answered():
    """A shadow starts only when no request is being answered: B's shadow waits while A's answer
    is held up, and runs once A is answered."""
    release = threading.Event()
    seen_answering: list[int] = []
    app = None

    def slow_for_a(req):
        if req.call_id == request(1)["call_id"]:
            release.wait(30)
        return control(req)

    def shadow(req):
        seen_answering.append(app.state.endpoint._answering)
        return VIP

    app = routing_endpoint(slow_for_a, fallback=FALLBACK, shadows={"s": shadow})
    kit = app.state.endpoint

    async def scenario():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://endpoint.test") as c:
            a = asyncio.create_task(c.post("/route", json=request(1)))
            while not kit._answering:  # A is being answered (its rule holds it)
                await asyncio.sleep(0)
            b = await c.post("/route", json=request(2))
            for _ in range(1000):  # B's record is queued behind A: its shadow has not started
                if len(kit._waiting) == 1:
                    break
                await asyncio.sleep(0)
            waiting, started_early = len(kit._waiting), list(seen_answering)
            release.set()
            await a
            await kit.drain()
            return b, waiting, started_early

    try:
        b, waiting, started_early = asyncio.run(scenario())
    finally:
        release.set()
    assert b.json()["target_id"] == SALES[0]
    assert waiting == 1 and started_early == []
    assert seen_answering == [0, 0]  # both shadows ran when nothing was being answered
    assert [r["shadows"][0]["outcome"] for r in requests_of(app)] == ["ok", "ok"]


def test_a_shadow_kept_waiting_past_its_budget_is_not_run_and_its_record_is_written():
    """Under load that never leaves the endpoint idle for a shadow's whole budget, the shadow is
    'busy' (not run): shadows are shed, answers never wait for them."""
    release = threading.Event()
    ran: list[int] = []

    def slow_for_a(req):
        if req.call_id == request(1)["call_id"]:
            release.wait(30)
        return control(req)

    app = routing_endpoint(slow_for_a, fallback=FALLBACK, shadows={"s": lambda req: ran.append(req.call_id)},
                           shadow_budget_s=0.2)  # fmt: skip
    kit = app.state.endpoint

    async def scenario():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://endpoint.test") as c:
            a = asyncio.create_task(c.post("/route", json=request(1)))
            while not kit._answering:
                await asyncio.sleep(0)
            await c.post("/route", json=request(2))
            while not any(r.get("call_id") == request(2)["call_id"] for r in kit.log.records()):
                await asyncio.sleep(0.01)  # B's record: written once its shadow was shed (0.2 s)
            release.set()
            await a
            await kit.drain()

    try:
        asyncio.run(scenario())
    finally:
        release.set()
    b = next(r for r in requests_of(app) if r["call_id"] == request(2)["call_id"])
    assert b["outcome"] == "ok" and b["shadows"][0]["outcome"] == "busy"
    assert b["shadows"][0]["error"].startswith("not run: the endpoint was answering requests")
    assert request(2)["call_id"] not in ran


def test_shadows_are_not_run_on_refused_requests():
    app = routing_endpoint(control, fallback=FALLBACK, shadows={"s": control}, secret="s" * 40)
    answers = run(app, [request(1)])  # unsigned: 401
    assert answers[0].status_code == 401
    (rec,) = requests_of(app)
    assert rec["shadows"] == [] and rec["side"] is None


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"shadows": {"control": control}}, "shadows"),
        ({"shadows": {"": control}}, "shadows"),
        ({"shadows": [control]}, "shadows"),
        ({"shadows": {"s": 42}}, "decide"),
        ({"shadows": {"s": control}, "shadow_budget_s": 5.0}, "shadow_budget_s"),
        ({"shadows": {"s": control}, "shadow_budget_s": 0}, "shadow_budget_s"),
        ({"shadows": {"s": control}, "shadow_budget_s": {"t": 1.0}}, "shadow_budget_s"),
    ],
)
def test_bad_shadow_settings_are_refused_naming_the_field(kwargs, field):
    with pytest.raises(ValidationError) as err:
        routing_endpoint(control, fallback=FALLBACK, **kwargs)
    assert err.value.field == field


# --------------------------------------------------------------------------- directory, matrices, reload

BAD_TARGETS = """rule,internal_number,target_id,target_type
sales,+14155550142,5002000000000201,callcenter
overflow,+14155550199,5002000000000299,callcenter
retired,+16285550177,5001000000000999,department
default,,5002000000000202,callcenter
"""


def test_a_shadow_whose_targets_are_not_in_the_directory_is_refused_naming_the_rows(tmp_path):
    directory = Directory(tuple(all_targets()))
    rules = load_matrix(BAD_TARGETS, timezone="UTC")
    with pytest.raises(ValidationError) as err:
        routing_endpoint(control, fallback=FALLBACK, shadows={"candidate": rules}, directory=directory)
    message = str(err.value)
    assert err.value.field == "shadow 'candidate'"
    assert (
        "row 2 (rule 'overflow'), column 'target_id': callcenter 5002000000000299 is not in the directory"
        in message
    )
    assert "row 3 (rule 'retired')" in message and "row 1" not in message
    path = tmp_path / "bad.csv"
    path.write_text(BAD_TARGETS)
    with pytest.raises(ValidationError, match=r"(?s)shadow 'candidate'.*row 2 \(rule 'overflow'\)"):
        routing_endpoint(control, fallback=FALLBACK, shadows={"candidate": MatrixSource(path, timezone="UTC")},
                         directory=directory)  # fmt: skip
    # the control is checked the same way (a matrix error, as before)
    with pytest.raises(MatrixError, match="row 2"):
        routing_endpoint(MatrixSource(path, timezone="UTC"), directory=directory)


def test_with_a_directory_a_python_shadow_naming_an_unknown_target_is_an_error_per_request():
    directory = Directory(tuple(all_targets()))
    app = routing_endpoint(control, fallback=FALLBACK, directory=directory,
                           shadows={"retired": lambda req: (5002000000000299, "callcenter")})  # fmt: skip
    run(app, [request(1)])
    (shadow,) = requests_of(app)[0]["shadows"]
    assert (
        shadow["outcome"] == "error" and "5002000000000299 is not in the company directory" in shadow["error"]
    )


MATRIX_A = """rule,internal_number,target_id,target_type
a_sales,+14155550142,5002000000000201,callcenter
default,,5002000000000202,callcenter
"""
MATRIX_B = MATRIX_A.replace("a_sales,+14155550142,5002000000000201", "b_sales,+14155550142,5002000000000204")


def test_matrix_shadows_reload_with_the_control_and_a_bad_one_keeps_the_old(tmp_path):
    control_csv, shadow_csv = tmp_path / "control.csv", tmp_path / "shadow.csv"
    control_csv.write_text(MATRIX_A)
    shadow_csv.write_text(MATRIX_A)
    app = routing_endpoint(
        MatrixSource(control_csv, timezone="UTC"),
        shadows={"candidate": MatrixSource(shadow_csv, timezone="UTC")},
    )
    kit = app.state.endpoint
    run(app, [request(1)])
    shadow_csv.write_text(MATRIX_B)
    assert kit.reload().ok
    run(app, [request(2)])
    shadow_csv.write_text("rule,target_id\nbroken,,\n")
    refused = kit.reload()
    assert not refused.ok and refused.error.startswith("shadow 'candidate': invalid routing matrix")
    run(app, [request(3)])
    rules = [r["shadows"][0]["rule"] for r in requests_of(app)]
    assert rules == ["a_sales", "b_sales", "b_sales"]  # the refused reload kept the loaded shadow
    events = [r for r in kit.log.records() if r.get("event") == "reload"]
    assert [e["ok"] for e in events] == [True, True, False]
    assert events[1]["shadows"][0]["shadow"] == "candidate" and events[1]["shadows"][0]["rules"] == 2
    assert kit.rules.shadow("candidate").reloadable


# --------------------------------------------------------------------------- the log: version 2 and version 1


def test_read_calls_takes_version_2_logs_on_its_vectorised_path_and_equals_the_reference(
    tmp_path, monkeypatch
):
    path = tmp_path / "v2.jsonl"
    app = routing_endpoint(control, fallback=FALLBACK, log_path=path, canary={"candidate": 0.5},
                           shadows={"candidate": lambda req: VIP, "no_opinion": lambda req: None})  # fmt: skip
    run(app, [request(i) for i in range(80)])
    fast = read_calls(path)

    def reference_only(*args, **kwargs):
        raise AssertionError("a version-2 record left the vectorised path")

    with monkeypatch.context() as mp:
        mp.setattr(call_reader.CallReader, "_record_line", reference_only)
        assert read_calls(path).calls.equals(fast.calls)
    with monkeypatch.context() as mp:
        mp.setattr(call_reader, "_arrow_buf", lambda buf, newlines=None: None)
        reference = read_calls(path)
    pd.testing.assert_frame_equal(fast.calls, reference.calls)
    assert len(fast.calls) == 80 and fast.skipped == reference.skipped == {"canary": 1}
    # a canary answer is what was sent: its logged decision is the candidate's
    on_candidate = [r["call_id"] for r in requests_of(app) if r["answered_by"] == "candidate"]
    logged = fast.calls.set_index("call_id")["logged_target_id"]
    assert on_candidate and all(logged[c] == VIP[0] for c in on_candidate)


V1_LINES = [
    {"v": 1, "ts": 1_791_820_800_000, "call_id": 7_000_000_000_000_001, "payload": request(1), "signed": True,
     "decision": {"target_id": SALES[0], "target_type": "callcenter"}, "rule": "sales", "fallback": False,
     "status": 200, "latency_ms": 3.5, "outcome": "ok", "error": None},
    {"v": 1, "ts": 1_791_820_860_000, "call_id": None, "payload": None, "signed": False, "decision": None,
     "rule": None, "fallback": False, "status": 401, "latency_ms": 0.5, "outcome": "unauthorized",
     "error": "unsigned request"},
    {"v": 1, "event": "reload", "ts": 1_791_820_870_000, "ok": True, "trigger": "start", "name": "m",
     "sha256": "ab", "rules": 2, "serving_sha256": "ab", "error": None, "pid": 1},
]  # fmt: skip


def test_version_1_logs_still_read_everywhere(tmp_path, monkeypatch):
    path = tmp_path / "v1.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in V1_LINES))
    calls = read_calls(path)
    with monkeypatch.context() as mp:
        mp.setattr(call_reader, "_arrow_buf", lambda buf, newlines=None: None)
        reference = read_calls(path)
    pd.testing.assert_frame_equal(calls.calls, reference.calls)
    assert calls.calls["logged_rule"].tolist() == ["sales"] and calls.skipped == {"reload": 1}
    assert read_log(path).frame["status"].tolist() == [200, 401]
    assert read_endpoint_log(path).attempts["outcome"].tolist() == ["ok", "http_status"]
    exp = read_experiment(path)
    assert len(exp.frame) == 1 and exp.shadows.empty and exp.frame["side"].isna().all()
    assert exp.frame["control_rule"].tolist() == ["sales"] and exp.frame["control_outcome"].tolist() == ["ok"]
    assert exp.rejects["kind"].tolist() == ["logged error"]
    assert shadow_report(path).summary.empty
    assert canary_report(path).table.empty


def test_a_corrupt_line_is_rejected_by_the_reports_with_its_line_and_reason(tmp_path):
    path = tmp_path / "e.jsonl"
    app = routing_endpoint(control, fallback=FALLBACK, log_path=path, shadows={"s": lambda req: VIP})
    run(app, [request(1), request(2)])
    good = path.read_text().splitlines()
    broken = json.loads(good[0])
    broken["shadows"][0]["decision"] = {"target_id": -5, "target_type": "callcenter"}
    odd = json.loads(good[1])
    odd["side"] = 7
    path.write_text(
        "\n".join([good[0], '{"v": 2, "ts": ', json.dumps(broken), json.dumps(odd), good[1]]) + "\n"
    )
    report = shadow_report(path)
    assert report.summary["requests"].tolist() == [2]
    reasons = report.rejects.set_index("line")["reason"].to_dict()
    assert reasons[2].startswith("line 2: not JSON")
    assert (
        reasons[3]
        == "line 3: shadows[0].decision {'target_id': -5, 'target_type': 'callcenter'} is not a target"
    )
    assert reasons[4] == "line 4: side 7 is not text"
    assert canary_report(path).rejects["line"].tolist() == [2, 3, 4]


def test_decision_objects_of_any_accepted_shape_are_logged_alike():
    app = routing_endpoint(control, fallback=FALLBACK, shadows={
        "decision": lambda req: RoutingDecision(*VIP), "tuple": lambda req: VIP, "dict": lambda req: {
            "target_id": str(VIP[0]), "target_type": VIP[1]}})  # fmt: skip
    run(app, [request(1)])
    decisions = {s["name"]: s["decision"] for s in requests_of(app)[0]["shadows"]}
    assert set(map(json.dumps, decisions.values())) == {
        json.dumps({"target_id": VIP[0], "target_type": VIP[1]})
    }


def test_the_clock_stamps_records_and_events(tmp_path):
    clock = SimulatedClock(START)
    app = routing_endpoint(control, fallback=FALLBACK, clock=clock, shadows={"c": control}, canary={"c": 0.2})
    run(app, [request(1)])
    stamps = {r.get("event", "request"): r["ts"] for r in app.state.endpoint.log.records()}
    assert stamps == {"canary": clock.now_ms(), "request": clock.now_ms()}
