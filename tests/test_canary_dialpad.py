"""What Dialpad sees: a broken canary adds no routing error and is stopped; and one rule, three
paths: replaying the logged calls through the candidate gives exactly the shadow decisions the
endpoint logged."""

from __future__ import annotations

import asyncio
import io
import tempfile
from pathlib import Path

import httpx
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dialpad_nb import read_calls
from dialpad_nb.api.client import DialpadClient
from dialpad_nb.calls import read_experiment
from dialpad_nb.endpoint import routing_endpoint, serve_endpoint
from dialpad_nb.health import canary_report, from_sandbox
from dialpad_nb.rules import Enrichment, MatrixSource, load_matrix
from tests.test_rules_property import EXTERNAL, SEGMENTS, calls_frame, matrix_text

SECRET = "canary-dialpad-secret-0123456789abcdefgh"
SALES = (5002000000000201, "callcenter")
RETIRED = (5002000000000299, "callcenter")  # not in the company directory: Dialpad counts an error
CALLERS = [f"+1206555{i:04d}" for i in range(40)]
TZ = "America/Los_Angeles"


def control(req):
    """Sends callers ending in 07 to a retired queue: Dialpad counts those as routing errors."""
    if req.external_number.endswith("07"):
        return RETIRED
    return SALES


def broken(req):
    """The candidate: raises for most callers, answers garbage for some, agrees with nobody."""
    if req.external_number.endswith(("1", "3", "5")):
        return {"target_id": "n/a", "target_type": "callcenter"}
    raise LookupError("new CRM client: connection refused")


def test_a_broken_canary_adds_zero_errors_on_the_dialpad_side_and_is_stopped(sandbox, tmp_path):
    """Two routers, the same 60 calls: one in front of the control alone, one in front of the
    control with the broken candidate answering half the callers. Dialpad counts exactly the
    same errors on both (the control's own, and no more), and the canary stops itself."""
    client = DialpadClient(base_url=sandbox.url, api_key=sandbox.api_key, clock=sandbox.clock)
    client.attach_sandbox(sandbox, owned=False)
    alone = routing_endpoint(control, secret=SECRET, fallback=SALES, clock=sandbox.clock)
    log_path = tmp_path / "canary.jsonl"
    tried = routing_endpoint(
        control, secret=SECRET, fallback=SALES, clock=sandbox.clock, log_path=log_path,
        shadows={"candidate": broken}, canary={"candidate": 0.5}, canary_min_calls=20,
    )  # fmt: skip
    served = [serve_endpoint(alone), serve_endpoint(tried)]
    try:
        routers, numbers = [], []
        for name, s in zip(("control alone", "control + canary"), served, strict=True):
            router = client.create_router(name=name, routing_url=s.url + "/route", default_target="Reception",
                                          secret=SECRET)  # fmt: skip
            routers.append(router)
            numbers.append(client.assign_number(router.id).number)
        start = client.control.clock()
        client.control.place_calls(  # each call to both routers, at the same (simulated) time
            [
                {"to": number, "from": CALLERS[i % 40], "at": start + (i + 1) * 30_000}
                for i in range(60)
                for number in numbers
            ]
        )
        assert tried.state.endpoint.wait_idle(10)
        errors = [client.control.error_count(r.id) for r in routers]
        attempts = [from_sandbox(client.control.attempts(r.id)).attempts for r in routers]
    finally:
        for s in served:
            s.stop()
        client.close()
    assert errors[0] == errors[1] == 2  # callers ...07 and ...47 (the control's own): no extra error
    assert attempts[0]["outcome"].tolist() == attempts[1]["outcome"].tolist()
    assert attempts[0]["target_id"].tolist() == attempts[1]["target_id"].tolist()
    report = canary_report(log_path, attempts[1])
    rates = report.rates.set_index("metric")
    assert rates.loc["rule_failed", "candidate_value"] == 1.0  # every candidate answer failed ...
    assert rates.loc["dialpad_error", "difference"] <= 0  # ... and none reached Dialpad
    stops = report.events[report.events["action"] == "stop"]
    assert len(stops) == 1 and stops["trigger"].tolist() == ["auto"]
    exp = read_experiment(log_path).frame
    assert (exp["answered_by"] == "control").all() and (exp["side"] == "candidate").sum() > 0
    assert report.arms.set_index("side").loc["candidate", "answered_by_candidate"] == 0
    assert "failed 20 of 20 calls" in stops["reason"].iloc[0]  # stopped at the minimum of 20 calls


# --------------------------------------------------------------------------- one rule, three paths


async def _post_all(app, bodies: list[dict]) -> list[httpx.Response]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://endpoint.test") as c:
        answers = [await c.post("/route", json=b) for b in bodies]
    await app.state.endpoint.drain()
    return answers


CONTROL_MATRIX = """rule,external_number,target_id,target_type
seattle,prefix:+1206,5002000000000205,callcenter
default,,5002000000000202,callcenter
"""


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=matrix_text(), calls=calls_frame(), data=st.data())
def test_replaying_the_logged_calls_through_the_candidate_gives_the_logged_shadow_decisions(
    text, calls, data
):
    """Endpoint (shadow, per request) == replay (``decide_all`` over ``read_calls`` of the same
    log): the same target and the same rule for every call, with a CRM behind both."""
    crm_rows = ["phone,segment"] + [
        f"{n[:2]} {n[2:5]} {n[5:]},{seg}"
        for n in EXTERNAL
        if (seg := data.draw(st.sampled_from(SEGMENTS))) is not None
    ]
    with tempfile.TemporaryDirectory() as tmp:
        matrix, crm, log_path = Path(tmp) / "m.csv", Path(tmp) / "crm.csv", Path(tmp) / "e.jsonl"
        matrix.write_text(text)
        crm.write_text("\n".join(crm_rows) + "\n")
        app = routing_endpoint(
            load_matrix(CONTROL_MATRIX, timezone=TZ), fallback=(5002000000000202, "callcenter"),
            shadows={"candidate": MatrixSource(matrix, timezone=TZ, crm=crm)}, log_path=log_path,
            canary={"candidate": data.draw(st.sampled_from([0.0, 0.3, 1.0]))}, canary_min_calls=10_000,
        )  # fmt: skip
        bodies = [
            {
                "date_started": int(r["date_started"].value // 1_000_000),
                "call_id": int(r["call_id"]),
                "external_number": r["external_number"],
                "internal_number": r["internal_number"],
                "contact_id": None,
                "contact_type": None if pd.isna(r["contact_type"]) else r["contact_type"],
            }
            for r in calls.to_dict("records")
        ]
        asyncio.run(_post_all(app, bodies))
        logged = read_calls(log_path).calls
        shadows = read_experiment(log_path).shadows.set_index("call_id")
    candidate = load_matrix(text, timezone=TZ, warn=False).with_enrichment(
        Enrichment.from_csv(io.StringIO("\n".join(crm_rows) + "\n"))
    )
    replayed = candidate.decide_all(logged).set_index(logged["call_id"])
    assert len(shadows) == len(logged) == len(calls)
    for call_id, want in replayed.iterrows():
        got = shadows.loc[call_id]
        assert got["outcome"] == "ok"
        assert (int(got["target_id"]), got["target_type"], got["rule"]) == (
            int(want["target_id"]), want["target_type"], want["rule"]
        )  # fmt: skip
