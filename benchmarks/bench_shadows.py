"""What shadows cost the answer: ``dialpad-nb endpoint`` with 0, 1 and 3 shadows in the same run.

One worker process serves a signed 50-row matrix with the sample CRM (2,400 contacts); each shadow
is another 50-row matrix with the same CRM (rules shuffled, so shadows disagree with the control on
some calls). The load generator is this process: ``CONNECTIONS`` keep-alive HTTP/1.1 connections
on asyncio, each with one request at a time (a closed loop at fixed concurrency), on loopback.
The three configurations run in turn, ``ROUNDS`` times (0, 1, 3, 0, 1, 3, ...), so a burst of load
from elsewhere on the machine hits all of them alike; the figures are each configuration's median
over the rounds, and the overhead is against the 0-shadow run of the same rounds.

Two loads, both on the same endpoints in the same run:

* **closed loop at a fixed concurrency** (``CONNECTIONS``): each connection sends its next request
  as soon as the answer arrives, so the endpoint is always busy: this is its throughput ceiling,
  and the latency then includes waiting behind other requests' work (shadows included);
* **open loop at a fixed rate** (``RATE`` requests/s, Poisson arrivals from a seeded generator,
  latency measured from each request's scheduled time so a slow answer cannot hide the ones
  queued behind it): the latency a caller sees while the endpoint has CPU to spare.

Shadows yield to answers (a shadow starts when no request is being answered; one that cannot
start within its budget is not run, ``busy``), so each line also says what share of the shadow
evaluations was shed that way: under a closed loop that never leaves the endpoint idle, most are.

Client and server share the machine's cores (2 here, shared with other work): with 3 shadows the
endpoint does four rule evaluations per request instead of one. The goal named in issue 13 is a
p99 overhead of at most 20 % with 3 shadows; this prints what is measured.

Run: ``.venv/bin/python benchmarks/bench_shadows.py [SECONDS] [ROUNDS] [CONNECTIONS] [RATE]``
(defaults 5, 3, 8, 150).
"""

from __future__ import annotations

import asyncio
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import bench_endpoint_serving as serving

CONFIGS = (0, 1, 3)


async def open_loop(port: int, reqs: list[bytes], seconds: float, rate: float, seed: int = 0) -> dict:
    """Poisson arrivals at ``rate``/s for ``seconds``; latency from each request's scheduled time."""
    rng = random.Random(seed)
    pool: asyncio.Queue = asyncio.Queue()
    for _ in range(32):
        pool.put_nowait(await asyncio.open_connection("127.0.0.1", port))
    latencies: list[float] = []
    failures = 0

    async def one(body: bytes, due: float) -> None:
        nonlocal failures
        reader, writer = await pool.get()
        try:
            head = (
                f"POST /route HTTP/1.1\r\nHost: x\r\nContent-Type: application/jwt\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            ).encode()
            writer.write(head + body)
            status = await reader.readline()
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - due)
            if not status.startswith(b"HTTP/1.1 200"):
                failures += 1
        except (OSError, asyncio.IncompleteReadError):
            failures += 1
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        finally:
            pool.put_nowait((reader, writer))

    start = time.perf_counter()
    due, tasks, i = start, [], 0
    while due < start + seconds:
        due += rng.expovariate(rate)
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(reqs[i % len(reqs)], due)))
        i += 1
    await asyncio.gather(*tasks)
    while not pool.empty():
        _, writer = pool.get_nowait()
        writer.close()
    latencies.sort()
    n = len(latencies)
    return {
        "rps": n / seconds,
        "p50_ms": latencies[n // 2] * 1000 if n else float("nan"),
        "p99_ms": latencies[min(n - 1, int(n * 0.99))] * 1000 if n else float("nan"),
        "n": n,
        "failures": failures,
    }


def run(
    matrix: Path, shadows: list[Path], log: Path, reqs: list[bytes], seconds: float, rate: float
) -> tuple[dict, dict]:
    port = serving.free_port()
    cmd = [
        sys.executable,
        "-m",
        "dialpad_nb.cli",
        "endpoint",
        "--matrix",
        str(matrix),
        "--timezone",
        serving.TZ,
    ]
    cmd += ["--crm", str(serving.CRM), "--secret-env", "BENCH_SECRET", "--log", str(log), "--port", str(port)]
    for k, shadow in enumerate(shadows):
        cmd += ["--shadow", f"shadow{k}={shadow}"]
    proc, _ = serving.start(cmd, {"BENCH_SECRET": serving.SECRET})
    try:
        serving.wait_ready(port)
        asyncio.run(serving.load(port, reqs, 1.0))  # warm-up
        t0 = time.time() * 1000
        closed = asyncio.run(serving.load(port, reqs, seconds))
        t1 = time.time() * 1000
        opened = asyncio.run(open_loop(port, reqs, seconds, rate))
    finally:
        serving.stop(proc)  # drains: every record is written
    if shadows:  # how many shadow evaluations ran, and how many were shed (busy) to keep answers first
        from dialpad_nb.calls import read_experiment

        results = read_experiment(log).shadows
        ms = results["time"].dt.tz_convert("UTC").astype("datetime64[ms, UTC]").astype("int64")
        for phase, lo, hi in (("closed", t0, t1), ("open", t1, float("inf"))):
            part = results[(ms >= lo) & (ms < hi)]
            busy = int((part["outcome"] == "busy").sum())
            (closed if phase == "closed" else opened)["shed"] = busy / len(part) if len(part) else 0.0
    return closed, opened


def main(seconds: float = 5.0, rounds: int = 3, connections: int = 8, rate: float = 150.0) -> None:
    serving.CONNECTIONS = connections
    reqs = serving.bodies(2000)
    results: dict[str, dict[int, list[dict]]] = {
        "closed": {n: [] for n in CONFIGS},
        "open": {n: [] for n in CONFIGS},
    }
    with tempfile.TemporaryDirectory() as tmp:
        matrix = Path(tmp) / "control.csv"
        matrix.write_text(serving.matrix_50())
        shadows = []
        for k in range(3):
            path = Path(tmp) / f"shadow{k}.csv"
            text = serving.matrix_50(flip=k % 2 == 0).replace("\nr", f"\ns{k}r")  # other rule names
            path.write_text(text)
            shadows.append(path)
        print(
            f"signed requests, 50-row matrices + 2,400-contact CRM, 1 worker; {seconds:g} s per load, {rounds} rounds; "
            f"closed loop: {connections} keep-alive connections; open loop: {rate:g} requests/s (Poisson)"
        )
        for r in range(rounds):
            for n in CONFIGS:
                closed, opened = run(matrix, shadows[:n], Path(tmp) / f"e{n}-{r}.jsonl", reqs, seconds, rate)
                results["closed"][n].append(closed)
                results["open"][n].append(opened)
                print(
                    f"  round {r + 1}, {n} shadow{'s' * (n != 1)}: closed {closed['rps']:5.0f} req/s "
                    f"p50 {closed['p50_ms']:5.1f} p99 {closed['p99_ms']:6.1f} ms shed {closed.get('shed', 0):4.0%} | "
                    f"open {opened['rps']:4.0f} req/s p50 {opened['p50_ms']:5.1f} p99 {opened['p99_ms']:6.1f} ms "
                    f"shed {opened.get('shed', 0):4.0%} | failures {closed['failures'] + opened['failures']}"
                )
    for load in ("closed", "open"):
        title = (
            f"closed loop, {connections} connections"
            if load == "closed"
            else f"open loop, {rate:g} requests/s"
        )
        print(f"{title}: median over the rounds (against 0 shadows, same rounds)")
        base = {k: statistics.median(r[k] for r in results[load][0]) for k in ("rps", "p50_ms", "p99_ms")}
        for n in CONFIGS:
            med = {k: statistics.median(r[k] for r in results[load][n]) for k in ("rps", "p50_ms", "p99_ms")}
            failures = sum(r["failures"] for r in results[load][n])
            shed = statistics.median(r.get("shed", 0.0) for r in results[load][n])
            print(
                f"  {n} shadow{'s' * (n != 1)}: {med['rps']:6.0f} req/s ({med['rps'] / base['rps'] - 1:+.0%}), "
                f"p50 {med['p50_ms']:5.1f} ms ({med['p50_ms'] / base['p50_ms'] - 1:+.0%}), "
                f"p99 {med['p99_ms']:6.1f} ms ({med['p99_ms'] / base['p99_ms'] - 1:+.0%}), "
                f"shadow evaluations shed {shed:.0%}, failures {failures}"
            )


if __name__ == "__main__":
    args = sys.argv[1:]
    main(
        float(args[0]) if args else 5.0,
        int(args[1]) if len(args) > 1 else 3,
        int(args[2]) if len(args) > 2 else 8,
        float(args[3]) if len(args) > 3 else 150.0,
    )
