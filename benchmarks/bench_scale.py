"""Replay at scale: a Parquet dataset of N generated calls, replayed streamed, in memory and on Dask.

    .venv/bin/python benchmarks/bench_scale.py [--sizes 1000000,10000000,50000000]
        [--dask-size 10000000] [--per-source 1000000] [--in-memory-max 10000000]
        [--reference-max 50000000]

One dataset grows through the sizes (1M, then 9M more, then 40M more: the smaller datasets are
the first sources of the larger). For each size N:

1. **generate**: ``generate_calls`` (vectorised) in sources of ``--per-source`` calls (a week
   each, so 50M spans about a year), each added with ``calls.dataset.add_calls`` (the same
   parts, manifest and atomic renames as ``ingest``, without the JSON round trip);
2. **stream**: ``stream_compare(dataset, candidate, baseline=current, capacity=...,
   changes_to=...)`` in a fresh child process: wall time and peak RSS (VmHWM);
3. baselines, each in its own fresh child, summaries checked equal to the stream's:
   - **reference stream** (N <= ``--reference-max``): what ``stream_compare`` ran before it
     counted from codes: every source read whole (``iter_calls``) and put through ``compare``
     (``partial_of``), merged by the same ``finish``;
   - **in memory** (N <= ``--in-memory-max``, where it fits): ``compare(read_calls(ds).calls)``;
   - **Dask** (N == ``--dask-size``): ``dask_compare`` on a ``LocalCluster`` of 2 worker
     processes (1 thread each), against the stream; peak RSS is the client's and each worker's.

Each line states the load average (1 min) when it finished: the machine (2 cores) is shared, so
compare figures within one run. The issue's goal: 50M calls in <= 60 s with peak RSS <= 1.5 GB.
The rules are data/routing_candidate.csv vs data/routing_current.csv with the CRM enrichment
and data/capacity.csv.
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
ds, changes = sys.argv[1], sys.argv[2]
workers_hwm = []
"""
CHILDREN = {
    "stream": """
from dialpad_nb.rules.streamed import stream_compare
t0 = time.perf_counter()
res = stream_compare(ds, candidate, baseline=current, capacity=capacity, changes_to=changes)
""",
    "reference": """
from dialpad_nb.calls.read import iter_calls
from dialpad_nb.rules.comparison import target_names
from dialpad_nb.rules.streamed import Partial, finish, partial_of
t0 = time.perf_counter()
total, k = Partial(), 0
for k, chunk in enumerate(iter_calls(ds)):
    total.merge(partial_of(chunk.calls, candidate, current, changes_to=changes, part=k))
res = finish(total, capacity, target_names(None, candidate, current), changes_to=changes, chunks=k + 1)
""",
    "memory": """
from dialpad_nb.calls.read import read_calls
from dialpad_nb.rules.comparison import compare
t0 = time.perf_counter()
res = compare(read_calls(ds, progress=False).calls, candidate, baseline=current, capacity=capacity)
""",
    "dask": f"""
from dask.distributed import Client, LocalCluster
from dialpad_nb.rules.dask_replay import dask_compare
with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \\
        Client(cluster) as client:
    client.run(lambda: __import__("dialpad_nb.rules.chunk_tally"))  # workers warm: imports not timed
    t0 = time.perf_counter()
    res = dask_compare(ds, candidate, baseline=current, capacity=capacity, client=client, changes_to=changes)
    elapsed_ = time.perf_counter() - t0
    workers_hwm = sorted(client.run(lambda: {HWM}).values())
t0 = time.perf_counter() - elapsed_
""",
}
REPORT = f"""
elapsed = time.perf_counter() - t0
print(repr((elapsed, {HWM}, workers_hwm, str(res.summary), res.summary.peaks.to_json(),
            res.summary.volume.to_json(), res.rule_hits.to_json())))
"""


def run_child(kind: str, ds: Path) -> dict:
    with tempfile.TemporaryDirectory(dir=ds.parent) as changes:
        code = SETUP + CHILDREN[kind] + REPORT
        out = subprocess.run([sys.executable, "-c", code, str(ds), changes], capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"{kind} child failed:\n{out.stderr[-3000:]}")
    t, hwm, workers, *result = eval(out.stdout.strip().splitlines()[-1])  # our own child's repr
    return {"s": t, "rss_mb": hwm / 1024, "workers_mb": [w / 1024 for w in workers],
            "result": tuple(result), "load": os.getloadavg()[0]}  # fmt: skip


def build(ds: Path, have: tuple[int, int], n: int, per_source: int) -> tuple[float, tuple[int, int]]:
    """Add sources to the dataset holding ``have = (calls, sources)`` until it holds ``n`` calls."""
    t0 = time.perf_counter()
    start = pd.Timestamp("2026-01-01")
    calls, k = have
    while calls < n:
        size = min(per_source, n - calls)
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
        calls += size
    return time.perf_counter() - t0, (calls, k)


def line(label: str, r: dict, extra: str = "") -> None:
    workers = f" (workers {', '.join(f'{w:.0f}' for w in r['workers_mb'])} MB)" if r["workers_mb"] else ""
    print(f"  {label:<38} {r['s']:7.1f} s   peak RSS {r['rss_mb']:6.0f} MB{workers}   "
          f"load {r['load']:.1f}{extra}", flush=True)  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="1000000,10000000,50000000")
    ap.add_argument("--per-source", type=int, default=1_000_000)
    ap.add_argument("--in-memory-max", type=int, default=10_000_000)
    ap.add_argument("--reference-max", type=int, default=50_000_000)
    ap.add_argument("--dask-size", type=int, default=10_000_000)
    ap.add_argument("--tmp", default=None, help="where the dataset is written (default: the system's)")
    args = ap.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    began = time.perf_counter()
    print(f"python {sys.version.split()[0]}, pandas {pd.__version__}, {os.cpu_count()} CPUs, "
          f"load {os.getloadavg()}")  # fmt: skip
    rows = []
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        ds = Path(tmp) / "ds"
        have = (0, 0)
        for n in sizes:
            gen_s, have = build(ds, have, n, args.per_source)
            size_mb = sum(p.stat().st_size for p in ds.rglob("*.parquet")) / 1e6
            print(f"\n{n:,} calls: {gen_s:.1f} s to generate and write the calls added "
                  f"({size_mb:,.0f} MB of Parquet in all)", flush=True)  # fmt: skip
            stream = run_child("stream", ds)
            line("stream_compare", stream)
            row = {"calls": n, "stream_s": stream["s"], "stream_rss_mb": stream["rss_mb"],
                   "stream_load": stream["load"]}  # fmt: skip
            for kind, label, limit in (
                ("reference", "reference stream (compare per chunk)", args.reference_max),
                ("memory", "in-memory compare", args.in_memory_max),
            ):
                if n <= limit:
                    r = run_child(kind, ds)
                    same = r["result"] == stream["result"]
                    line(label, r, f"   time / stream's: {r['s'] / stream['s']:.2f}; same result: {same}")
                    row |= {f"{kind}_s": r["s"], f"{kind}_rss_mb": r["rss_mb"], f"{kind}_same": same}
            if n == args.dask_size:
                r = run_child("dask", ds)
                same = r["result"] == stream["result"]
                line("dask_compare, 2 worker processes", r,
                     f"   time / stream's: {r['s'] / stream['s']:.2f}; same result: {same}")  # fmt: skip
                row |= {"dask_s": r["s"], "dask_same": same}
            print(f"  {stream['result'][0][:150]}")
            rows.append(row)
    print("\n" + pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.1f}"))
    last = rows[-1]
    if last["calls"] >= 50_000_000:
        met = last["stream_s"] <= 60 and last["stream_rss_mb"] <= 1536
        print(f"\ngoal (50M calls <= 60 s, peak RSS <= 1.5 GB): {last['stream_s']:.1f} s, "
              f"{last['stream_rss_mb']:,.0f} MB at load {last['stream_load']:.1f}: {'met' if met else 'NOT met'}")  # fmt: skip
    print(f"benchmark wall time: {time.perf_counter() - began:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
