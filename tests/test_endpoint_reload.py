"""Serving a routing matrix in one process: the decisions are replay's, a bad matrix refuses to
start, reloads switch atomically under load, --watch never loads a half-written or deleted
file, and /metrics and /healthz count what the log holds and never show secrets or CRM data."""

from __future__ import annotations

import asyncio
import functools
import io
import json
import os
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dialpad_nb.calls import read_calls, read_log, read_log_events
from dialpad_nb.cli import main
from dialpad_nb.core.models import RoutingRequest
from dialpad_nb.core.policy import DIALPAD
from dialpad_nb.endpoint import latency_buckets, routing_endpoint, serve_endpoint
from dialpad_nb.rules import Enrichment, MatrixError, MatrixSource, load_matrix
from dialpad_nb.samples import generate as datagen
from tests.helpers_metrics import by_label, log_counts, nonzero, value
from tests.test_rules_property import EXTERNAL, SEGMENTS, calls_frame, matrix_text

ROOT = Path(__file__).resolve().parents[1]
CANDIDATE = ROOT / "data" / "routing_candidate.csv"
CRM = ROOT / "data" / "crm_contacts.csv"
TZ = "America/Los_Angeles"
SECRET = "reload-test-secret-0123456789abcdefghij"


def version_b(text: str) -> str:
    """The candidate with every rule renamed ``b_...`` and support going to Support Tier 2."""
    lines = text.splitlines()
    out = [lines[0]] + [f"b_{line}" for line in lines[1:] if line]
    return (
        "\n".join(out).replace(
            "5002000000000202,callcenter,Support Tier 1", "5002000000000203,callcenter,Support Tier 2"
        )
        + "\n"
    )


def publish(path: Path, text: str) -> None:
    """Replace ``path`` atomically (write aside, rename), as a deploy script should."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


@functools.cache
def _sample_calls() -> pd.DataFrame:
    return read_calls(ROOT / "data" / "calls_2026-10.jsonl.gz", secret=datagen.SAMPLE_SECRET).calls


def sample_requests(n: int) -> list[dict]:
    """``n`` routing requests of the sample month, spread over it."""
    calls = _sample_calls()
    step = len(calls) // n
    out = []
    for row in calls.iloc[::step].head(n).itertuples():
        out.append(
            RoutingRequest(
                date_started=int(row.date_started.value // 1_000_000),
                call_id=int(row.call_id),
                external_number=row.external_number,
                internal_number=row.internal_number,
                contact_id=None if pd.isna(row.contact_id) else row.contact_id,
                contact_type=None if pd.isna(row.contact_type) else row.contact_type,
            ).to_json()
        )
    return out


async def _post_all(app, bodies: list[dict]) -> list[httpx.Response]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://endpoint.test") as c:
        return [await c.post("/route", json=b) for b in bodies]


# --------------------------------------------------------------------------- the same decisions as replay


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=matrix_text(), calls=calls_frame(), data=st.data())
def test_a_served_matrix_answers_what_replay_decides(text, calls, data):
    """The endpoint serving a matrix file + CRM answers each request as replay's decide_all does."""
    crm_rows = ["phone,segment"] + [
        f"{n[:2]} {n[2:5]} {n[5:]},{seg}"
        for n in EXTERNAL
        if (seg := data.draw(st.sampled_from(SEGMENTS))) is not None
    ]
    with tempfile.TemporaryDirectory() as tmp:
        matrix, crm = Path(tmp) / "m.csv", Path(tmp) / "crm.csv"
        matrix.write_text(text)
        crm.write_text("\n".join(crm_rows) + "\n")
        app = routing_endpoint(MatrixSource(matrix, timezone=TZ, crm=crm))
        replay = load_matrix(text, timezone=TZ, warn=False).with_enrichment(
            Enrichment.from_csv(io.StringIO("\n".join(crm_rows) + "\n"))
        )
        expected = replay.decide_all(calls)
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
        answers = asyncio.run(_post_all(app, bodies))
    logged = app.state.endpoint.log.records()[1:]  # after the start event
    for pos, (answer, rec) in enumerate(zip(answers, logged, strict=True)):
        want = expected.iloc[pos]
        assert answer.json() == {"target_id": int(want["target_id"]), "target_type": want["target_type"]}
        assert rec["rule"] == want["rule"] and rec["outcome"] == "ok"


# --------------------------------------------------------------------------- refusing to start


BAD = """rule,internal_number,hours,target_id,target_type
sales,+14155550142,09:00-25:00,5002000000000201,callcenter
support,not-a-number,,5002000000000202,callcenter
vip,,,5002000000000204,queue
default,,,5001000000000105,department
"""


def test_a_bad_matrix_refuses_to_start_naming_every_row_and_column(tmp_path, capsys):
    path = tmp_path / "bad.csv"
    path.write_text(BAD)
    with pytest.raises(MatrixError) as err:
        routing_endpoint(MatrixSource(path, timezone=TZ))
    assert {(p.row, p.column) for p in err.value.problems} == {
        (1, "hours"),
        (2, "internal_number"),
        (3, "target_type"),
    }
    status = main(["endpoint", "--matrix", str(path), "--timezone", TZ, "--port", "0"])
    message = capsys.readouterr().err
    assert status == 2
    for where in ("row 1 (rule 'sales'), column 'hours'", "row 2 (rule 'support'), column 'internal_number'",
                  "row 3 (rule 'vip'), column 'target_type'"):  # fmt: skip
        assert where in message


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["--matrix", str(CANDIDATE)], "--timezone"),
        (["--rules", "tests.test_endpoint:VipRules", "--crm", str(CRM)], "crm: only with --matrix"),
        (["--matrix", str(CANDIDATE), "--timezone", "Mars/Olympus"], "Mars/Olympus"),
        (["--matrix", str(CANDIDATE), "--timezone", TZ, "--crm", "/nonexistent/crm.csv"], "no such file"),
    ],
)
def test_cli_refuses_bad_flags_before_listening(argv, needle, capsys):
    assert main(["endpoint", *argv, "--port", "0"]) == 2
    assert needle in capsys.readouterr().err


def test_cli_size_and_worker_flags_are_checked(capsys):
    from dialpad_nb.cli import build_parser

    args = build_parser().parse_args(
        ["endpoint", "--matrix", "m.csv", "--log-max-bytes", "100MB", "--workers", "3", "--log-keep", "5"]
    )
    assert (args.log_max_bytes, args.workers, args.log_keep) == (100 * 1024**2, 3, 5)
    for bad in (["--workers", "0"], ["--log-max-bytes", "lots"]):
        with pytest.raises(SystemExit):
            build_parser().parse_args(["endpoint", "--matrix", "m.csv", *bad])
    assert "expected" in capsys.readouterr().err


# --------------------------------------------------------------------------- reload under load


@pytest.mark.http
def test_reload_under_load_switches_whole_matrices_and_refuses_a_bad_one(tmp_path):
    """10 swaps between two matrices while 4 clients keep calling: no request fails, and each is
    answered by one whole matrix (its rule's version decides exactly that target)."""
    matrix = tmp_path / "routing.csv"
    text_a = CANDIDATE.read_text()
    text_b = version_b(text_a)
    matrix.write_text(text_a)
    crm = Enrichment.from_csv(CRM)
    versions = {
        "a": load_matrix(text_a, timezone=TZ).with_enrichment(crm),
        "b": load_matrix(text_b, timezone=TZ).with_enrichment(crm),
    }
    app = routing_endpoint(MatrixSource(matrix, timezone=TZ, crm=CRM), log_path=tmp_path / "e.jsonl")
    kit = app.state.endpoint
    served = serve_endpoint(app)
    requests = sample_requests(40)
    stop = threading.Event()
    failures: list[str] = []
    answered = [0]

    def client(k: int) -> None:
        with httpx.Client(base_url=served.url, timeout=10) as http:
            i = k
            while not stop.is_set() and answered[0] < 20_000:
                r = http.post("/route", json=requests[i % len(requests)])
                if r.status_code != 200 or set(r.json()) != {"target_id", "target_type"}:
                    failures.append(f"{r.status_code} {r.text[:100]}")
                answered[0] += 1
                i += 4

    try:
        with ThreadPoolExecutor(4) as pool:
            futures = [pool.submit(client, k) for k in range(4)]
            for swap in range(10):
                publish(matrix, text_b if swap % 2 == 0 else text_a)
                assert kit.reload().ok
            publish(matrix, text_a.replace("department,Reception", "queue,Reception"))
            refused = kit.reload()
            stop.set()
            for f in futures:
                f.result()
        health = httpx.get(served.url + "/healthz").json()
        metrics = httpx.get(served.url + "/metrics").text
    finally:
        stop.set()
        served.stop()
    assert failures == [] and answered[0] > 0
    assert not refused.ok and "row 11 (rule 'default'), column 'target_type'" in refused.error
    assert health["rules"]["sha256"] == kit.rules.sha256 and health["last_reload"]["ok"] is False
    assert value(metrics, "dialpad_endpoint_reload_refused") == 1
    assert value(metrics, "dialpad_endpoint_reloads_total", result="loaded", trigger="api") == 10
    assert value(metrics, "dialpad_endpoint_reloads_total", result="refused", trigger="api") == 1

    log = read_log(tmp_path / "e.jsonl")
    assert log.skipped == {"reload": 12} and log.rejects.empty and len(log.frame) == answered[0]
    raw = [json.loads(line) for line in (tmp_path / "e.jsonl").read_text().splitlines()]
    seen_versions = set()
    for rec in raw:
        if "event" in rec:
            continue
        version = "b" if rec["rule"].startswith("b_") else "a"
        seen_versions.add(version)
        want = versions[version].decide(RoutingRequest.from_json(rec["payload"]))
        assert (rec["decision"]["target_id"], rec["rule"]) == (want.target_id, want.rule)
    assert seen_versions == {"a", "b"}
    events = read_log_events(tmp_path / "e.jsonl")
    assert events["ok"].tolist() == [True] * 11 + [False]
    assert events["serving_sha256"].iloc[-1] == events["sha256"].iloc[-2]


# --------------------------------------------------------------------------- --watch


@pytest.mark.http
def test_watch_never_loads_a_half_written_or_deleted_matrix(tmp_path):
    matrix = tmp_path / "routing.csv"
    text_a = CANDIDATE.read_text()
    text_b = version_b(text_a)
    matrix.write_text(text_a)
    app = routing_endpoint(MatrixSource(matrix, timezone=TZ), watch_s=0.05)
    kit = app.state.endpoint
    kit.settle_s = 0.2
    sha_a = kit.rules.sha256
    served = serve_endpoint(app)

    def next_event(after: int) -> dict:
        return kit.log.wait_for(
            lambda r: r.get("event") == "reload" and r["ts"] > after, 20, what="no reload"
        )

    try:
        t0 = kit.log.records()[-1]["ts"]
        # half-written: B cut inside its last row (what is there would parse: only a note is cut)
        at = text_b.rindex("Reception") + len("Recep")
        with open(matrix, "w") as fh:  # in place, as an editor saving slowly would
            fh.write(text_b[:at])
            fh.flush()
            half = next_event(t0)
            assert not half["ok"] and "does not end with a line break" in half["error"]
            assert kit.rules.sha256 == sha_a
            fh.write(text_b[at:])  # the writer finishes
        whole = next_event(half["ts"])
        assert whole["ok"] and whole["sha256"] == kit.rules.sha256 != sha_a
        assert kit.rules.rule_names[0] == "b_vip_enterprise"
        matrix.unlink()
        gone = next_event(whole["ts"])
        assert not gone["ok"] and "no such file" in gone["error"]
        assert httpx.post(served.url, json=sample_requests(1)[0]).status_code == 200
        assert kit.rules.sha256 == whole["sha256"]
        publish(matrix, text_a)
        back = next_event(gone["ts"])
        assert back["ok"] and back["sha256"] == sha_a
    finally:
        served.stop()


# --------------------------------------------------------------------------- metrics and health


class Moody:
    """A rule whose behaviour depends on the call: answers, has no answer, raises, or hangs."""

    def __init__(self) -> None:
        self.release = threading.Event()

    def decide(self, req):
        kind = req.call_id % 4
        if kind == 0:
            return {"target_id": 5002000000000201, "target_type": "callcenter", "rule": f"r{req.call_id % 3}"}
        if kind == 1:
            return None
        if kind == 2:
            raise RuntimeError("boom")
        self.release.wait(10)
        return None


@pytest.mark.http
def test_metrics_count_what_the_log_holds_for_every_outcome_and_reason(tmp_path):
    rule = Moody()
    app = routing_endpoint(
        rule,
        secret=SECRET,
        fallback=(5001000000000105, "department"),
        budget_s=0.3,
        log_path=tmp_path / "e.jsonl",
    )
    served = serve_endpoint(app)
    from dialpad_nb.core.signing import sign

    base = sample_requests(1)[0]
    try:
        with httpx.Client(base_url=served.url, timeout=10) as http:
            for i in range(24):
                http.post("/", content=sign({**base, "call_id": 100 + i}, SECRET))
            http.post("/", json=base)  # unsigned: 401
            http.post("/", content=b"{nope")  # 400
            text = http.get("/metrics").text
    finally:
        rule.release.set()
        served.stop()
    frame = read_log(tmp_path / "e.jsonl").frame
    want = log_counts(frame)
    assert want["fallbacks"] == {"no_match": 6, "rule_error": 6, "timeout": 6}  # the log has all three
    assert nonzero(by_label(text, "dialpad_endpoint_requests_total", "outcome")) == want["requests"]
    assert nonzero(by_label(text, "dialpad_endpoint_fallbacks_total", "reason")) == want["fallbacks"]
    assert nonzero(by_label(text, "dialpad_endpoint_rule_hits_total", "rule")) == want["rule_hits"]
    assert value(text, "dialpad_endpoint_request_duration_seconds_count") == want["count"] == 26
    histogram_sum = value(text, "dialpad_endpoint_request_duration_seconds_sum")
    assert histogram_sum == pytest.approx(frame["latency_ms"].sum() / 1000, abs=1e-6)
    timeouts = frame[frame["error"].str.startswith("decide did not answer", na=False)]
    assert (timeouts["latency_ms"] >= 100).all()  # a timeout is answered once the budget is spent


def test_latency_buckets_are_fractions_of_the_policy_deadline():
    buckets = latency_buckets()
    assert {4.0, 4.5, DIALPAD.deadline_s, 6.0} <= set(buckets) and buckets == tuple(sorted(buckets))
    assert max(latency_buckets(DIALPAD.replace(deadline_s=2.0))) == 4.0


@pytest.mark.http
def test_healthz_and_metrics_never_reveal_the_secret_or_crm_data(tmp_path):
    app = routing_endpoint(
        MatrixSource(CANDIDATE, timezone=TZ, crm=CRM), secret=SECRET, log_path=tmp_path / "e.jsonl"
    )
    crm = pd.read_csv(CRM, dtype=str)
    crm_values = set(crm["name"]) | set(crm["phone"]) | set(crm["contact_id"]) | set(crm["owner"])
    crm_values |= {str(v) for v in Enrichment.from_csv(CRM).table.index}  # normalised numbers
    served = serve_endpoint(app)
    from dialpad_nb.core.signing import sign

    try:
        with httpx.Client(base_url=served.url) as http:
            for body in sample_requests(30):  # many from CRM contacts
                assert http.post("/", content=sign(body, SECRET)).status_code == 200
            publish_broken = tmp_path / "m.csv"
            publish_broken.write_text("x")
            pages = [http.get("/healthz").text, http.get("/metrics").text]
    finally:
        served.stop()
    for page in pages:
        assert SECRET not in page
        leaked = {v for v in crm_values if len(v) > 4 and v in page}
        assert leaked == set()
    assert json.loads(pages[0])["status"] == "ok"


# --------------------------------------------------------------------------- --check-directory


@pytest.mark.http
def test_check_directory_refuses_a_target_the_company_does_not_have(tmp_path, capsys, monkeypatch):
    """--check-directory fetches the directory through connect() (here: the embedded sandbox's
    sample company) and refuses a matrix naming a target it does not have."""
    from dialpad_nb.cli import build_parser
    from dialpad_nb.cli.endpoint import app_from_spec, endpoint_spec

    for var in ("DIALPAD_API_KEY", "DIALPAD_BASE_URL", "DIALPAD_ENV"):
        monkeypatch.delenv(var, raising=False)
    good = build_parser().parse_args(
        ["endpoint", "--matrix", str(CANDIDATE), "--timezone", TZ, "--check-directory"]
    )
    spec = endpoint_spec(good, {})
    assert [5002000000000204, "callcenter", "VIP Desk"] in spec["directory"]
    assert app_from_spec(spec, {}).state.endpoint.rules.name == "routing_candidate"

    bad = tmp_path / "routing.csv"
    bad.write_text(
        CANDIDATE.read_text().replace("5002000000000205,callcenter", "5002000000000299,callcenter")
    )
    status = main(["endpoint", "--matrix", str(bad), "--timezone", TZ, "--check-directory", "--port", "0"])
    err = capsys.readouterr().err
    assert status == 2
    assert "row 2 (rule 'spanish_after_hours'), column 'target_id'" in err and "5002000000000299" in err
    assert "row 10 (rule 'after_hours'), column 'target_id'" in err
