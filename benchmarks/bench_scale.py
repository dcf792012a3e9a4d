"""Replay at scale: a Parquet dataset of N generated calls, replayed streamed, in memory and on Dask.

    .venv/bin/python benchmarks/bench_scale.py [--sizes 1000000,10000000] [--dask-size 10000000]
                                               [--per-source 1000000] [--in-memory-max 10000000]

For each size N (one dataset per size, in a temporary folder):

1. **generate**: ``generate_calls`` in sources of ``--per-source`` calls (a week each, so N=50M
   spans about a year), each added to the dataset (``calls.dataset.add_calls``: the same parts,
   manifest and atomic renames as ``ingest``, without the JSON round trip);
2. **stream**: ``stream_compare(dataset, candidate, baseline=current, capacity=...)`` in a fresh
   child process: wall time and peak RSS (VmHWM);
3. **in memory** (the same-run baseline, where it fits: N <= ``--in-memory-max``):
   ``compare(read_calls(dataset).calls, ...)`` in a fresh child process; its summary must equal
   the streamed one (checked);
4. **Dask** (N == ``--dask-size``): ``dask_compare`` on a ``LocalCluster`` of 2 worker processes
   (1 thread each) against the single-process stream of the same dataset; summaries checked equal.

The rules are data/routing_candidate.csv vs data/routing_current.csv with the CRM enrichment and
data/capacity.csv. The machine is shared (2 cores): compare figures within one run.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from dialpad_nb.calls.columns import CALL_DTYPES
from dialpad_nb.calls.dataset import add_calls
from dialpad_nb.samples import generate as datagen

ROOT = Path(__file__).resolve().parent.parent
HWM = "int(next(l for l in open('/proc/self/status') if l.startswith('VmHWM')).split()[1])"
SETUP = f"""
import sys, time, warnings
warnings.simplefilter("ignore")
from dialpad_nb.rules.enrich import Enrichment
from dialpad_nb.rules.ruleset import load_matrix
data = {str(ROOT / "data")!r}
crm = Enrichment.from_csv(data + "/crm_contacts.csv")
tz = "America/Los_Angeles"
current = load_matrix(data + "/routing_current.csv", timezone=tz).with_enrichment(crm)
candidate = load_matrix(data + "/routing_candidate.csv", timezone=tz).with_enrichment(crm)
capacity = data + "/capacity.csv"
ds = sys.argv[1]
"""
CHILDREN = {
    "stream": """
from dialpad_nb.rules.streamed import stream_compare
t0 = time.perf_counter()
res = stream_compare(ds, candidate, baseline=current, capacity=capacity)
""",
    "memory": """
from dialpad_nb.calls.read import read_calls
from dialpad_nb.rules.comparison import compare
t0 = time.perf_counter()
res = compare(read_calls(ds, progress=False).calls, candidate, baseline=current, capacity=capacity)
""",
    "dask": """
from dask.distributed import Client, LocalCluster
from dialpad_nb.rules.dask_replay import dask_compare
with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \\
        Client(cluster) as client:
    client.run(lambda: __import__("dialpad_nb.rules.streamed"))  # workers warm: imports not timed
    t0 = time.perf_counter()
    res = dask_compare(ds, candidate, baseline=current, capacity=capacity, client=client)
""",
}
REPORT = f"""
elapsed = time.perf_counter() - t0
print(repr((elapsed, {HWM}, str(res.summary), res.summary.peaks.to_json(), res.summary.volume.to_json())))
"""


def run_child(kind: str, ds: Path) -> tuple[float, int, str, str, str]:
    code = SETUP + CHILDREN[kind] + REPORT
    out = subprocess.run([sys.executable, "-c", code, str(ds)], capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"{kind} child failed:\n{out.stderr[-3000:]}")
    return eval(out.stdout.strip().splitlines()[-1])  # our own child's repr of a tuple


def build(ds: Path, n: int, per_source: int) -> float:
    t0 = time.perf_counter()
    start = pd.Timestamp("2026-01-01")
    k = 0
    while k * per_source < n:
        size = min(per_source, n - k * per_source)
        gen = datagen.generate_calls(
            size, seed=100 + k, start=str((start + pd.Timedelta(days=7 * k)).date()), days=7
        )
        frame = pd.DataFrame(
            {
                "date_started": pd.to_datetime(gen["date_started"], unit="ms", utc=True),
                "call_id": gen["call_id"].to_numpy() + k * 10**10,
                "external_number": gen["external_number"],
                "internal_number": gen["internal_number"],
                "contact_id": gen["contact_id"],
                "contact_type": gen["contact_type"],
                "line": np.arange(1, size + 1, dtype=np.int64),
            }
        )
        for col in CALL_DTYPES:
            if col not in frame.columns:
                frame[col] = pd.Series(pd.NA, index=frame.index, dtype=CALL_DTYPES[col])
        frame["signed"] = False
        frame["source"] = f"generated-{k:04d}"
        add_calls(ds, frame[list(CALL_DTYPES)], source=f"generated-{k:04d}")
        k += 1
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="1000000,10000000")
    ap.add_argument("--per-source", type=int, default=1_000_000)
    ap.add_argument("--in-memory-max", type=int, default=10_000_000)
    ap.add_argument("--dask-size", type=int, default=10_000_000)
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    print(
        f"python {sys.version.split()[0]}, pandas {pd.__version__}, {os.cpu_count()} CPUs, load {os.getloadavg()}"
    )
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            ds = Path(tmp) / f"ds-{n}"
            gen_s = build(ds, n, args.per_source)
            size_mb = sum(p.stat().st_size for p in ds.rglob("*.parquet")) / 1e6
            print(
                f"\n{n:,} calls: generated + written in {gen_s:.1f} s ({size_mb:.0f} MB of Parquet)",
                flush=True,
            )
            s_t, s_rss, s_sum, s_peaks, s_vol = run_child("stream", ds)
            print(f"  stream_compare      {s_t:7.1f} s   peak RSS {s_rss / 1024:6.0f} MB", flush=True)
            row = {"calls": n, "generate_s": gen_s, "stream_s": s_t, "stream_rss_mb": s_rss / 1024}
            if n <= args.in_memory_max:
                m_t, m_rss, m_sum, m_peaks, m_vol = run_child("memory", ds)
                same = (m_sum, m_peaks, m_vol) == (s_sum, s_peaks, s_vol)
                print(
                    f"  in-memory compare   {m_t:7.1f} s   peak RSS {m_rss / 1024:6.0f} MB   same summary: {same}"
                )
                row |= {"memory_s": m_t, "memory_rss_mb": m_rss / 1024, "same": same}
            if n == args.dask_size:
                d_t, d_rss, d_sum, d_peaks, d_vol = run_child("dask", ds)
                same = (d_sum, d_peaks, d_vol) == (s_sum, s_peaks, s_vol)
                print(
                    f"  dask_compare (2 workers) {d_t:7.1f} s   vs stream {s_t:.1f} s: {s_t / d_t:.2f}x; same: {same}"
                )
                row |= {"dask_s": d_t, "dask_same": same}
            print(f"  {s_sum.splitlines()[0][:160]}")
            rows.append(row)
            import shutil

            shutil.rmtree(ds)
    print("\n" + pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.1f}"))
    if len(rows) >= 2:
        a, b = rows[-2], rows[-1]
        per = (b["stream_s"] - a["stream_s"]) / (b["calls"] - a["calls"])
        print(f"\nstream time per extra call: {per * 1e6:.2f} s per 1M; extrapolated 50M: "
              f"{b['stream_s'] + per * (50_000_000 - b['calls']):.0f} s")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
