"""``dialpad-nb endpoint`` under load on loopback: requests/s and p99 latency with 1 and 2
worker processes, signed requests, a 50-row matrix with the sample CRM (2,400 contacts), against
a same-run baseline: the bare ASGI app (one JSON answer, no JWT, no rules) served the same way
(``dialpad_nb.core.serving``: same socket, uvicorn settings and supervisor) with the same number
of workers. Then reload under load: 2 workers, the matrix swapped 10 times by
SIGHUP during the run; every request must succeed.

The load generator is this process: ``CONNECTIONS`` keep-alive HTTP/1.1 connections on asyncio,
each sending one request at a time (closed loop). Client and server share the machine's cores
(2 here), so the absolute figures say more about the machine than about the server; the ratio
against the bare app is the number to compare.

Run: ``.venv/bin/python benchmarks/bench_endpoint_serving.py [SECONDS]`` (default 5 per run).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from dialpad_nb.core.signing import sign

ROOT = Path(__file__).resolve().parents[1]
CRM = ROOT / "data" / "crm_contacts.csv"
SECRET = "bench-serving-secret-0123456789abcdefghij"
TZ = "America/Los_Angeles"
CONNECTIONS = 16
T0 = 1_790_000_000_000  # 2026-09-21


async def bare_app(scope, receive, send) -> None:
    """The baseline: reads the body, answers a fixed routing decision."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    more = True
    while more:
        more = (await receive()).get("more_body", False)
    body = b'{"target_id":5002000000000201,"target_type":"callcenter"}'
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def matrix_50(flip: bool = False) -> str:
    """50 rules (dialled line x segment x hours x days, a caller prefix or two) and a default."""
    lines_ = ["+14155550142", "+14155550199", "+12065550150", "+16285550177", "+14155550100"]
    segments = ["enterprise", "smb", "consumer", "", "in:enterprise|smb"]
    targets = [(5002000000000201 + i, "callcenter") for i in range(6)] + [(5001000000000101, "department")]
    rows = ["rule,internal_number,external_number,crm.segment,hours,days,target_id,target_type"]
    for i in range(50):
        tid, ttype = targets[(i + (3 if flip else 0)) % len(targets)]
        hours = ["", "08:00-18:00", "18:00-08:00", "09:00-12:00|13:00-17:00"][i % 4]
        days = ["", "mon-fri", "sat|sun", "weekdays", "mon-sat"][i % 5]
        ext = "prefix:+1206" if i % 11 == 0 else ""
        rows.append(
            f"r{i}{'b' if flip else ''},{lines_[i % 5]},{ext},{segments[i % 5]},{hours},{days},{tid},{ttype}"
        )
    rows.append("default,,,,,,5001000000000105,department")
    return "\n".join(rows) + "\n"


def bodies(n: int) -> list[bytes]:
    import pandas as pd

    phones = pd.read_csv(CRM, dtype=str)["phone"].tolist()
    out = []
    for i in range(n):
        payload = {
            "date_started": T0 + i * 97_000,
            "call_id": 8_000_000_000_000 + i,
            "external_number": phones[i % len(phones)] if i % 3 else f"+1206555{i % 10000:04d}",
            "internal_number": ["+14155550142", "+14155550199", "+12065550150", "+16285550177"][i % 4],
            "contact_id": None,
            "contact_type": None,
        }
        # the CRM's human formats are normalised by the endpoint, as by replay
        payload["external_number"] = "+1" + re.sub(r"\D", "", payload["external_number"])[-10:]
        out.append(sign(payload, SECRET).encode())
    return out


def start(cmd: list[str], env: dict[str, str] | None = None) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env={**os.environ, **(env or {})}, stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL, text=True, start_new_session=True,
    )  # fmt: skip
    return proc, ""


def wait_ready(port: int, timeout_s: float = 60) -> None:
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            httpx.post(f"http://127.0.0.1:{port}/", content=b"{}", timeout=2)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing answers on port {port}")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def load(port: int, reqs: list[bytes], seconds: float, during=None) -> dict:
    """Closed-loop load on CONNECTIONS keep-alive connections; latencies, failures."""
    latencies: list[float] = []
    failures = 0
    stop = time.perf_counter() + seconds

    async def connection(k: int) -> None:
        nonlocal failures
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        i = k
        while time.perf_counter() < stop:
            body = reqs[i % len(reqs)]
            i += CONNECTIONS
            head = (
                f"POST /route HTTP/1.1\r\nHost: x\r\nContent-Type: application/jwt\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            ).encode()
            t = time.perf_counter()
            try:
                writer.write(head + body)
                status_line = await reader.readline()
                length = 0
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                await reader.readexactly(length)
            except (OSError, asyncio.IncompleteReadError):
                failures += 1
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                continue
            latencies.append(time.perf_counter() - t)
            if not status_line.startswith(b"HTTP/1.1 200"):
                failures += 1
        writer.close()

    tasks = [asyncio.create_task(connection(k)) for k in range(CONNECTIONS)]
    if during is not None:
        await during()
    await asyncio.gather(*tasks)
    latencies.sort()
    n = len(latencies)
    return {
        "rps": n / seconds,
        "p50_ms": latencies[n // 2] * 1000 if n else float("nan"),
        "p99_ms": latencies[min(n - 1, int(n * 0.99))] * 1000 if n else float("nan"),
        "n": n,
        "failures": failures,
    }


def stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)


def run_endpoint(
    workers: int, matrix: Path, log: Path, reqs: list[bytes], seconds: float, swaps: int = 0
) -> dict:
    port = free_port()
    cmd = [sys.executable, "-m", "dialpad_nb.cli", "endpoint", "--matrix", str(matrix), "--timezone", TZ]
    cmd += ["--crm", str(CRM), "--secret-env", "BENCH_SECRET", "--log", str(log), "--log-max-bytes", "20MB"]
    cmd += ["--workers", str(workers), "--port", str(port)]
    proc, _ = start(cmd, {"BENCH_SECRET": SECRET})
    try:
        wait_ready(port)
        asyncio.run(load(port, reqs, 1.0))  # warm-up
        texts = [matrix_50(), matrix_50(flip=True)]

        async def swapper() -> None:
            for k in range(swaps):
                await asyncio.sleep(seconds / (swaps + 1))
                tmp = matrix.with_name("next.csv")
                tmp.write_text(texts[(k + 1) % 2])
                os.replace(tmp, matrix)
                os.kill(proc.pid, signal.SIGHUP)

        return asyncio.run(load(port, reqs, seconds, swapper if swaps else None))
    finally:
        stop(proc)


BARE_RUNNER = """
import sys
from dialpad_nb.core.serving import run_foreground, run_workers
workers, port = int(sys.argv[1]), int(sys.argv[2])
if workers == 1:
    from benchmarks.bench_endpoint_serving import bare_app
    run_foreground(bare_app, host="127.0.0.1", port=port, label="bare", banner=lambda url: [url])
else:
    run_workers("benchmarks.bench_endpoint_serving:bare_factory", workers=workers, host="127.0.0.1",
                port=port, label="bare", banner=lambda url: [url])
"""


def bare_factory():
    return bare_app


def run_bare(workers: int, reqs: list[bytes], seconds: float) -> dict:
    """The bare app served exactly as the endpoint is (dialpad_nb.core.serving: same socket, same
    uvicorn settings, same supervisor)."""
    port = free_port()
    proc, _ = start([sys.executable, "-c", BARE_RUNNER, str(workers), str(port)])
    try:
        wait_ready(port)
        asyncio.run(load(port, reqs, 1.0))
        return asyncio.run(load(port, reqs, seconds))
    finally:
        stop(proc)


def main(seconds: float = 5.0) -> None:
    reqs = bodies(2000)
    with tempfile.TemporaryDirectory() as tmp:
        matrix = Path(tmp) / "routing.csv"
        matrix.write_text(matrix_50())
        print(
            f"{CONNECTIONS} keep-alive connections, {seconds:g} s per run, signed requests, 50-row matrix + CRM"
        )
        for workers in (1, 2):
            bare = run_bare(workers, reqs, seconds)
            ep = run_endpoint(workers, matrix, Path(tmp) / f"e{workers}.jsonl", reqs, seconds)
            print(
                f"{workers} worker{'s' * (workers > 1)}: bare ASGI app {bare['rps']:7.0f} req/s p99 {bare['p99_ms']:6.1f} ms"
                f" | endpoint {ep['rps']:7.0f} req/s p50 {ep['p50_ms']:5.1f} ms p99 {ep['p99_ms']:6.1f} ms"
                f" | ratio {ep['rps'] / bare['rps']:.2f}x | failures {bare['failures']}+{ep['failures']}"
            )
        log = Path(tmp) / "reload.jsonl"
        swapped = run_endpoint(2, matrix, log, reqs, seconds * 2, swaps=10)
        events = [json.loads(line) for line in log.read_text().splitlines() if '"event"' in line]
        loaded = sum(1 for e in events if e["ok"] and e["trigger"] == "signal")
        print(
            f"reload under load (2 workers, 10 SIGHUP swaps): {swapped['n']} requests, "
            f"{swapped['failures']} failed, p99 {swapped['p99_ms']:.1f} ms, {loaded} worker reloads logged"
        )


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 5.0)
