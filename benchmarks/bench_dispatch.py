"""Calls/s dispatched sandbox → routing endpoint on loopback, against a same-process baseline.

Baseline: the same number of signed routing requests POSTed straight to the
endpoint with httpx (what dispatch costs at the very least). Measured:

* ``batch``: ``POST /sandbox/v1/calls:batch`` with N calls (one control request;
  dispatch signs, POSTs, classifies and records each call in SQLite);
* ``single``: N separate ``POST /sandbox/v1/calls`` (adds one control round trip per call);
* ``batch x4 routers``: the batch spread over 4 routers with concurrency 4.

Run: ``.venv/bin/python benchmarks/bench_dispatch.py [N]``. Prints calls/s and the
ratio to the baseline; numbers depend on the machine and its load.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import httpx

from dialpad_nb.api.control import sandbox_control
from dialpad_nb.core.clock import SimulatedClock
from dialpad_nb.core.models import RoutingRequest
from dialpad_nb.core.signing import sign
from dialpad_nb.endpoint.app import routing_endpoint, serve_endpoint
from dialpad_nb.samples.company import CALLCENTERS, DEPARTMENTS, OFFICES
from dialpad_nb.sandbox import start_sandbox

SECRET = "bench-router-secret-0123456789abcdefgh"
SALES = CALLCENTERS[0]["id"]
RECEPTION = DEPARTMENTS[4]["id"]
CALLER = "+14155550123"


def decide(request: RoutingRequest):
    return (SALES, "callcenter")


def timed(label: str, n: int, fn) -> float:
    start = time.perf_counter()
    fn()
    elapsed = time.perf_counter() - start
    rate = n / elapsed
    print(f"{label:<28} {n:>6} calls in {elapsed:7.3f} s  = {rate:9.1f} calls/s")
    return rate


def main(n: int = 500) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        app = routing_endpoint(
            decide, secret=SECRET, fallback=(RECEPTION, "department"), log_path=Path(tmp) / "e.jsonl"
        )
        endpoint = serve_endpoint(app)
        server = start_sandbox(db_path=Path(tmp) / "sandbox.db", clock=SimulatedClock())
        try:
            api = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {server.api_key}"})
            numbers = []
            for i in range(4):
                r = api.post(
                    "/api/v2/callrouters",
                    json={
                        "name": f"Bench {i}",
                        "routing_url": endpoint.url + "/route",
                        "office_id": OFFICES[0]["id"],
                        "default_target_id": RECEPTION,
                        "default_target_type": "department",
                        "secret": SECRET,
                    },
                ).json()
                numbers.append(
                    api.post(f"/api/v2/callrouters/{r['id']}/assign_number", json={}).json()["number"]
                )
            control = sandbox_control(server)
            control.place_call(numbers[0], CALLER)  # warm up connections

            def baseline() -> None:
                with httpx.Client(trust_env=False) as http:
                    for i in range(n):
                        req = RoutingRequest(1_767_603_600_000, 10 + i, CALLER, numbers[0])
                        r = http.post(
                            endpoint.url + "/route",
                            content=sign(req.to_json(), SECRET),
                            headers={"Content-Type": "application/jwt"},
                        )
                        assert r.status_code == 200

            def batch() -> None:
                recs = control.place_calls([{"to": numbers[0], "from": CALLER}] * n)
                assert all(r["outcome"] == "ok" for r in recs)

            def single() -> None:
                for _ in range(n):
                    assert control.place_call(numbers[0], CALLER)["outcome"] == "ok"

            def spread() -> None:
                calls = [{"to": numbers[i % 4], "from": CALLER} for i in range(n)]
                recs = control.place_calls(calls, concurrency=4)
                assert all(r["outcome"] == "ok" for r in recs)

            print(f"dispatch benchmark, N={n}, signed (HS256) requests, SQLite file, loopback")
            base = timed("baseline: direct POSTs", n, baseline)
            for label, fn in [
                ("batch (1 router)", batch),
                ("single POST /calls", single),
                ("batch x4 routers, conc 4", spread),
            ]:
                rate = timed(label, n, fn)
                print(f"{'':<28} ratio to baseline: {rate / base:.2f}")
            control.close()
            api.close()
        finally:
            server.stop()
            endpoint.stop()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 500)
