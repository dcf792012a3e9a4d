"""``dialpad-nb endpoint --workers 2`` as operations run it: one command serves the sample
candidate matrix, the sandbox routes calls through it with replay's decisions, /metrics agrees
with the log, SIGHUP swaps matrices under load with no failed request, a bad matrix is refused
while the old one serves, a killed worker is replaced without disturbing the other's requests,
and SIGTERM drains the requests in flight."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from dialpad_nb import connect
from dialpad_nb.calls import iter_log, read_calls, read_log, read_log_events
from dialpad_nb.core.endpoint_log import LogRecord
from dialpad_nb.core.models import RoutingRequest
from dialpad_nb.core.signing import sign
from dialpad_nb.rules import Enrichment, load_matrix
from tests.helpers_metrics import by_label, log_counts, nonzero, value
from tests.test_endpoint_reload import CANDIDATE, CRM, TZ, publish, sample_requests, version_b

pytestmark = pytest.mark.http

ROOT = Path(__file__).resolve().parents[1]
SECRET = "workers-test-secret-0123456789abcdefghij"
RECEPTION = 5001000000000105
LINES = ("+14155550142", "+14155550199", "+12065550150", "+16285550177")


class Endpoint:
    """A ``dialpad-nb endpoint`` subprocess; stderr collected line by line as it comes."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        cmd = [sys.executable, "-m", "dialpad_nb.cli", "endpoint", *args, "--port", "0"]
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, env={**os.environ, "ROUTER_SECRET": SECRET, **(env or {})},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        )  # fmt: skip
        self.err: list[str] = []
        self._new_err = threading.Condition()
        threading.Thread(target=self._read_err, daemon=True).start()
        first = self.proc.stdout.readline()  # printed once the socket listens
        assert first.startswith("Routing endpoint listening on http://127.0.0.1:"), first + self.stderr
        self.url = first.rsplit(" ", 1)[-1].strip().rstrip("/")
        self.banner = first

    def _read_err(self) -> None:
        for line in self.proc.stderr:
            with self._new_err:
                self.err.append(line)
                self._new_err.notify_all()

    @property
    def stderr(self) -> str:
        return "".join(self.err)

    def wait_stderr(self, needle: str, timeout_s: float = 30) -> str:
        with self._new_err:
            found = self._new_err.wait_for(lambda: any(needle in line for line in self.err), timeout_s)
        assert found, f"{needle!r} not in stderr:\n{self.stderr}"
        return next(line for line in self.err if needle in line)

    def stop(self) -> tuple[int, str]:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        out, _ = self.proc.communicate(timeout=30)
        return self.proc.returncode, self.banner + out


def until(check: Callable[[], Any], what: str, timeout_s: float = 30.0) -> Any:
    """Poll ``check`` (a condition on another process's state) until it is truthy; its value."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def healthz(url: str) -> dict | None:
    try:
        r = httpx.get(url + "/healthz", timeout=5)  # a new connection each time: any worker may answer
    except httpx.TransportError:
        return None
    return r.json() if r.status_code == 200 else None


def worker_pids(url: str, n: int = 2) -> set[int]:
    seen: set[int] = set()

    def more() -> bool:
        answer = healthz(url)  # None while a worker is still starting (a busy machine): ask again
        if answer is not None:
            seen.add(answer["pid"])
        return len(seen) >= n

    until(more, f"{n} workers answering")
    return seen


def reload_events(log: Path) -> pd.DataFrame:
    return read_log_events(log) if log.exists() else pd.DataFrame({"ok": []})


@pytest.fixture
def endpoints() -> Iterator[list[Endpoint]]:
    started: list[Endpoint] = []
    yield started
    for e in started:  # a test that failed half-way: the master and its workers (one session) go
        if e.proc.poll() is None:
            os.killpg(e.proc.pid, signal.SIGKILL)
            e.proc.communicate(timeout=30)


# --------------------------------------------------------------------------- the done-when test


def test_one_command_serves_the_candidate_matrix_on_two_workers(tmp_path, endpoints):
    matrix, log = tmp_path / "routing.csv", tmp_path / "endpoint.jsonl"
    shutil.copy(CANDIDATE, matrix)
    ep = Endpoint(
        "--matrix", str(matrix), "--timezone", TZ, "--crm", str(CRM), "--secret-env", "ROUTER_SECRET",
        "--log", str(log), "--workers", "2", "--log-max-bytes", "64KB",
    )  # fmt: skip
    endpoints.append(ep)
    pids = worker_pids(ep.url)

    # 1. the sandbox routes sample calls through it: Dialpad's side, the log and replay agree
    client = connect()
    try:
        router = client.create_router(
            name="Matrix", routing_url=ep.url + "/route", default_target="Reception", secret=SECRET
        )
        for line in LINES:
            client.assign_number(router.id, number=line)
        calls = sorted(sample_requests(120), key=lambda c: c["date_started"])
        client.control.place_calls(
            [
                {"to": c["internal_number"], "from": c["external_number"], "at": c["date_started"]}
                for c in calls
            ]
        )
        attempts = client.control.attempts(router.id)
    finally:
        client.close()
    assert attempts["outcome"].eq("ok").all(), attempts["outcome"].value_counts()
    logged = read_calls(log, secret=SECRET)
    assert len(logged.calls) == len(calls) == len(attempts) and logged.rejects.empty
    assert logged.skipped == {"reload": 2}  # each worker's start
    candidate = load_matrix(CANDIDATE, timezone=TZ).with_enrichment(Enrichment.from_csv(CRM))
    replayed = candidate.decide_all(logged.calls)
    assert replayed["target_id"].tolist() == logged.calls["logged_target_id"].tolist()
    assert replayed["rule"].astype(str).tolist() == logged.calls["logged_rule"].tolist()
    assert replayed["rule"].nunique() >= 6  # the sample exercises most of the matrix
    joined = attempts.merge(logged.calls, on="call_id")
    assert len(joined) == len(calls)
    assert (joined["target_id"].astype("Int64") == joined["logged_target_id"]).all()

    # 2. SIGHUP swaps matrices 10 times under load: no request fails, each answered by one whole matrix
    text_a, text_b = CANDIDATE.read_text(), version_b(CANDIDATE.read_text())
    bodies = [sign(c, SECRET) for c in calls[:40]]
    stop, failures, answered = threading.Event(), [], [0]

    def load(k: int) -> None:
        with httpx.Client(base_url=ep.url, timeout=10) as http:
            i = k
            while not stop.is_set() and answered[0] < 20_000:
                try:
                    r = http.post("/route", content=bodies[i % len(bodies)])
                    if r.status_code != 200 or set(r.json()) != {"target_id", "target_type"}:
                        failures.append(f"{r.status_code} {r.text[:80]}")
                except httpx.TransportError as exc:
                    failures.append(repr(exc))
                answered[0] += 1
                i += 4

    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(load, k) for k in range(4)]
        for swap in range(10):
            publish(matrix, text_b if swap % 2 == 0 else text_a)
            ep.proc.send_signal(signal.SIGHUP)
            n = 2 + 2 * (swap + 1)  # both workers reloaded
            until(lambda n=n: len(reload_events(log)) >= n, f"reload {swap + 1} in both workers")
        publish(matrix, text_a.replace("department,Reception", "queue,Reception"))
        ep.proc.send_signal(signal.SIGHUP)
        until(lambda: len(reload_events(log)) >= 24, "the bad matrix refused by both workers")
        stop.set()
        for f in futures:
            f.result()
    assert failures == [] and answered[0] > 0
    events = reload_events(log)
    assert events["ok"].tolist() == [True] * 22 + [False, False]
    assert set(events["pid"]) == pids
    assert all("row 11 (rule 'default'), column 'target_type'" in e for e in events["error"].iloc[-2:])
    assert (events["serving_sha256"].iloc[-2:] == events["sha256"].iloc[-3]).all()  # the last good one serves
    versions = {
        "a": candidate,
        "b": load_matrix(text_b, timezone=TZ).with_enrichment(Enrichment.from_csv(CRM)),
    }
    checked = 0
    for _line, rec, _raw in iter_log(log):  # every generation, every request: one whole matrix each
        if isinstance(rec, LogRecord) and rec.rule:
            want = versions["b" if rec.rule.startswith("b_") else "a"].decide(
                RoutingRequest.from_json(rec.payload)
            )
            assert (rec.decision, rec.rule) == ((want.target_id, want.target_type), want.rule)
            checked += 1
    assert checked == len(calls) + answered[0]

    # 3. /metrics (summed over both workers) counts what the log holds; the log rotated and is whole
    with httpx.Client(base_url=ep.url) as http:
        assert http.post("/route", json=calls[0]).status_code == 401  # unsigned
        assert http.post("/route", content=b"{nope").status_code == 400
        health = http.get("/healthz").json()
        text = http.get("/metrics").text
    frame = read_log(log)
    assert frame.rejects.empty and len(frame.files) > 2  # rotated generations, read as one log
    want = log_counts(frame.frame)
    assert want["requests"]["unauthorized"] == 1 and want["requests"]["bad_request"] == 1
    assert nonzero(by_label(text, "dialpad_endpoint_requests_total", "outcome")) == want["requests"]
    assert nonzero(by_label(text, "dialpad_endpoint_rule_hits_total", "rule")) == want["rule_hits"]
    assert nonzero(by_label(text, "dialpad_endpoint_fallbacks_total", "reason")) == want["fallbacks"]
    assert value(text, "dialpad_endpoint_request_duration_seconds_count") == want["count"]
    assert value(text, "dialpad_endpoint_reloads_total", result="refused", trigger="signal") == 2
    assert value(text, "dialpad_endpoint_reload_refused") == 1
    assert health["status"] == "ok" and health["last_reload"]["ok"] is False

    # 4. nothing secret or personal on either page
    crm = pd.read_csv(CRM, dtype=str)
    personal = (
        set(crm["name"])
        | set(crm["phone"])
        | set(crm["contact_id"])
        | {str(n) for n in Enrichment.from_csv(CRM).table.index}
    )
    for page in (str(health), text):
        assert SECRET not in page and not {v for v in personal if v in page}

    # 5. SIGTERM: a clean stop
    status, out = ep.stop()
    assert status == 0 and "Endpoint stopped." in out and SECRET not in out + ep.stderr


# --------------------------------------------------------------------------- crash and drain


GATE_ENV = "DIALPAD_NB_TEST_GATE"


class GatedRule:
    """Answers a call once the test releases it (``release-<call_id>`` in the gate folder),
    first marking ``started-<pid>-<call_id>``: a request the test holds in flight on a known worker."""

    fallback = (RECEPTION, "department")

    def decide(self, req: RoutingRequest) -> tuple[int, str, str]:
        gate = Path(os.environ[GATE_ENV])
        (gate / f"started-{os.getpid()}-{req.call_id}").touch()
        release = gate / f"release-{req.call_id}"
        deadline = time.monotonic() + 3.5  # below the 4 s budget
        while not release.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        return (5002000000000201, "callcenter", "gated")


def test_a_killed_worker_is_replaced_and_sigterm_drains_requests_in_flight(tmp_path, endpoints):
    gate = tmp_path / "gate"
    gate.mkdir()
    ep = Endpoint(
        "--rules", "tests.test_endpoint_workers:GatedRule", "--workers", "2", "--log", str(tmp_path / "e.jsonl"),
        env={GATE_ENV: str(gate)},
    )  # fmt: skip
    endpoints.append(ep)
    pids = worker_pids(ep.url)
    body = sample_requests(1)[0]

    def post(call_id: int) -> httpx.Response | Exception:
        try:
            return httpx.post(ep.url + "/route", json={**body, "call_id": call_id}, timeout=10)
        except httpx.TransportError as exc:
            return exc

    def started(call_id: int) -> int | None:
        found = list(gate.glob(f"started-*-{call_id}"))
        return int(found[0].name.split("-")[1]) if found else None

    with ThreadPoolExecutor(4) as pool:
        # four requests held in flight; the worker without the most of them is killed
        futures = {cid: pool.submit(post, cid) for cid in range(900_001, 900_005)}
        where = {cid: until(lambda cid=cid: started(cid), f"call {cid} in flight") for cid in futures}
        survivor = max(pids, key=lambda p: sum(w == p for w in where.values()))
        victim = next(p for p in pids if p != survivor)
        os.kill(victim, signal.SIGKILL)
        for cid in futures:
            (gate / f"release-{cid}").touch()
        answers = {cid: f.result() for cid, f in futures.items()}
    for cid, answer in answers.items():
        if where[cid] == survivor:  # requests on the other worker are unaffected
            assert isinstance(answer, httpx.Response) and answer.json()["target_id"] == 5002000000000201
    assert any(w == survivor for w in where.values())
    replaced = until(
        lambda: (healthz(ep.url) or {}).get("pid") not in (None, victim, survivor), "a new worker"
    )
    assert replaced
    ep.wait_stderr(f"Child process [{victim}] died")

    # drain: a request in flight when SIGTERM arrives is answered before the worker exits
    with ThreadPoolExecutor(1) as pool:
        late = pool.submit(post, 900_100)
        pid = until(lambda: started(900_100), "the last call in flight")
        ep.proc.send_signal(signal.SIGTERM)
        ep.wait_stderr(f"Terminated child process [{pid}]")
        (gate / "release-900100").touch()
        answer = late.result()
    assert isinstance(answer, httpx.Response) and answer.status_code == 200
    assert answer.json() == {"target_id": 5002000000000201, "target_type": "callcenter"}
    status, out = ep.stop()
    assert status == 0 and "Endpoint stopped." in out
    logged = read_log(tmp_path / "e.jsonl").frame
    assert 900_100 in logged["call_id"].tolist()
