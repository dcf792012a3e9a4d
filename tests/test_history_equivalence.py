"""Replay and health on Dialpad's call history give the same answers as on the endpoint log of the
same calls.

* end to end, over loopback HTTP: a sandbox router in front of an endpoint-kit endpoint that runs
  a routing matrix; good calls, then a secret the endpoint does not share (401s) until the router
  disables itself; then ``compare`` and ``simulate`` on ``client.calls()`` and on the kit's log;
* property-tested: any sequence of answers, errors and timeouts written both as endpoint-log
  records and as CallProto records reads into the same attempts and the same logged decisions.
"""

from __future__ import annotations

import json
import tempfile
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dialpad_nb import compare, from_dialpad_calls, load_matrix, read_calls, read_endpoint_log
from dialpad_nb.api.client import DialpadClient
from dialpad_nb.core.endpoint_log import make_record
from dialpad_nb.core.history import (
    call_proto,
    contact,
    error_response,
    routing_breadcrumb,
    simulated_timeline,
)
from dialpad_nb.core.policy import DIALPAD
from dialpad_nb.endpoint import routing_endpoint, serve_endpoint
from dialpad_nb.health import from_sandbox, simulate, window_summary
from dialpad_nb.samples.company import all_targets

SECRET = "equivalence-secret-0123456789abcdefgh"
CURRENT = """rule,external_number,target_id,target_type
seattle,prefix:+1206,5002000000000205,callcenter
vip,prefix:+1646,5002000000000204,callcenter
default,,5002000000000202,callcenter
"""
CANDIDATE = """rule,external_number,target_id,target_type
seattle,prefix:+1206,5002000000000206,callcenter
sf,prefix:+1415,5002000000000201,callcenter
default,,5002000000000202,callcenter
"""
CALLERS = ["+12065550101", "+14155550102", "+16465550103", "+13125550104", "+14155550105"]
COMMON = ["call_id", "outcome", "is_error", "error_count", "disabled_now", "requested"]


@pytest.mark.http
def test_replay_and_health_agree_on_call_history_and_on_the_endpoint_log(sandbox, tmp_path):
    directory = all_targets()
    current = load_matrix(CURRENT, timezone="UTC", directory=directory)
    candidate = load_matrix(CANDIDATE, timezone="UTC", directory=directory)
    log_path = tmp_path / "endpoint.jsonl"
    kit = routing_endpoint(current, secret=SECRET, fallback=(5002000000000202, "callcenter"), log_path=log_path,
                           clock=sandbox.clock)  # fmt: skip
    served = serve_endpoint(kit)
    client = DialpadClient(base_url=sandbox.url, api_key=sandbox.api_key, clock=sandbox.clock)
    client.attach_sandbox(sandbox, owned=False)
    try:
        router = client.create_router(
            name="Twin line", routing_url=served.url, default_target="Reception", secret=SECRET
        )
        number = client.assign_number(router.id).number
        start = client.control.clock()
        good = [{"to": number, "from": CALLERS[i % 5], "at": start + (i + 1) * 60_000} for i in range(30)]
        client.control.place_calls(good)
        client.control.advance(300)
        client.update_router(
            router.id, secret="a-secret-the-endpoint-does-not-know-123"
        )  # the endpoint now answers 401
        t = client.control.clock()
        client.control.place_calls(
            [{"to": number, "from": CALLERS[i % 5], "at": t + (i + 1) * 60_000} for i in range(14)]
        )
        history = client.calls(router, since=timedelta(days=1), progress=False)
        truth = from_sandbox(client.control.attempts(router.id)).attempts  # the sandbox's own attempts
    finally:
        served.stop()
        client.close()

    # health: the same outcomes, counts and disable from both records; history also sees the skipped calls
    from_history = simulate(from_dialpad_calls(history).attempts)
    from_log = simulate(read_endpoint_log(log_path, router_id=router.id).attempts)
    assert from_history["outcome"].tolist() == truth["outcome"].tolist()  # Dialpad's own record: exact
    assert from_history["error_count"].tolist() == truth["error_count"].tolist()
    assert from_history["outcome"].value_counts()[["ok", "http_status", "skipped_disabled"]].tolist() == [
        30,
        11,
        3,
    ]
    # a refused (401) request has no call id in the endpoint's log: match the calls by time (the
    # kit stamps requests with the sandbox clock; the calls are a minute apart)
    both = from_history.merge(from_log, on="time", suffixes=("", "_log"))
    assert len(both) == len(from_log) == 41  # every call the endpoint saw
    for column in COMMON[1:]:
        assert both[column].tolist() == both[f"{column}_log"].tolist(), column
    sums = window_summary(from_history), window_summary(from_log)
    for column in ("errors", "disables", "first_disable", "max_error_count"):
        assert sums[0][column].tolist() == sums[1][column].tolist(), column

    # replay: the logged decision on history is what Dialpad used; where the endpoint answered, it
    # is the endpoint's decision, and the candidate's comparison is the same call for call
    hist_calls = read_calls(history)
    log_calls = read_calls(log_path)
    assert (
        len(hist_calls.calls) == 44 and len(log_calls.calls) == 30 and len(log_calls.rejects) == 11
    )  # 401s: no payload
    answered = hist_calls.calls[hist_calls.calls["call_id"].isin(log_calls.calls["call_id"])]
    on_history = compare(answered.sort_values("call_id", ignore_index=True), candidate, baseline="logged")
    on_log = compare(log_calls.calls.sort_values("call_id", ignore_index=True), candidate, baseline="logged")
    assert str(on_history.summary) == str(on_log.summary)
    columns = ["call_id", "before_target_id", "before_name", "after_target_id", "after_name", "changed"]
    pd.testing.assert_frame_equal(
        on_history.decisions[columns].reset_index(drop=True), on_log.decisions[columns].reset_index(drop=True)
    )
    assert on_log.summary.changed > 0
    everything = compare(hist_calls.calls, candidate, baseline="logged")
    assert everything.summary.with_baseline == 41 and everything.summary.no_baseline == 3  # the skipped calls


# --------------------------------------------------------------------------- property

ANSWERS = st.sampled_from(
    [
        ("ok", 5002000000000202),
        ("ok", 5002000000000204),
        ("http_status", 503),
        ("http_status", 401),
        ("timeout", 200),
    ]
)


def _twin_records(answers: list[tuple[str, int]], gaps: list[int]):
    """The same calls as the endpoint kit logs them and as Dialpad's history records them."""
    log, calls = [], []
    t = 1_767_603_600_000
    for i, ((kind, value), gap) in enumerate(zip(answers, gaps, strict=True)):
        t += gap
        call_id = 7_000_000_000_000_001 + i
        request = {"date_started": t, "call_id": call_id, "external_number": "+14155550123",
                   "internal_number": "+14155551001", "contact_id": None, "contact_type": None}  # fmt: skip
        default = (5001000000000105, "department")
        if kind == "ok":
            decision = {"target_id": value, "target_type": "callcenter"}
            log.append(make_record(ts=t, call_id=call_id, payload=request, signed=True, decision=decision, rule="r",
                                   fallback=False, status=200, latency_ms=20, outcome="ok", error=None))  # fmt: skip
            response, target = decision, (value, "callcenter")
        elif kind == "timeout":
            decision = {"target_id": 5002000000000202, "target_type": "callcenter"}
            log.append(make_record(ts=t, call_id=call_id, payload=request, signed=True, decision=decision, rule="r",
                                   fallback=False, status=200, latency_ms=DIALPAD.deadline_ms + 500, outcome="ok",
                                   error=None))  # fmt: skip
            response, target = error_response("timeout", status=None, latency_ms=DIALPAD.deadline_ms), default
        else:
            log.append(make_record(ts=t, call_id=call_id, payload=None, signed=True, decision=None, rule=None,
                                   fallback=False, status=value, latency_ms=3, outcome="unauthorized",
                                   error="x"))  # fmt: skip
            response, target = error_response("http_status", status=value, latency_ms=3), default
        crumb = routing_breadcrumb(date=t, url="https://ops.example/r", request=request, response=response,
                                   target_id=target[0], target_type=target[1])  # fmt: skip
        calls.append(
            call_proto(
                call_id=call_id,
                date_started=t,
                timeline=simulated_timeline(0, call_id, t),
                external_number="+14155550123",
                internal_number="+14155551001",
                target=contact(*target),
                entry_point=contact(7, "callrouter"),
                breadcrumbs=[crumb],
            )  # fmt: skip
        )
    return log, calls


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 40).flatmap(lambda n: st.tuples(st.lists(ANSWERS, min_size=n, max_size=n),
                                                       st.lists(st.integers(0, 900_000), min_size=n, max_size=n))))  # fmt: skip
def test_any_answers_read_the_same_from_the_log_and_from_history(case):
    answers, gaps = case
    log, calls = _twin_records(answers, gaps)
    from_log = read_endpoint_log(log, router_id=7).attempts
    from_history = from_dialpad_calls(calls).attempts
    assert from_history["outcome"].tolist() == from_log["outcome"].tolist()
    assert from_history["http_status"].fillna(200).tolist() == from_log["http_status"].tolist()
    sim_h, sim_l = simulate(from_history), simulate(from_log)
    for column in COMMON:
        assert sim_h[column].tolist() == sim_l[column].tolist(), column
    # where the endpoint's answer was used, the logged decision is the same; after an error (a late
    # answer included) history logs the default Dialpad used, the endpoint log its own late answer
    answered = [c["call_id"] for c, (kind, _) in zip(calls, answers, strict=True) if kind == "ok"]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "endpoint.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in log))
        replay_log = read_calls(path).calls.set_index("call_id").loc[answered].reset_index()
    replay_history = read_calls(calls).calls
    ok = replay_history.set_index("call_id").loc[answered].reset_index()
    assert len(replay_history) == len(calls)  # every call is replayable from history
    for column in (
        "call_id",
        "date_started",
        "external_number",
        "internal_number",
        "logged_target_id",
        "logged_target_type",
    ):
        assert ok[column].tolist() == replay_log[column].tolist(), column
    errors = replay_history.set_index("call_id").drop(index=answered)
    assert (errors["logged_target_id"] == 5001000000000105).all()
