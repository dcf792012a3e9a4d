"""The routing-endpoint kit: JWT checks, payload validation, budget fallback, the JSONL log."""

from __future__ import annotations

import asyncio
import json
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import jwt
import pytest

from dialpad_nb.calls import read_log
from dialpad_nb.core.clock import SimulatedClock
from dialpad_nb.core.errors import ValidationError
from dialpad_nb.core.models import RoutingDecision, RoutingRequest
from dialpad_nb.core.signing import sign
from dialpad_nb.endpoint.app import coerce_decision, load_rules, routing_endpoint, serve_endpoint
from dialpad_nb.endpoint.log import LOG_FIELDS
from dialpad_nb.samples.company import CALLCENTERS, DEPARTMENTS
from tests.helpers_log import log_records

SECRET = "s3cret-for-tests-0123456789abcdefXYZ"
WRONG = "another-secret-0123456789abcdefghijkl"
SALES = CALLCENTERS[0]["id"]
VIP = CALLCENTERS[3]["id"]
SUPPORT = DEPARTMENTS[1]["id"]
FALLBACK = (SUPPORT, "department")
START = "2026-01-05T09:00:00Z"

REQ = {
    "date_started": 1_767_603_600_000,
    "call_id": 1_000_001,
    "external_number": "+14155550123",
    "internal_number": "+14155550100",
    "contact_id": None,
    "contact_type": None,
}


class ASGIClient:
    """Sync calls into an ASGI app through httpx's ASGI transport (no sockets)."""

    def __init__(self, app) -> None:
        self.app = app

    def post(self, url: str, **kw) -> httpx.Response:
        async def go():
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://endpoint.test") as c:
                return await c.post(url, **kw)

        return asyncio.run(go())


def to_sales(request: RoutingRequest) -> RoutingDecision:
    return RoutingDecision(SALES, "callcenter")


def make(decide=to_sales, tmp_path=None, **kw):
    kw.setdefault("fallback", FALLBACK)
    kw.setdefault("clock", SimulatedClock(START))
    log_path = tmp_path / "endpoint.jsonl" if tmp_path is not None else None
    app = routing_endpoint(decide, log_path=log_path, **kw)
    return app, ASGIClient(app)


def only_record(app) -> dict:
    records = app.state.endpoint.log.records()
    assert len(records) == 1
    return records[0]


# --------------------------------------------------------------------------- plain JSON


def test_plain_json_request_is_answered_and_logged(tmp_path):
    app, client = make(tmp_path=tmp_path)
    r = client.post("/route", json=REQ)
    assert r.status_code == 200
    assert r.json() == {"target_id": SALES, "target_type": "callcenter"}
    rec = only_record(app)
    assert tuple(rec) == LOG_FIELDS
    assert rec == {
        "v": 2,
        "ts": 1_767_603_600_000,
        "call_id": 1_000_001,
        "payload": REQ,
        "signed": False,
        "decision": {"target_id": SALES, "target_type": "callcenter"},
        "rule": None,
        "fallback": False,
        "status": 200,
        "latency_ms": rec["latency_ms"],
        "outcome": "ok",
        "error": None,
        "side": None,  # no canary, no shadows: the experiment fields are empty
        "answered_by": None,
        "control": None,
        "shadows": [],
    }
    assert isinstance(rec["latency_ms"], float) and rec["latency_ms"] >= 0
    assert log_records(tmp_path / "endpoint.jsonl") == [rec]


def test_any_path_is_served():
    app, client = make()
    assert client.post("/", json=REQ).status_code == 200
    assert client.post("/a/b/route", json=REQ).status_code == 200


@pytest.mark.parametrize(
    "answer, rule",
    [
        ({"target_id": str(VIP), "target_type": "callcenter", "rule": "vip"}, "vip"),
        ((VIP, "callcenter"), None),
        ((VIP, "callcenter", "vip-tuple"), "vip-tuple"),
        (RoutingDecision(VIP, "callcenter"), None),
    ],
)
def test_decide_answer_shapes_and_reported_rule(answer, rule):
    app, client = make(lambda req: answer)
    assert client.post("/", json=REQ).json() == {"target_id": VIP, "target_type": "callcenter"}
    assert only_record(app)["rule"] == rule


class VipRules:
    """A rule object: VIP callers to the VIP desk, the sales line to Inbound Sales."""

    def decide(self, request: RoutingRequest):
        if request.external_number == "+14155550123":
            return {"target_id": VIP, "target_type": "callcenter", "rule": "vip_caller"}
        return None


def test_object_with_decide_method_and_no_match_gives_fallback():
    app, client = make(VipRules())
    assert client.post("/", json=REQ).json()["target_id"] == VIP
    other = {**REQ, "external_number": "+14155559999"}
    assert client.post("/", json=other).json() == {"target_id": SUPPORT, "target_type": "department"}
    first, second = app.state.endpoint.log.records()
    assert (first["outcome"], first["rule"]) == ("ok", "vip_caller")
    assert (second["outcome"], second["fallback"], second["error"]) == ("fallback", True, None)


def test_async_decide_is_awaited():
    async def decide(req):
        await asyncio.sleep(0)
        return (VIP, "callcenter")

    app, client = make(decide)
    assert client.post("/", json=REQ).json()["target_id"] == VIP
    assert only_record(app)["outcome"] == "ok"


# --------------------------------------------------------------------------- JWT


@pytest.mark.parametrize(
    "send",
    [
        lambda c, tok: c.post("/", content=tok, headers={"Content-Type": "application/jwt"}),
        lambda c, tok: c.post("/", content=tok, headers={"Content-Type": "text/plain"}),
        lambda c, tok: c.post("/", json={"token": tok}),
        lambda c, tok: c.post("/", json={"jwt": tok}),
    ],
    ids=["application/jwt", "text/plain", "token-wrapper", "jwt-wrapper"],
)
def test_signed_request_is_verified_however_it_is_carried(send):
    app, client = make(secret=SECRET)
    r = send(client, sign(REQ, SECRET))
    assert r.status_code == 200 and r.json()["target_id"] == SALES
    rec = only_record(app)
    assert rec["signed"] is True and rec["payload"] == REQ and rec["outcome"] == "ok"


def _alg_none_token(payload) -> str:
    return jwt.encode(payload, None, algorithm="none")


@pytest.mark.parametrize(
    "token, reason",
    [
        (sign(REQ, WRONG), "bad_signature"),
        (_alg_none_token(REQ), "bad_algorithm"),
        ("abc.def.ghi", "malformed"),
        ("not a token at all", "malformed"),
        (sign({**REQ, "exp": 1_000_000_000}, SECRET), "expired"),
    ],
    ids=["wrong-key", "alg-none", "malformed-segments", "garbage", "expired"],
)
def test_bad_token_is_refused_with_401_and_logged(tmp_path, token, reason):
    app, client = make(secret=SECRET, tmp_path=tmp_path)
    r = client.post("/", content=token, headers={"Content-Type": "application/jwt"})
    assert r.status_code == 401
    assert reason in r.json()["error"]["message"]
    rec = only_record(app)
    assert rec["outcome"] == "unauthorized" and rec["status"] == 401
    assert rec["decision"] is None and rec["payload"] is None and reason in rec["error"]
    text = (tmp_path / "endpoint.jsonl").read_text()
    assert SECRET not in text and token not in text


def test_unsigned_request_to_signed_endpoint_is_401():
    app, client = make(secret=SECRET)
    r = client.post("/", json=REQ)
    assert r.status_code == 401 and "unsigned" in r.json()["error"]["message"]
    assert only_record(app)["outcome"] == "unauthorized"


def test_signed_request_to_unsigned_endpoint_is_400():
    app, client = make()
    r = client.post("/", content=sign(REQ, SECRET), headers={"Content-Type": "application/jwt"})
    assert r.status_code == 400 and "no secret" in r.json()["error"]["message"]
    rec = only_record(app)
    assert rec["outcome"] == "bad_request" and rec["signed"] is True


def test_secret_never_in_repr():
    app, _ = make(secret=SECRET)
    assert SECRET not in repr(app.state.endpoint)
    assert "signed=True" in repr(app.state.endpoint)


# --------------------------------------------------------------------------- bad payloads


@pytest.mark.parametrize(
    "body, field",
    [
        ({**REQ, "call_id": None}, "call_id"),
        ({**REQ, "external_number": "4155550123"}, "external_number"),
        ({**REQ, "date_started": "yesterday"}, "date_started"),
        ([1, 2, 3], "payload"),
    ],
)
def test_invalid_payload_is_400_naming_the_field(body, field):
    app, client = make()
    r = client.post("/", json=body)
    assert r.status_code == 400 and field in r.json()["error"]["message"]
    rec = only_record(app)
    assert rec["outcome"] == "bad_request" and field in rec["error"] and rec["decision"] is None


def test_invalid_payload_keeps_what_was_sent_and_its_call_id():
    app, client = make()
    client.post("/", json={**REQ, "internal_number": "oops"})
    rec = only_record(app)
    assert rec["call_id"] == REQ["call_id"] and rec["payload"]["internal_number"] == "oops"


@pytest.mark.parametrize("body", [b"", b"   ", b"<html>nope</html>", b"\xff\xfe"])
def test_garbage_body_is_400(body):
    app, client = make()
    r = client.post("/", content=body)
    assert r.status_code == 400
    assert only_record(app)["outcome"] == "bad_request"


# --------------------------------------------------------------------------- slow / failing decide


def test_slow_decide_answers_the_fallback_within_the_budget():
    release = threading.Event()

    def blocked(req):
        release.wait(30)
        return (VIP, "callcenter")

    app, client = make(blocked, budget_s=0.2)
    try:
        r = client.post("/", json=REQ)
        assert r.json() == {"target_id": SUPPORT, "target_type": "department"}
        rec = only_record(app)
        assert rec["outcome"] == "fallback" and rec["fallback"] is True and "budget" in rec["error"]
    finally:
        release.set()


def test_slow_async_decide_answers_the_fallback():
    async def never(req):
        await asyncio.Event().wait()

    app, client = make(never, budget_s=0.2)
    assert client.post("/", json=REQ).json()["target_id"] == SUPPORT
    assert only_record(app)["outcome"] == "fallback"


def test_raising_decide_answers_the_fallback_and_logs_the_error():
    def broken(req):
        raise KeyError("no such campaign")

    app, client = make(broken)
    r = client.post("/", json=REQ)
    assert r.status_code == 200 and r.json()["target_id"] == SUPPORT
    rec = only_record(app)
    assert rec["outcome"] == "error" and rec["fallback"] is True and "no such campaign" in rec["error"]


@pytest.mark.parametrize("answer", [(VIP, "planet"), {"target": 1}, "sales", (0, "user")])
def test_invalid_decision_answers_the_fallback(answer):
    app, client = make(lambda req: answer)
    assert client.post("/", json=REQ).json()["target_id"] == SUPPORT
    rec = only_record(app)
    assert rec["outcome"] == "error" and "decide answered badly" in rec["error"]


# --------------------------------------------------------------------------- configuration


@pytest.mark.parametrize("budget", [0, -1, 5.0, 6])
def test_budget_must_be_positive_and_below_dialpads_deadline(budget):
    with pytest.raises(ValidationError, match="budget_s"):
        routing_endpoint(to_sales, fallback=FALLBACK, budget_s=budget)


@pytest.mark.parametrize("fallback", [(1, "planet"), {"target_id": 5}, "x"])
def test_fallback_is_validated(fallback):
    with pytest.raises(ValidationError, match="fallback"):
        routing_endpoint(to_sales, fallback=fallback)


def test_decide_must_be_callable():
    with pytest.raises(TypeError, match="decide"):
        routing_endpoint(42, fallback=FALLBACK)


def test_coerce_decision_from_an_object_with_attributes():
    class Hit:
        target_id = str(VIP)
        target_type = "callcenter"
        rule = "r1"

    assert coerce_decision(Hit()) == (RoutingDecision(VIP, "callcenter"), "r1")


def test_load_rules_finds_module_attribute():
    assert load_rules("tests.test_endpoint:VipRules") is VipRules
    with pytest.raises(ValidationError, match="MODULE:CALLABLE"):
        load_rules("no_colon")
    with pytest.raises(ValidationError, match="no attribute"):
        load_rules("tests.test_endpoint:Missing")
    with pytest.raises(ValidationError, match="cannot import"):
        load_rules("no_such_module_xyz:f")


def test_endpoint_log_frame_flattens_the_decision():
    app, client = make()
    client.post("/", json=REQ)
    client.post("/", json={**REQ, "call_id": "x"})
    df = read_log(app.state.endpoint.log).frame
    assert list(df.columns) == [
        "ts",
        "time",
        "call_id",
        "signed",
        "target_id",
        "target_type",
        "rule",
        "fallback",
        "status",
        "latency_ms",
        "outcome",
        "error",
        "source",
        "line",
    ]
    assert df["source"].tolist() == ["log", "log"]
    assert df["outcome"].tolist() == ["ok", "bad_request"]
    assert df["target_id"].tolist()[0] == SALES and df["target_id"].isna().tolist() == [False, True]
    assert str(df["time"].iloc[0]) == "2026-01-05 09:00:00+00:00"


def test_read_log_keeps_the_good_records_and_rejects_the_bad_line_by_number(tmp_path):
    p = tmp_path / "log.jsonl"
    p.write_text(json.dumps({"v": 1}) + "\n{oops\n")
    frame, rejects = read_log(p)
    assert len(frame) == 1 and frame["line"].tolist() == [1]
    assert rejects["line"].tolist() == [2] and rejects["kind"].tolist() == ["bad JSON"]
    assert rejects["reason"].iloc[0].startswith("line 2: not JSON") and rejects["source"].iloc[0] == str(p)


# --------------------------------------------------------------------------- real HTTP


@pytest.mark.http
def test_served_endpoint_logs_every_concurrent_request(tmp_path):
    app = routing_endpoint(VipRules(), secret=SECRET, fallback=FALLBACK, log_path=tmp_path / "e.jsonl")
    served = serve_endpoint(app)
    try:
        calls = [{**REQ, "call_id": 2_000_000 + i} for i in range(60)]
        with httpx.Client(base_url=served.url) as http, ThreadPoolExecutor(12) as pool:
            answers = list(
                pool.map(
                    lambda c: http.post(
                        "/route", content=sign(c, SECRET), headers={"Content-Type": "application/jwt"}
                    ),
                    calls,
                )
            )
    finally:
        served.stop()
    assert [a.status_code for a in answers] == [200] * 60
    logged = log_records(tmp_path / "e.jsonl")
    assert sorted(r["call_id"] for r in logged) == [c["call_id"] for c in calls]
    assert {r["outcome"] for r in logged} == {"ok"}
    assert not served.running


# --------------------------------------------------------------------------- CLI


def _cli_args(*extra: str):
    from dialpad_nb.cli import build_parser

    return build_parser().parse_args(["endpoint", "--rules", "tests.test_endpoint:VipRules", *extra])


def test_cli_builds_the_endpoint_with_the_secret_from_the_environment():
    from dialpad_nb.cli.endpoint import endpoint_app

    args = _cli_args("--fallback", f"department:{SUPPORT}", "--secret-env", "ROUTER_SECRET", "--budget", "2")
    app = endpoint_app(args, {"ROUTER_SECRET": SECRET})
    kit = app.state.endpoint
    assert kit.fallback == RoutingDecision(SUPPORT, "department") and kit.budget_s == 2.0 and kit.signed
    client = ASGIClient(app)
    assert client.post("/", content=sign(REQ, SECRET)).json()["target_id"] == VIP
    assert client.post("/", content=sign(REQ, WRONG)).status_code == 401


@pytest.mark.parametrize(
    "extra, environ, field",
    [
        (("--secret-env", "NOPE"), {}, "secret-env"),
        (("--secret-env", "SHORT"), {"SHORT": "too-short"}, "$SHORT"),
        ((), {}, "fallback"),
    ],
)
def test_cli_refuses_missing_or_short_secret_and_missing_fallback(extra, environ, field):
    from dialpad_nb.cli.endpoint import endpoint_app

    fb = () if field == "fallback" else ("--fallback", f"department:{SUPPORT}")
    with pytest.raises(ValidationError) as err:
        endpoint_app(_cli_args(*fb, *extra), environ)
    assert err.value.field == field


def test_cli_fallback_flag_must_be_type_colon_id(capsys):
    with pytest.raises(SystemExit):
        _cli_args("--fallback", "department")
    assert "TYPE:ID" in capsys.readouterr().err


@pytest.mark.http
def test_cli_serves_in_the_foreground_and_stops_on_sigterm(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    log = tmp_path / "cli.jsonl"
    env = {**os.environ, "ROUTER_SECRET": SECRET}
    cmd = [sys.executable, "-m", "dialpad_nb.cli", "endpoint", "--rules", "tests.test_endpoint:VipRules"]
    cmd += ["--fallback", f"department:{SUPPORT}", "--secret-env", "ROUTER_SECRET", "--port", "0"]
    cmd += ["--log", str(log)]
    proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = proc.stdout.readline()
        assert first.startswith("Routing endpoint listening on http://127.0.0.1:"), first
        url = first.rsplit(" ", 1)[-1].strip()
        r = httpx.post(url, content=sign(REQ, SECRET), headers={"Content-Type": "application/jwt"})
        assert r.json()["target_id"] == VIP
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert SECRET not in first + out + err
    (rec,) = log_records(log)
    assert rec["outcome"] == "ok" and rec["signed"] is True


def test_directory_entry_is_accepted_as_fallback_and_answer():
    from dialpad_nb.core.models import DirectoryEntry

    desk = DirectoryEntry(VIP, "callcenter", "VIP Desk")
    app, client = make(lambda req: desk, fallback=DirectoryEntry(SUPPORT, "department", "Support"))
    assert client.post("/", json=REQ).json() == {"target_id": VIP, "target_type": "callcenter"}
    assert app.state.endpoint.fallback == RoutingDecision(SUPPORT, "department")
