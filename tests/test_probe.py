"""The HTTP replay probe: Dialpad's request shape, the sandbox's classification, its bounds."""

from __future__ import annotations

import json

import httpx
import pandas as pd
import pytest

from dialpad_nb.core.errors import ValidationError
from dialpad_nb.core.models import RoutingRequest
from dialpad_nb.core.policy import DIALPAD
from dialpad_nb.core.signing import verify
from dialpad_nb.endpoint.app import routing_endpoint, serve_endpoint
from dialpad_nb.health.attempts import ATTEMPT_COLUMNS, read_endpoint_log
from dialpad_nb.health.endpoint_probe import is_loopback_url, probe, routing_requests

SECRET = "probe-test-secret-0123456789abcdef-xyz"
T0 = 1_767_600_000_000
TARGET = 5_002_000_000_000_201
URL = "http://127.0.0.1:9/route"


def payloads(n):
    return [
        {
            "date_started": T0 + i,
            "call_id": 1000 + i,
            "external_number": "+14155550123",
            "internal_number": "+14155550142",
            "contact_id": None,
            "contact_type": None,
        }
        for i in range(n)
    ]


def answer_by_call(request: httpx.Request) -> httpx.Response:
    """call_id % 10 picks the behaviour."""
    body = json.loads(request.content)
    kind = body["call_id"] % 10
    if kind == 1:
        return httpx.Response(500, text="boom")
    if kind == 2:
        return httpx.Response(200, text="not json")
    if kind == 3:
        return httpx.Response(200, json={"target_id": TARGET, "target_type": "spaceship"})
    if kind == 4:
        raise httpx.ReadTimeout("slow", request=request)
    if kind == 5:
        raise httpx.ConnectError("refused", request=request)
    return httpx.Response(200, json={"target_id": TARGET, "target_type": "callcenter"})


def test_outcomes_are_classified_like_the_sandbox():
    res = probe(URL, payloads(6), transport=httpx.MockTransport(answer_by_call), progress=False, router_id=77)
    got = res.attempts.sort_values("call_id")
    assert tuple(res.attempts.columns) == ATTEMPT_COLUMNS
    assert got["outcome"].tolist() == [
        "ok",
        "http_status",
        "invalid_response",
        "unknown_target",
        "timeout",
        "connect_error",
    ]
    assert got["http_status"].tolist()[:4] == [200, 500, 200, 200]
    assert got["target_id"].iloc[0] == TARGET and got["is_default"].tolist() == [False] + [True] * 5
    assert (got["router_id"] == 77).all() and (got["source"] == "probe").all()
    assert res.stopped == "done" and res.sent == 6


def test_unknown_target_ids_via_known_target():
    res = probe(
        URL,
        payloads(1),
        transport=httpx.MockTransport(answer_by_call),
        progress=False,
        unknown_target_reason=lambda tid, ttype: None if tid != TARGET else "not in the company",
    )
    assert res.attempts["outcome"].tolist() == ["unknown_target"]


def test_signed_exactly_like_dialpad_and_json_without_a_secret():
    seen = []

    def handler(request):
        seen.append((request.headers["content-type"], request.content))
        return httpx.Response(200, json={"target_id": TARGET, "target_type": "callcenter"})

    probe(URL, payloads(1), secret=SECRET, transport=httpx.MockTransport(handler), progress=False)
    probe(URL, payloads(1), transport=httpx.MockTransport(handler), progress=False)
    (ctype_signed, body_signed), (ctype_plain, body_plain) = seen
    assert ctype_signed == "application/jwt"
    assert verify(body_signed, SECRET) == payloads(1)[0]
    assert ctype_plain == "application/json"
    assert json.loads(body_plain) == payloads(1)[0] and b" " not in body_plain


def test_refuses_non_loopback_targets_unless_allowed():
    with pytest.raises(ValidationError, match="allow_remote=True") as info:
        probe("https://routing.example.com/x", payloads(1), progress=False)
    assert info.value.field == "url"
    res = probe(
        "https://routing.example.com/x",
        payloads(1),
        allow_remote=True,
        transport=httpx.MockTransport(answer_by_call),
        progress=False,
    )
    assert res.sent == 1
    assert is_loopback_url("http://localhost:8000/") and is_loopback_url("http://[::1]:80/")
    assert is_loopback_url("http://127.0.0.2/") and not is_loopback_url("http://10.0.0.1/")


def test_bounded_by_max_requests():
    res = probe(
        URL, payloads(10), max_requests=3, transport=httpx.MockTransport(answer_by_call), progress=False
    )
    assert res.sent == 3 and res.offered == 10 and res.stopped == "max_requests"


class FakeTime:
    """A timer that only moves when slept on, or by ``step`` per reading."""

    def __init__(self, step=0.0):
        self.now = 0.0
        self.step = step
        self.sleeps = []

    def timer(self):
        self.now += self.step
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(round(seconds, 6))
        self.now += seconds


def test_rate_schedules_requests_and_max_seconds_stops_the_run():
    fake = FakeTime()
    res = probe(
        URL,
        payloads(10),
        rate=4.0,
        max_seconds=1.0,
        concurrency=1,
        transport=httpx.MockTransport(answer_by_call),
        progress=False,
        timer=fake.timer,
        sleep=fake.sleep,
    )
    assert res.sent == 4  # slots at 0, .25, .5, .75 s; the 5th would start at 1.0 s
    assert fake.sleeps == [0.25, 0.25, 0.25]
    assert res.stopped == "max_seconds"


def test_max_seconds_without_a_rate_stops_starting_requests():
    fake = FakeTime(step=0.4)  # every reading of the timer is 0.4 s later
    res = probe(
        URL,
        payloads(10),
        max_seconds=2.0,
        concurrency=1,
        transport=httpx.MockTransport(answer_by_call),
        progress=False,
        timer=fake.timer,
        sleep=fake.sleep,
    )
    assert 0 < res.sent < 10 and res.stopped == "max_seconds"


def test_bad_payloads_are_returned_not_sent():
    items = payloads(2) + [{"call_id": 5}, "junk"]
    reqs, rejects = routing_requests(items)
    assert len(reqs) == 2 and rejects["position"].tolist() == [2, 3]
    assert rejects["reason"].iloc[0].startswith("date_started")


def test_calls_dataframe_input_with_datetimes():
    frame = pd.DataFrame(payloads(2))
    frame["date_started"] = pd.to_datetime(frame["date_started"], unit="ms", utc=True)
    reqs, rejects = routing_requests(frame)
    assert rejects.empty and reqs[1] == RoutingRequest.from_json(payloads(2)[1])


@pytest.mark.http
def test_against_the_endpoint_kit_on_loopback(tmp_path):
    log = tmp_path / "kit.jsonl"
    app = routing_endpoint(
        lambda req: (TARGET, "callcenter", "all"),
        secret=SECRET,
        fallback=(TARGET, "callcenter"),
        log_path=log,
        budget_s=DIALPAD.deadline_s / 2,
    )
    with serve_endpoint(app) as served:
        good = probe(
            served.url, payloads(20), secret=SECRET, concurrency=4, rate=None, progress=False, router_id=9
        )
        wrong = probe(served.url, payloads(3), secret=SECRET[::-1], progress=False)
    assert good.outcome_counts() == {"ok": 20}
    assert wrong.outcome_counts() == {"http_status": 3}
    assert set(wrong.attempts["http_status"]) == {401}
    logged, rejects = read_endpoint_log(log)
    assert rejects.empty and len(logged) == 23
    assert sorted(logged["outcome"].astype(str)) == sorted(["ok"] * 20 + ["http_status"] * 3)


def test_connection_refused_on_loopback_is_a_connect_error():
    import socket

    with socket.socket() as s:  # a port with nobody listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    res = probe(f"http://127.0.0.1:{port}/", payloads(1), progress=False)
    assert res.attempts["outcome"].tolist() == ["connect_error"]


def test_fault_switch_fails_and_restores_deterministically():
    from dialpad_nb.core.serving import serve_app
    from dialpad_nb.health.endpoint_probe import FaultSwitch

    app = routing_endpoint(lambda req: (TARGET, "callcenter"), fallback=(TARGET, "callcenter"))
    switch = FaultSwitch(app)
    with serve_app(switch) as served, httpx.Client(base_url=served.url, trust_env=False) as tc:
        assert tc.post("/", json=payloads(1)[0]).status_code == 200
        switch.fail(503)
        assert repr(switch) == "FaultSwitch(fail 503)"
        resp = tc.post("/", json=payloads(1)[0])
        assert resp.status_code == 503 and resp.json()["error"]["code"] == 503
        switch.restore()
        assert tc.post("/", json=payloads(1)[0]).json() == {"target_id": TARGET, "target_type": "callcenter"}
    assert switch.slow(0.25).mode == "slow 0.25 s"
    with pytest.raises(ValueError, match="status"):
        switch.fail(42)


@pytest.mark.http
def test_fault_switch_slow_mode_makes_dialpad_time_out_on_loopback():
    from dialpad_nb.core.serving import serve_app
    from dialpad_nb.health.endpoint_probe import FaultSwitch

    switch = FaultSwitch(
        routing_endpoint(lambda req: (TARGET, "callcenter"), fallback=(TARGET, "callcenter"))
    )
    short = DIALPAD.replace(deadline_s=0.4)  # short deadline keeps the test fast; the delay is 2.5x it
    with serve_app(switch) as served:
        switch.slow(1.0)
        slow = probe(served.url, payloads(2), policy=short, progress=False)
        switch.restore()
        fine = probe(served.url, payloads(2), policy=short, progress=False)
    assert slow.outcome_counts() == {"timeout": 2}
    assert fine.outcome_counts() == {"ok": 2}


def test_probe_sends_a_calls_dataframe_from_read_calls(tmp_path):
    from dialpad_nb.calls.read import read_calls

    path = tmp_path / "calls.jsonl"
    path.write_text("\n".join(json.dumps(p) for p in payloads(3)) + "\n")
    calls, rejects = read_calls(path)
    assert rejects.empty
    seen = []

    def handler(request):
        seen.append(json.loads(request.content))
        return httpx.Response(200, json={"target_id": TARGET, "target_type": "callcenter"})

    res = probe(URL, calls, transport=httpx.MockTransport(handler), progress=False, concurrency=1)
    assert res.outcome_counts() == {"ok": 3}
    assert sorted(seen, key=lambda p: p["call_id"]) == payloads(3)
