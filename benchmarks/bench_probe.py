"""Probe throughput (requests/s) against the endpoint kit on loopback, with a same-run baseline.

The endpoint: ``routing_endpoint`` with a secret (JWT verification on every request)
and a constant rule, served by uvicorn in a background thread. Baseline: the same
signed requests POSTed one after another with one plain ``httpx.Client`` (no
classification, no threads). Then :func:`dialpad_nb.health.endpoint_probe.probe` at concurrency
1, 4 and 8 (no rate limit, progress bar off). Every probe run must come back all ``ok``.

Run: ``.venv/bin/python benchmarks/bench_probe.py [N]``. The client and the server
share the machine's cores, so the figures depend on the machine and its load.
"""

from __future__ import annotations

import sys
import time

import httpx

from dialpad_nb.core.signing import sign
from dialpad_nb.endpoint.app import routing_endpoint, serve_endpoint
from dialpad_nb.health.endpoint_probe import probe
from dialpad_nb.samples.company import CALLCENTERS

SECRET = "bench-probe-secret-0123456789abcdefghij"
TARGET = CALLCENTERS[0]["id"]
T0 = 1_790_000_000_000


def payloads(n: int) -> list[dict]:
    return [
        {
            "date_started": T0 + i,
            "call_id": 7_000_000_000_000_000 + i,
            "external_number": "+14155550123",
            "internal_number": "+14155550142",
            "contact_id": None,
            "contact_type": None,
        }
        for i in range(n)
    ]


def main(n: int = 2000) -> None:
    items = payloads(n)
    app = routing_endpoint(lambda req: (TARGET, "callcenter"), secret=SECRET, fallback=(TARGET, "callcenter"))
    with serve_endpoint(app) as served:
        # warm-up
        probe(served.url, items[:50], secret=SECRET, progress=False)

        start = time.perf_counter()
        with httpx.Client(trust_env=False) as http:
            for p in items:
                r = http.post(
                    served.url, content=sign(p, SECRET), headers={"Content-Type": "application/jwt"}
                )
                r.raise_for_status()
        base = n / (time.perf_counter() - start)
        print(f"baseline: sequential httpx POSTs        {base:8.1f} req/s")
        for concurrency in (1, 4, 8):
            res = probe(
                served.url,
                items,
                secret=SECRET,
                concurrency=concurrency,
                progress=False,
                max_requests=n,
                max_seconds=600,
            )
            assert res.outcome_counts() == {"ok": n}, res
            rate = res.requests_per_s
            print(
                f"probe concurrency={concurrency:<2}                  {rate:8.1f} req/s  ({rate / base:.2f}x baseline)"
            )


if __name__ == "__main__":
    main(*[int(a) for a in sys.argv[1:]])
