"""The endpoint kit under hostile input (issue #9): every request an answer and a log line; bounded
bodies, body-read time and rule threads."""

from __future__ import annotations

import asyncio
import json
import socket
import threading

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dialpad_nb.core.clock import SimulatedClock
from dialpad_nb.core.policy import DIALPAD
from dialpad_nb.core.signing import sign
from dialpad_nb.endpoint.app import routing_endpoint, serve_endpoint
from tests.test_endpoint import FALLBACK, REQ, SALES, SECRET, SUPPORT, ASGIClient

START = "2026-01-05T09:00:00Z"


def to_sales(request):
    return (SALES, "callcenter")


def make(decide=to_sales, **kw):
    kw.setdefault("fallback", FALLBACK)
    kw.setdefault("clock", SimulatedClock(START))
    app = routing_endpoint(decide, **kw)
    return app, ASGIClient(app)


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        (b'{"a":' * 9_000 + b"1" + b"}" * 9_000, "nested deeper"),  # 54 KB: inside the size limit
        (b'{"date_started": 1' + b"0" * 5000 + b', "call_id": 1}', "digits"),
        (b'{"date_started": NaN, "call_id": 1}', "NaN"),
        (b'{"date_started": 1e400, "call_id": 1}', "finite"),
        (b'{"date_started": 17676036e5, "call_id": "\\ud800"}', "lone surrogate"),
        (b'["' + b"x" * 10 + b'"', "not valid JSON"),
    ],
)
@pytest.mark.parametrize("secret", [None, SECRET])
def test_hostile_json_is_a_400_with_a_log_line(raw, needle, secret):
    app, client = make(secret=secret)
    r = client.post("/", content=raw, headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and needle in r.json()["error"]["message"]
    (record,) = app.state.endpoint.log.records()
    assert record["status"] == 400 and record["outcome"] == "bad_request" and needle in record["error"]
    json.dumps(record, allow_nan=False)  # the log line itself is strict JSON


def test_a_body_over_the_limit_is_a_413_declared_or_streamed():
    app, client = make(max_body_bytes=1000)
    token = "x" * 5_000_000  # a 5 MB token: refused from its Content-Length, before it is read
    r = client.post("/", content=token.encode())
    assert r.status_code == 413

    async def chunks():
        for _ in range(10):
            yield b"x" * 500

    r = client.post("/", content=chunks())  # no Content-Length: counted as it arrives
    assert r.status_code == 413
    assert [rec["status"] for rec in app.state.endpoint.log.records()] == [413, 413]


def test_body_timeout_must_fit_inside_the_budget():
    from dialpad_nb.core.errors import ValidationError

    with pytest.raises(ValidationError, match="body_timeout_s"):
        routing_endpoint(to_sales, fallback=FALLBACK, budget_s=1.0, body_timeout_s=1.5)
    kit = routing_endpoint(to_sales, fallback=FALLBACK, budget_s=0.2).state.endpoint
    assert kit.body_timeout_s == 0.1 and kit.max_body_bytes == 64 * 1024


@pytest.mark.http
def test_a_body_that_stops_half_way_gets_an_answer_and_a_log_line():
    app = routing_endpoint(to_sales, fallback=FALLBACK, budget_s=1.0, body_timeout_s=0.3)
    served = serve_endpoint(app)
    try:
        host, port = served.url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            sock.sendall(
                b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
                + b'{"date_started": 1'
            )
            answer = b""
            while b"}}" not in answer:  # waits for the endpoint: it must answer, not hang
                chunk = sock.recv(4096)
                if not chunk:
                    break
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 408")
        assert b"body not complete" in answer
        record = app.state.endpoint.log.records()[-1]
        assert record["status"] == 408 and record["outcome"] == "bad_request"
    finally:
        served.stop()


def test_slow_rules_never_hold_more_threads_than_max_workers():
    release = threading.Event()

    def stuck(request):
        release.wait(30)
        return (SALES, "callcenter")

    app, _ = make(stuck, budget_s=1.0, max_workers=3)
    kit = app.state.endpoint

    async def burst():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://endpoint.test") as c:
            return await asyncio.gather(*(c.post("/", json={**REQ, "call_id": 10 + i}) for i in range(12)))

    try:
        answers = asyncio.run(burst())
        assert all(
            a.status_code == 200 and a.json() == {"target_id": SUPPORT, "target_type": "department"}
            for a in answers
        )
        assert kit._pool.threads == 3  # not 12
        errors = sorted(r["error"] for r in kit.log.records())
        busy = [e for e in errors if "rule workers are busy" in e]
        late = [e for e in errors if "did not answer within" in e]
        assert len(busy) == 9 and len(late) == 3
    finally:
        release.set()


# --------------------------------------------------------------------------- property: any body, any headers

HEADER = st.tuples(
    st.sampled_from(["content-type", "x-junk", "authorization", "content-encoding", "transfer-encoding-x"]),
    st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=30),
)


def _bodies():
    token = sign(REQ, SECRET)
    return st.one_of(
        st.binary(max_size=300),
        st.just(json.dumps(REQ).encode()),
        st.just(token.encode()),
        st.just(json.dumps({"token": token}).encode()),
        st.builds(lambda n: b"[" * n + b"]" * n, st.integers(1, 50_000)),
        st.builds(
            lambda d: json.dumps({**REQ, **d}).encode("utf-8", "surrogatepass"),
            st.dictionaries(
                st.sampled_from(list(REQ)),
                st.none() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
                max_size=3,
            ),
        ),
    )


@settings(max_examples=120, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(body=_bodies(), headers=st.lists(HEADER, max_size=4), signed=st.booleans())
def test_any_body_and_headers_get_an_answer_before_the_deadline_and_one_log_line(body, headers, signed):
    app, client = make(secret=SECRET if signed else None, max_body_bytes=100_000)
    r = client.post("/", content=body, headers=dict(headers))
    assert r.status_code in (200, 400, 401, 408, 413), r.text
    records = app.state.endpoint.log.records()
    assert len(records) == 1 and records[0]["status"] == r.status_code
    assert records[0]["latency_ms"] < DIALPAD.deadline_ms
    json.dumps(records[0], allow_nan=False)
