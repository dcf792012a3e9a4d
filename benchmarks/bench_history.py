"""Call history and call events: three figures, each against a baseline run in the same process.

    .venv/bin/python benchmarks/bench_history.py [--pull 100000] [--lines 1000000] [--events 500]

1. **pull**: ``client.calls(router)`` over ``--pull`` calls in a sandbox (page size 1000: 100
   pages, under Dialpad's 1200/min, so the pacer never waits) vs raw httpx paging of the same
   pages (GET, follow ``cursor``, ``response.json()``: no frame, no checks). The calls are
   written straight into the sandbox's database (dispatching 100,000 calls would time dispatch).
2. **read**: ``read_calls`` on ``--lines`` CallProto lines (JSONL, ~1.1 KB each; 1 in 17 an
   error breadcrumb, 1 in 31 without one) vs a naive ``json.loads`` per line into a DataFrame
   (no checks, no normalisation, nested columns left as dicts).
3. **deliver**: call events delivered by the sandbox to a loopback receiver kit (signed HS256
   JWTs, verified and logged by the receiver): ``--events`` / 4 calls, a subscription to
   ``all`` states; from the first call until the receiver has every event. Baseline: the same
   number of signed events POSTed to the same receiver by one httpx client in a loop. Also the
   dispatch rate with and without the subscription (delivery must not slow dispatch).

The machine is shared: the ratios (same run, same load) are the figures to trust.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pandas as pd

from dialpad_nb import DialpadClient, read_calls
from dialpad_nb.core.clock import SimulatedClock
from dialpad_nb.core.history import (
    call_event,
    call_proto,
    contact,
    error_response,
    routing_breadcrumb,
    simulated_timeline,
)
from dialpad_nb.core.signing import sign
from dialpad_nb.endpoint import event_receiver, routing_endpoint, serve_endpoint, serve_receiver
from dialpad_nb.samples.company import CALLCENTERS, DEPARTMENTS
from dialpad_nb.sandbox import start_sandbox

T0 = 1_767_603_600_000
ROUTER = 5_514_135_059_149_489
TIER1, RECEPTION = CALLCENTERS[1]["id"], DEPARTMENTS[4]["id"]
HOOK_SECRET = "bench-webhook-secret-0123456789abcdef"


def call_record(i: int) -> dict:
    call_id, started = 7_000_000_000_000_000 + i, T0 + i * 1_000
    request = {"date_started": started, "call_id": call_id, "external_number": f"+1415555{i % 10000:04d}",
               "internal_number": "+14155551001", "contact_id": None, "contact_type": None}  # fmt: skip
    if i % 31 == 0:
        crumbs, target = [], (RECEPTION, "department", "Reception")
    elif i % 17 == 0:
        target = (RECEPTION, "department", "Reception")
        crumbs = [routing_breadcrumb(date=started, url="https://ops.example/route", request=request,
                                     response=error_response("http_status", status=503, latency_ms=21.0),
                                     target_id=RECEPTION, target_type="department")]  # fmt: skip
    else:
        target = (TIER1, "callcenter", "Support Tier 1")
        crumbs = [routing_breadcrumb(date=started, url="https://ops.example/route", request=request,
                                     response={"target_id": TIER1, "target_type": "callcenter"},
                                     target_id=TIER1, target_type="callcenter")]  # fmt: skip
    return call_proto(
        call_id=call_id, date_started=started, timeline=simulated_timeline(0, call_id, started),
        external_number=request["external_number"], internal_number="+14155551001",
        target=contact(target[0], target[1], name=target[2]),
        entry_point=contact(ROUTER, "callrouter", name="Bench line", phone="+14155551001"), breadcrumbs=crumbs,
    )  # fmt: skip


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


# --------------------------------------------------------------------------- 1. pull


def bench_pull(n: int, tmp: Path) -> None:
    print(f"\n1. pull {n:,} calls (page size 1000)")
    server = start_sandbox(db_path=tmp / "pull.sqlite3", clock=SimulatedClock(T0 + n * 1_000), page_size=1000)
    try:
        store = server.state.store
        t, _ = timed(lambda: _fill(store, n))
        print(f"   (wrote {n:,} CallProto rows into the sandbox in {t:.1f} s)")
        params = {"target_id": ROUTER, "target_type": "callrouter"}

        def raw() -> list:
            items, cursor = [], None
            with httpx.Client(
                base_url=server.url, headers={"Authorization": f"Bearer {server.api_key}"}
            ) as http:
                while True:
                    page = http.get(
                        "/api/v2/call", params={**params, **({"cursor": cursor} if cursor else {})}
                    ).json()
                    items += page["items"]
                    cursor = page.get("cursor")
                    if not cursor:
                        return items

        client = DialpadClient(base_url=server.url, api_key=server.api_key, clock=server.clock)
        t_raw, items = timed(raw)
        t_client, frame = timed(lambda: client.calls(ROUTER, progress=False))
        t_raw2, _ = timed(raw)  # again, after the client: the order must not favour either
        base = min(t_raw, t_raw2)
        assert len(items) == len(frame) == n
        print(
            f"   raw httpx paging      {base:6.2f} s  ({n / base:9,.0f} calls/s; runs {t_raw:.2f}, {t_raw2:.2f})"
        )
        print(
            f"   client.calls()        {t_client:6.2f} s  ({n / t_client:9,.0f} calls/s)  typed frame, {len(frame.columns)} columns, raw kept"
        )
        print(
            f"   ratio client/raw      {t_client / base:6.2f}x   (pacer waited {client._pacer('call.list').waited_s:.1f} s)"
        )
        client.close()
    finally:
        server.stop()


def _fill(store, n: int) -> None:
    rows = []
    for i in range(n):
        rec = call_record(i)
        rows.append((rec["call_id"], rec["date_started"], ROUTER, int(rec["target"]["id"]), rec["target"]["type"],
                     json.dumps(rec, separators=(",", ":"))))  # fmt: skip
    with store.transaction() as conn:
        conn.executemany(
            "INSERT INTO calls(call_id, date_started, router_id, target_id, target_type, record) VALUES (?, ?, ?, ?, ?, ?)",
            rows,
        )


# --------------------------------------------------------------------------- 2. read


def bench_read(n: int, tmp: Path) -> None:
    path = tmp / "calls.jsonl"
    t, _ = timed(
        lambda: path.write_text(
            "".join(json.dumps(call_record(i), separators=(",", ":")) + "\n" for i in range(n))
        )
    )
    print(
        f"\n2. read_calls on {n:,} CallProto lines ({path.stat().st_size / 1e6:,.0f} MB, written in {t:.0f} s)"
    )

    def naive() -> pd.DataFrame:
        with open(path, "rb") as f:
            return pd.DataFrame([json.loads(line) for line in f])

    t_fast, res = timed(lambda: read_calls(path))
    assert len(res.calls) == n, res.summary
    t_naive, df = timed(naive)
    assert len(df) == n
    print(f"   read_calls            {t_fast:6.2f} s  ({n / t_fast / 1e6:.2f} M lines/s)  {res.summary}")
    print(f"   json.loads loop       {t_naive:6.2f} s  (no checks; nested fields left as dicts)")
    print(f"   ratio naive/read_calls {t_naive / t_fast:5.1f}x")
    path.unlink()


# --------------------------------------------------------------------------- 3. deliver


def bench_deliver(n_events: int, tmp: Path) -> None:
    n_calls = max(1, n_events // 4)
    print(
        f"\n3. event delivery: {n_calls:,} calls x 4 states = {4 * n_calls:,} signed events to a loopback receiver"
    )
    endpoint = serve_endpoint(
        routing_endpoint(lambda r: (TIER1, "callcenter"), fallback=(TIER1, "callcenter"))
    )
    receiver_app = event_receiver(secret=HOOK_SECRET)
    receiver = serve_receiver(receiver_app)
    kit = receiver_app.state.receiver
    server = start_sandbox(db_path=tmp / "events.sqlite3", clock=SimulatedClock())
    client = DialpadClient(base_url=server.url, api_key=server.api_key, clock=server.clock)
    client.attach_sandbox(server, owned=True)
    try:
        router = client.create_router(name="Bench", routing_url=endpoint.url, default_target="Reception")
        number = client.assign_number(router.id).number
        control = client.control

        def place(count: int) -> float:
            start = control.clock()
            calls = [
                {"to": number, "from": "+14155550123", "at": start + (i + 1) * 1_000} for i in range(count)
            ]
            t, _ = timed(lambda: control.place_calls(calls))
            return t

        t_plain = place(n_calls)  # dispatch alone, nothing subscribed
        hook = client.create_webhook(receiver.url + "/events", secret=HOOK_SECRET)
        client.create_call_subscription(hook, call_states=["all"], router=router)
        t0 = time.perf_counter()
        t_dispatch = place(n_calls)
        kit.log.wait_for(4 * n_calls, timeout_s=600)
        t_delivered = time.perf_counter() - t0
        assert kit.refused == 0

        events = [sign(call_event(call_record(i), "hangup") | {"call_id": 8_000_000_000_000_000 + i}, HOOK_SECRET)
                  for i in range(4 * n_calls)]  # fmt: skip
        with httpx.Client() as http:
            t_raw, _ = timed(
                lambda: [
                    http.post(receiver.url + "/raw", content=e, headers={"Content-Type": "application/jwt"})
                    for e in events
                ]
            )
        assert kit.log.accepted == 8 * n_calls
        rate, base = 4 * n_calls / t_delivered, 4 * n_calls / t_raw
        print(f"   raw httpx POSTs       {t_raw:6.2f} s  ({base:7,.0f} events/s; one client, sequential)")
        print(
            f"   sandbox delivery      {t_delivered:6.2f} s  ({rate:7,.0f} events/s; queued in SQLite, 2 senders)"
        )
        print(f"   ratio delivery/raw    {rate / base:6.2f}x")
        print(f"   dispatch {n_calls:,} calls: {t_plain:.2f} s without a subscription, {t_dispatch:.2f} s with "
              f"(x{t_dispatch / t_plain:.2f}): events are queued in the call's transaction, sent by another thread")  # fmt: skip
    finally:
        client.close()
        endpoint.stop()
        receiver.stop()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pull", type=int, default=100_000)
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--events", type=int, default=2_000)
    args = ap.parse_args()
    print(f"python {sys.version.split()[0]}, pandas {pd.__version__}, {os.cpu_count()} CPUs")
    try:
        print(f"load average at start: {os.getloadavg()}")
    except OSError:  # pragma: no cover
        pass
    with tempfile.TemporaryDirectory() as tmp:
        if args.pull:
            bench_pull(args.pull, Path(tmp))
        if args.lines:
            bench_read(args.lines, Path(tmp))
        if args.events:
            bench_deliver(args.events, Path(tmp))
    return 0


if __name__ == "__main__":
    sys.exit(main())
