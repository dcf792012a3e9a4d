"""What shadows cost the answer: ``dialpad-nb endpoint`` with 0, 1 and 3 shadows in the same run.

One worker process serves a signed 50-row matrix with the sample CRM (2,400 contacts); each shadow
is another 50-row matrix with the same CRM (rules shuffled, so shadows disagree with the control on
some calls). The load generator is this process: ``CONNECTIONS`` keep-alive HTTP/1.1 connections
on asyncio, each with one request at a time (a closed loop at fixed concurrency), on loopback.
The three configurations run in turn, ``ROUNDS`` times (0, 1, 3, 0, 1, 3, ...), so a burst of load
from elsewhere on the machine hits all of them alike; the figures are each configuration's median
over the rounds, and the overhead is against the 0-shadow run of the same rounds.

Client and server share the machine's cores (2 here, shared with other work): with 3 shadows the
endpoint does about four rule evaluations per request instead of one, and under a closed loop
that saturates the CPU, that work shows up in the latency. The goal named in issue 13 is a p99
overhead of at most 20 % with 3 shadows; this prints what is measured.

Run: ``.venv/bin/python benchmarks/bench_shadows.py [SECONDS] [ROUNDS] [CONNECTIONS]`` (defaults 5, 3, 8).
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import bench_endpoint_serving as serving

CONFIGS = (0, 1, 3)


def run(matrix: Path, shadows: list[Path], log: Path, reqs: list[bytes], seconds: float) -> dict:
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
        return asyncio.run(serving.load(port, reqs, seconds))
    finally:
        serving.stop(proc)


def main(seconds: float = 5.0, rounds: int = 3, connections: int = 8) -> None:
    serving.CONNECTIONS = connections
    reqs = serving.bodies(2000)
    results: dict[int, list[dict]] = {n: [] for n in CONFIGS}
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
            f"{connections} keep-alive connections (closed loop), {seconds:g} s per run, {rounds} rounds, "
            "signed requests, 50-row matrices + 2,400-contact CRM, 1 worker"
        )
        for r in range(rounds):
            for n in CONFIGS:
                got = run(matrix, shadows[:n], Path(tmp) / f"e{n}-{r}.jsonl", reqs, seconds)
                results[n].append(got)
                print(
                    f"  round {r + 1}, {n} shadow{'s' * (n != 1)}: {got['rps']:6.0f} req/s, p50 {got['p50_ms']:5.1f} ms, "
                    f"p99 {got['p99_ms']:6.1f} ms, failures {got['failures']}"
                )
    base = {k: statistics.median(r[k] for r in results[0]) for k in ("rps", "p50_ms", "p99_ms")}
    print("median over the rounds (overhead against 0 shadows, same rounds):")
    for n in CONFIGS:
        med = {k: statistics.median(r[k] for r in results[n]) for k in ("rps", "p50_ms", "p99_ms")}
        failures = sum(r["failures"] for r in results[n])
        print(
            f"  {n} shadow{'s' * (n != 1)}: {med['rps']:6.0f} req/s ({med['rps'] / base['rps'] - 1:+.0%}), "
            f"p50 {med['p50_ms']:5.1f} ms ({med['p50_ms'] / base['p50_ms'] - 1:+.0%}), "
            f"p99 {med['p99_ms']:6.1f} ms ({med['p99_ms'] / base['p99_ms'] - 1:+.0%}), failures {failures}"
        )


if __name__ == "__main__":
    args = sys.argv[1:]
    main(
        float(args[0]) if args else 5.0,
        int(args[1]) if len(args) > 1 else 3,
        int(args[2]) if len(args) > 2 else 8,
    )
