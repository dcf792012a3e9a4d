"""Ingest speed against the reader of another git revision (default ``main``), in the same run.

    .venv/bin/python benchmarks/bench_ingest_vs_ref.py [--ref main] [--calls 1000000] [--repeat 3]

Writes three generated logs (1M plain lines, 1M JWT lines, 1M mixed lines gzipped like data/:
30% JWT, 5% wrapped, 14 bad lines), extracts ``dialpad_nb/`` of ``--ref`` with ``git archive``
into a temporary folder, and times ``read_calls(path, secret, progress=False)`` in fresh child
processes, alternating the reference and this tree (best of ``--repeat``; imports not timed).
Both must accept and reject the same number of records (checked). Also times a PyJWT loop on the
JWT lines (the issue's baseline for JWT verification) between the reads, so both see the same load;
prints the issue's goal for each row, met or not, and the load average.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import jwt

from dialpad_nb.samples import generate as datagen

ROOT = Path(__file__).resolve().parent.parent
CHILD = """
import sys, time, warnings
warnings.simplefilter("ignore")
from dialpad_nb.calls.read import read_calls
t0 = time.perf_counter()
res = read_calls(sys.argv[1], sys.argv[2], progress=False)
print(time.perf_counter() - t0, len(res.calls), len(res.rejects))
"""


def timed(tree: Path, path: Path, secret: str) -> tuple[float, int, int]:
    env = dict(os.environ, PYTHONPATH=str(tree))
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), secret], capture_output=True, text=True, env=env
    )
    if out.returncode:
        raise SystemExit(out.stderr[-2000:])
    t, calls, rejects = out.stdout.split()
    return float(t), int(calls), int(rejects)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ref", default="main")
    ap.add_argument("--calls", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--pyjwt-sample", type=int, default=100_000, help="tokens timed in the PyJWT loop")
    args = ap.parse_args()
    secret = datagen.SAMPLE_SECRET
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load {os.getloadavg()}")
    with tempfile.TemporaryDirectory() as tmp:
        ref = Path(tmp) / "ref"
        ref.mkdir()
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", args.ref, "dialpad_nb"], capture_output=True, check=True
        )
        subprocess.run(["tar", "-x", "-C", str(ref)], input=archive.stdout, check=True)
        rev = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", args.ref], capture_output=True, text=True
        )
        here = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        )
        print(
            f"reference: {args.ref} ({rev.stdout.strip()}); this tree: HEAD ({here.stdout.strip()}) + working changes"
        )
        logs = {
            "plain": Path(tmp) / "plain.jsonl",
            "jwt": Path(tmp) / "jwt.jsonl",
            "mixed gzip": Path(tmp) / "mixed.jsonl.gz",
        }
        datagen.write_call_log(logs["plain"], args.calls, seed=1, jwt_share=0, wrapped_share=0)
        datagen.write_call_log(logs["jwt"], args.calls, seed=2, jwt_share=1.0, wrapped_share=0, secret=secret)
        datagen.write_call_log(logs["mixed gzip"], args.calls, seed=3, jwt_share=0.3, wrapped_share=0.05,
                               secret=secret, bad_lines=14)  # fmt: skip
        lines = logs["jwt"].read_bytes().splitlines()[: args.pyjwt_sample]

        def pyjwt_loop() -> float:
            """Seconds a PyJWT loop takes per ``args.calls`` tokens (timed on the sample)."""
            t0 = time.perf_counter()
            for line in lines:
                jwt.decode(line, secret, algorithms=["HS256"])
            return (time.perf_counter() - t0) / len(lines) * args.calls

        goals = {"plain": ("<= 1.0 s", lambda t: t <= 1.0), "mixed gzip": ("<= 2.5 s", lambda t: t <= 2.5)}
        print(
            f"{'log':12s} {'reference':>10s} {'this tree':>10s} {'speed-up':>9s}  goal       runs (ref | this)"
        )
        for name, path in logs.items():
            ref_t, new_t, loop_t = [], [], []
            for _ in range(args.repeat):
                a = timed(ref, path, secret)
                b = timed(ROOT, path, secret)
                if name == "jwt":  # timed between the reads, so both see the same load
                    loop_t.append(pyjwt_loop())
                assert a[1:] == b[1:], (name, a, b)
                ref_t.append(a[0])
                new_t.append(b[0])
            if name == "jwt":
                best_loop = min(loop_t)
                ratio = best_loop / min(new_t)
                goal = f">= 10x: {'met' if ratio >= 10 else 'NOT met'}"
                extra = (
                    f"; PyJWT loop {best_loop:.1f} s per {args.calls:,} (best of {len(loop_t)}, timed on "
                    f"{len(lines):,}): ref {best_loop / min(ref_t):.1f}x, this {ratio:.1f}x"
                )
            else:
                text, test = goals[name]
                goal, extra = f"{text}: {'met' if test(min(new_t)) else 'NOT met'}", ""
            print(f"{name:12s} {min(ref_t):9.2f}s {min(new_t):9.2f}s {min(ref_t) / min(new_t):8.2f}x  {goal:16s} "
                  f"{', '.join(f'{t:.2f}' for t in ref_t)} | {', '.join(f'{t:.2f}' for t in new_t)}{extra}"
                  f"  (load {os.getloadavg()[0]:.1f})")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
