"""The sticky canary: callers split by a salted hash, a failing candidate answer replaced by the
control's, the automatic stop decided once under concurrency (and shared between worker
processes through the state file), the alert, and the admin route behind its own token."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import threading

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dialpad_nb.core.clock import SimulatedClock
from dialpad_nb.core.errors import Unauthorized, ValidationError
from dialpad_nb.endpoint import Canary, CanaryAdmin, StopRule, caller_bucket, routing_endpoint, serve_endpoint
from dialpad_nb.samples import AlertInbox
from tests.helpers_metrics import value

SALES = (5002000000000201, "callcenter")
VIP = (5002000000000204, "callcenter")
FALLBACK = (5001000000000105, "department")
ADMIN = "admin-token-for-tests-0123456789abcdefgh"
SECRET = "router-secret-for-tests-0123456789abcdef"


def request(i: int, caller: str | None = None) -> dict:
    return {
        "date_started": 1_791_820_800_000 + i * 60_000,
        "call_id": 7_000_000_000_000_000 + i,
        "external_number": caller or f"+1206555{i % 10_000:04d}",
        "internal_number": "+14155550142",
        "contact_id": None,
        "contact_type": None,
    }


def control(req):
    return {"target_id": SALES[0], "target_type": SALES[1], "rule": "sales"}


def run(app, bodies):
    async def go():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://endpoint.test") as c:
            answers = [await c.post("/route", json=b) for b in bodies]
        await app.state.endpoint.drain()
        return answers

    return asyncio.run(go())


def requests_of(app) -> list[dict]:
    return sorted(
        (r for r in app.state.endpoint.log.records() if "event" not in r), key=lambda r: r["call_id"]
    )


def events_of(app, action: str | None = None) -> list[dict]:
    return [
        r for r in app.state.endpoint.log.records()
        if r.get("event") == "canary" and (action is None or r["action"] == action)
    ]  # fmt: skip


RULE = StopRule(min_calls=20, margin=0.05)


def make_canary(shares, *, log=None, rule=RULE, **kw) -> Canary:
    records = [] if log is None else log
    return Canary(
        shares, candidates=["candidate", "other"], log=records.append, clock=SimulatedClock(), rule=rule, **kw
    )


# --------------------------------------------------------------------------- the split


@given(share_a=st.floats(0, 1), share_b=st.floats(0, 1), salt=st.text(min_size=1, max_size=20))
@settings(max_examples=60, deadline=None)
def test_the_split_is_sticky_and_raising_a_share_keeps_everyone_on_the_candidates_side(
    share_a, share_b, salt
):
    low, high = sorted((share_a, share_b))
    callers = [f"+1415555{i:04d}" for i in range(300)]
    narrow = make_canary({"candidate": low}, salt=salt)
    wide = make_canary({"candidate": high}, salt=salt)
    on_narrow = {c for c in callers if narrow.side(c) == "candidate"}
    on_wide = {c for c in callers if wide.side(c) == "candidate"}
    assert on_narrow <= on_wide
    assert on_narrow == {c for c in callers if narrow.side(c) == "candidate"}  # the same every time
    assert all(0 <= caller_bucket(c, "candidate", salt) < 1 for c in callers)


def test_the_share_is_the_share_of_callers_and_the_salt_draws_others():
    callers = [f"+1206555{i:04d}" for i in range(20_000)]
    share = sum(caller_bucket(c, "candidate") < 0.05 for c in callers) / len(callers)
    assert abs(share - 0.05) < 0.01  # 20,000 callers: 5 % +- 0.3 % (1 sd); 0.01 is > 3 sd
    one = {c for c in callers if caller_bucket(c, "candidate") < 0.05}
    other = {c for c in callers if caller_bucket(c, "candidate", salt="experiment-2") < 0.05}
    assert len(one & other) < len(one) / 2  # another salt draws (mostly) other callers
    assert caller_bucket("+12065550100", "a") != caller_bucket("+12065550100", "b")


@pytest.mark.parametrize("share", [-0.1, 1.5, math.nan, math.inf, "0.1", True, None])
def test_a_share_outside_0_to_1_is_a_clear_error(share):
    with pytest.raises(ValidationError) as err:
        routing_endpoint(
            control, fallback=FALLBACK, shadows={"candidate": control}, canary={"candidate": share}
        )
    assert err.value.field == "canary['candidate']"
    assert "between 0 and 1" in str(err.value) or "a number from 0 to 1" in str(err.value)


def test_a_canary_names_one_of_the_shadows():
    with pytest.raises(ValidationError, match=r"'candidat' is not a shadow.*shadows: 'candidate'"):
        routing_endpoint(control, fallback=FALLBACK, shadows={"candidate": control}, canary={"candidat": 0.1})
    with pytest.raises(ValidationError, match="must be one of the shadows"):
        routing_endpoint(control, fallback=FALLBACK, canary={"candidate": 0.1})


# --------------------------------------------------------------------------- answers


def test_a_failing_candidate_answer_is_replaced_by_the_controls_before_it_is_sent():
    def candidate(req):
        n = int(req.external_number[-4:])
        if n % 4 == 0:
            raise RuntimeError("lookup failed")
        if n % 4 == 1:
            return (5002000000000299, 42)  # not a target type
        if n % 4 == 2:
            return None  # no opinion: the candidate's fallback
        return VIP

    alone = routing_endpoint(control, fallback=FALLBACK)
    app = routing_endpoint(control, fallback=FALLBACK, shadows={"candidate": candidate}, canary={"candidate": 1.0},
                           canary_min_calls=10_000)  # fmt: skip
    bodies = [request(i) for i in range(40)]
    with_canary = [a.json() for a in run(app, bodies)]
    control_only = [a.json() for a in run(alone, bodies)]
    records = requests_of(app)
    for body, answer, alone_answer, rec in zip(bodies, with_canary, control_only, records, strict=True):
        n = int(body["external_number"][-4:]) % 4
        assert rec["side"] == "candidate"
        if n in (0, 1):  # failed: the control's answer, exactly what the control alone sends
            assert answer == alone_answer and rec["answered_by"] == "control" and rec["rule"] == "sales"
        elif n == 2:
            assert (
                answer == {"target_id": FALLBACK[0], "target_type": FALLBACK[1]} and rec["fallback"] is True
            )
            assert rec["answered_by"] == "candidate"
        else:
            assert (
                answer == {"target_id": VIP[0], "target_type": VIP[1]} and rec["answered_by"] == "candidate"
            )
        assert rec["control"]["decision"] == {"target_id": SALES[0], "target_type": SALES[1]}


@pytest.mark.http
def test_a_broken_candidate_is_stopped_at_once_logged_and_alerted_and_the_control_answers_from_then_on(
    caplog,
):
    inbox = AlertInbox.serve()
    app = routing_endpoint(
        control, fallback=FALLBACK, shadows={"candidate": lambda req: 1 / 0}, canary={"candidate": 0.5},
        canary_min_calls=10, canary_margin=0.1, alert_url=inbox.url,
    )  # fmt: skip
    served = serve_endpoint(app)
    kit = app.state.endpoint
    try:
        with caplog.at_level(logging.INFO, logger="dialpad_nb.endpoint"), httpx.Client() as c:
            first = [c.post(served.url + "/route", json=request(i)).json() for i in range(9)]
            assert kit.wait_idle(10) and events_of(app, "stop") == []  # 9 counted: not yet
            first.append(c.post(served.url + "/route", json=request(9)).json())
            assert kit.wait_idle(10)
            (stop,) = events_of(app, "stop")  # the 10th count stopped it
            alerts = inbox.wait_for(1)
            later = [c.post(served.url + "/route", json=request(i)).json() for i in range(10, 40)]
            assert kit.wait_idle(10)
        status = kit.canary.status()
        health = httpx.get(served.url + "/healthz").json()
        metrics = httpx.get(served.url + "/metrics").text
    finally:
        served.stop()
        inbox.stop()
    sales = {"target_id": SALES[0], "target_type": SALES[1]}
    assert first + later == [sales] * 40  # never the candidate's (it failed every time): no extra error
    records = requests_of(app)
    assert {r["side"] for r in records[:10]} == {"control", "candidate"}  # both sides before the stop
    assert {r["side"] for r in records[10:]} == {"control"} and {r["answered_by"] for r in records} == {
        "control"
    }
    assert stop["trigger"] == "auto" and stop["candidate"] == "candidate"
    assert (stop["candidate_calls"], stop["candidate_failures"], stop["control_calls"], stop["control_failures"]) == (
        10, 10, 10, 0)  # fmt: skip
    assert "failed 10 of 10 calls (100.0%)" in stop["reason"] and "0 of 10 (0.0%)" in stop["reason"]
    assert (
        status["candidates"]["candidate"]["stopped"] is True
        and status["candidates"]["candidate"]["running"] is False
    )
    assert alerts == [inbox.messages[0]] and "Canary stopped" in alerts[0] and "failed 10 of 10" in alerts[0]
    assert inbox.url not in caplog.text and inbox.url not in json.dumps(health) and inbox.url not in metrics
    assert (
        health["canary"]["alert"]["host"] == "127.0.0.1" and health["canary"]["alert"]["last"]["ok"] is True
    )
    assert value(metrics, "dialpad_endpoint_canary_stopped", candidate="candidate") == 1


def test_after_the_stop_every_caller_is_answered_by_the_control():
    app = routing_endpoint(control, fallback=FALLBACK, shadows={"candidate": lambda req: 1 / 0},
                           canary={"candidate": 0.5}, canary_min_calls=5)  # fmt: skip
    run(app, [request(i) for i in range(5)])
    assert events_of(app, "stop")
    run(app, [request(i) for i in range(5, 60)])
    after = requests_of(app)[5:]
    assert {r["side"] for r in after} == {"control"} and {r["answered_by"] for r in after} == {"control"}


# --------------------------------------------------------------------------- the stop, under concurrency


def test_concurrent_counts_never_double_count_the_stop_decision():
    """16 threads count 2,000 failing candidate evaluations and 2,000 good control ones at once:
    one stop, one event, and counts that add up."""
    log: list[dict] = []
    canary = make_canary({"candidate": 0.5}, log=log, rule=StopRule(min_calls=200, margin=0.05))
    barrier = threading.Barrier(16)

    def worker(k: int) -> None:
        barrier.wait()
        for _ in range(125):
            canary.observe_control(False)
            canary.observe("candidate", True)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stops = [r for r in log if r["action"] == "stop"]
    assert len(stops) == 1
    stop = stops[0]
    assert stop["candidate_calls"] == 200 and stop["candidate_failures"] == 200  # decided at the threshold
    assert stop["control_calls"] >= 199  # the control's count at that moment (its own thread may lead by one)
    assert (
        canary.status()["candidates"]["candidate"]["candidate_calls"] == 200
    )  # nothing counted once stopped


def test_two_workers_sharing_the_state_file_stop_once_and_both_stop(tmp_path):
    state = tmp_path / "canary-state.json"
    log_a, log_b = [], []
    a = make_canary({"candidate": 0.5}, log=log_a, state_path=state, rule=StopRule(min_calls=50, margin=0.05))
    b = make_canary({"candidate": 0.5}, log=log_b, state_path=state, rule=StopRule(min_calls=50, margin=0.05))
    assert [r["action"] for r in log_a] == ["start"] and log_b == []  # the first worker starts it
    on_candidate = next(f"+1206555{i:04d}" for i in range(1000) if a.side(f"+1206555{i:04d}") == "candidate")
    assert b.side(on_candidate) == "candidate"
    barrier = threading.Barrier(2)

    def fail(canary: Canary) -> None:
        barrier.wait()
        for _ in range(60):
            canary.observe_control(False)
            canary.observe("candidate", True)

    threads = [threading.Thread(target=fail, args=(c,)) for c in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stops = [r for r in log_a + log_b if r["action"] == "stop"]
    assert len(stops) == 1  # whichever decided first; the other adopted it from the file
    assert a.side(on_candidate) is None and b.side(on_candidate) is None
    assert json.loads(state.read_text())["candidates"]["candidate"]["stopped"] is True
    # a change made through one worker (the admin route) holds in the other from its next request
    a.resume("candidate", trigger="admin")
    assert b.side(on_candidate) == "candidate"
    b.set_share("candidate", 0.0, trigger="admin")
    assert a.side(on_candidate) is None and a.status()["candidates"]["candidate"]["share"] == 0.0
    # a worker started later (a replaced one) adopts the shared state: no second start
    c = make_canary({"candidate": 0.5}, log=(log_c := []), state_path=state)
    assert log_c == [] and c.status()["candidates"]["candidate"]["share"] == 0.0


def test_the_stop_rule_needs_its_minimum_and_a_margin_over_the_control():
    rule = StopRule(min_calls=20, margin=0.05)
    assert not rule.breached(19, 19, 20, 0)  # not enough calls yet
    assert rule.breached(20, 2, 20, 0)  # 10 % vs 0 %
    assert not rule.breached(20, 2, 20, 1)  # 10 % vs 5 %: exactly the margin, not more
    assert not rule.breached(100, 10, 100, 8)  # 10 % vs 8 %
    assert rule.breached(20, 2, 0, 0)  # no control calls counted: its rate is taken as 0
    for bad in ({"min_calls": 0}, {"margin": 1.0}, {"margin": -0.1}, {"min_calls": True}):
        with pytest.raises(ValidationError):
            StopRule(**bad)


# --------------------------------------------------------------------------- the admin route


@pytest.mark.http
def test_the_admin_route_reads_and_changes_the_canary_behind_its_own_token(tmp_path, caplog):
    log_path = tmp_path / "e.jsonl"
    app = routing_endpoint(control, fallback=FALLBACK, shadows={"candidate": lambda req: VIP, "other": control},
                           canary={"candidate": 0.05}, admin_token=ADMIN, secret=SECRET, log_path=log_path)  # fmt: skip
    served = serve_endpoint(app)
    try:
        with (
            caplog.at_level(logging.INFO, logger="dialpad_nb.endpoint"),
            CanaryAdmin(served.url, ADMIN) as admin,
        ):
            assert admin.status()["candidates"]["candidate"]["share"] == 0.05
            changed = admin.set_share("candidate", 0.25)
            assert changed["changed"] is True and changed["event"]["action"] == "share"
            assert admin.set_share("candidate", 0.25)["changed"] is False
            assert admin.stop("candidate", reason="paged by ops")["canary"]["candidates"]["candidate"][
                "stopped"
            ]
            assert admin.resume("candidate")["event"]["action"] == "resume"
            assert admin.set_share("other", 0.1)["canary"]["candidates"]["other"]["running"] is True
            with pytest.raises(ValidationError) as bad:
                routing_endpoint(control, fallback=FALLBACK, admin_token=SECRET, secret=SECRET)
            assert bad.value.field == "admin_token"
            refused = [
                httpx.get(served.url + "/admin/canary"),
                httpx.get(served.url + "/admin/canary", headers={"Authorization": "Bearer wrong-token"}),
                httpx.post(
                    served.url + "/admin/canary",
                    json={"candidate": "candidate", "share": 1},
                    headers={"Authorization": f"Basic {ADMIN}"},
                ),  # fmt: skip
            ]
            assert [r.status_code for r in refused] == [401, 401, 401]
            with pytest.raises(Unauthorized), CanaryAdmin(served.url, "not-the-token") as intruder:
                intruder.status()
            bodies = [
                {"candidate": "candidate", "share": 1.5},
                {"candidate": "nobody", "share": 0.1},
                {"candidate": "candidate"},
                {"candidate": "candidate", "share": 0.1, "stop": True},
                {"candidate": "candidate", "stop": "yes"},
                {"candidate": "candidate", "colour": "red", "share": 0.1},
                [1, 2],
            ]
            answers = [
                httpx.post(served.url + "/admin/canary", json=b, headers={"Authorization": f"Bearer {ADMIN}"})
                for b in bodies
            ]
            health = httpx.get(served.url + "/healthz").text
            metrics = httpx.get(served.url + "/metrics").text
    finally:
        served.stop()
    assert [a.status_code for a in answers] == [400] * len(bodies)
    messages = [a.json()["error"]["message"] for a in answers]
    assert messages[0].startswith("share['candidate']: a share must be between 0 and 1")
    assert messages[1].startswith("candidate: 'nobody' is not a canary candidate")
    assert "exactly one of share, stop, resume" in messages[2] and "exactly one" in messages[3]
    assert messages[4] == "stop: must be true" and "colour" in messages[5]
    actions = [(e["action"], e["candidate"], e["trigger"]) for e in map(json.loads, log_path.read_text().splitlines())
               if e.get("event") == "canary"]  # fmt: skip
    assert actions == [("start", "candidate", "start"), ("share", "candidate", "admin"), ("stop", "candidate", "admin"),
                       ("resume", "candidate", "admin"), ("share", "other", "admin")]  # fmt: skip
    everything = log_path.read_text() + caplog.text + health + metrics + "".join(a.text for a in answers)
    assert ADMIN not in everything and SECRET not in everything
    assert "without the admin token" in caplog.text


def test_without_an_admin_token_the_route_is_off_and_without_a_canary_it_says_so():
    off = routing_endpoint(control, fallback=FALLBACK, shadows={"c": control}, canary={"c": 0.1})
    no_canary = routing_endpoint(control, fallback=FALLBACK, admin_token=ADMIN)

    async def go():
        out = []
        for app, method, body in (
            (off, "GET", None),
            (no_canary, "GET", None),
            (no_canary, "POST", {"candidate": "c", "share": 0}),
        ):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://e.test") as c:
                out.append(
                    await c.request(
                        method, "/admin/canary", json=body, headers={"Authorization": f"Bearer {ADMIN}"}
                    )
                )
        return out

    answers = asyncio.run(go())
    assert [a.status_code for a in answers] == [404, 200, 409]
    assert answers[1].json() == {"canary": None}
