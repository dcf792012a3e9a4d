"""Ingest of many log files: one process against worker processes, in the same run.

    .venv/bin/python benchmarks/bench_ingest_workers.py [--files 8] [--calls 1000000] [--workers 2]

Writes ``--files`` generated logs of ``--calls`` lines in all (mixed gzip like data/: 30% JWT,
5% wrapped, a few bad lines; and as many plain JWT logs), then times ``ingest(..., workers=1)``
and ``ingest(..., workers=N)`` into fresh datasets, alternating (best of ``--repeat``). Both must
give the same manifest (checked). A year of logs is hundreds of files: each is read whole by one
worker, and this process commits them in order.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from dialpad_nb.calls.dataset import MANIFEST, ingest
from dialpad_nb.samples import generate as datagen


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--files", type=int, default=8)
    ap.add_argument("--calls", type=int, default=1_000_000, help="lines in all, per kind of log")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    secret = datagen.SAMPLE_SECRET
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load {os.getloadavg()}")
    per = args.calls // args.files
    with tempfile.TemporaryDirectory() as tmp:
        kinds: dict[str, list[Path]] = {"mixed gzip": [], "jwt": []}
        for k in range(args.files):
            calls = datagen.generate_calls(per, seed=k + 1, start="2026-01-01", days=30)
            calls["call_id"] += k * 10**9
            path = Path(tmp) / f"mixed-{k}.jsonl.gz"
            datagen.write_call_log(path, per, calls=calls, seed=k, jwt_share=0.3, wrapped_share=0.05,
                                   secret=secret, bad_lines=3)  # fmt: skip
            kinds["mixed gzip"].append(path)
            path = Path(tmp) / f"jwt-{k}.jsonl"
            datagen.write_call_log(
                path, per, calls=calls, seed=k, jwt_share=1.0, wrapped_share=0, secret=secret
            )
            kinds["jwt"].append(path)
        print(f"{args.files} files of {per:,} lines each, per kind\n")
        print(f"{'logs':12s} {'1 process':>10s} {f'{args.workers} workers':>10s} {'speed-up':>9s}")
        for name, files in kinds.items():
            times: dict[int, list[float]] = {1: [], args.workers: []}
            manifests = {}
            for _ in range(args.repeat):
                for w in times:
                    ds = Path(tmp) / f"ds-{w}"
                    shutil.rmtree(ds, ignore_errors=True)
                    t0 = time.perf_counter()
                    ingest(files, ds, secret, workers=w)
                    times[w].append(time.perf_counter() - t0)
                    manifests[w] = json.loads((ds / MANIFEST).read_text())
            assert manifests[1] == manifests[args.workers], "the datasets differ"
            one, many = min(times[1]), min(times[args.workers])
            print(f"{name:12s} {one:9.2f}s {many:9.2f}s {one / many:8.2f}x   (load {os.getloadavg()[0]:.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
