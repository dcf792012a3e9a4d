"""Which parser for the ingest path? The candidates on the same 1M plain lines, same run.

    .venv/bin/python benchmarks/bench_ingest_candidates.py [--calls 1000000] [--repeat 2]

Each candidate turns the generated JSON lines (``dialpad_nb.samples.generate``) into columns of
the six payload fields; none validates (``read_calls`` does, and is timed beside them). The
candidates not installed (orjson, msgspec, polars are not dependencies of dialpad_nb) are
listed as such. The machine is shared: compare within a run, not across runs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.json as pj

from dialpad_nb.calls.read import read_calls
from dialpad_nb.samples import generate as datagen

FIELDS = ("date_started", "call_id", "external_number", "internal_number", "contact_id", "contact_type")


def stdlib_json(buf: bytes) -> int:
    rows = [json.loads(line) for line in buf.splitlines()]
    cols = {f: [r.get(f) for r in rows] for f in FIELDS}
    return len(cols["call_id"])


def orjson_loop(buf: bytes) -> int:
    import orjson

    rows = [orjson.loads(line) for line in buf.splitlines()]
    cols = {f: [r.get(f) for r in rows] for f in FIELDS}
    return len(cols["call_id"])


def msgspec_typed(buf: bytes) -> int:
    import msgspec

    class Payload(msgspec.Struct):
        date_started: int | str | None = None
        call_id: int | str | None = None
        external_number: str | None = None
        internal_number: str | None = None
        contact_id: str | int | None = None
        contact_type: str | None = None

    dec = msgspec.json.Decoder(Payload)
    rows = [dec.decode(line) for line in buf.splitlines()]
    return len(rows)


def pyarrow_json(buf: bytes) -> int:
    table = pj.read_json(pa.BufferReader(buf), read_options=pj.ReadOptions(block_size=1 << 24))
    return table.num_rows


def polars_ndjson(buf: bytes) -> int:
    import io

    import polars as pl

    return pl.read_ndjson(io.BytesIO(buf)).height


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--calls", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load {os.getloadavg()}")
    with tempfile.TemporaryDirectory() as tmp:
        plain = Path(tmp) / "plain.jsonl"
        datagen.write_call_log(plain, args.calls, seed=1, jwt_share=0, wrapped_share=0)
        buf = plain.read_bytes()
        candidates: list[tuple[str, Callable[[], int]]] = [
            ("read_calls (pyarrow + numpy checks)", lambda: len(read_calls(plain, progress=False).calls)),
            ("pyarrow.json.read_json (parse only)", lambda: pyarrow_json(buf)),
            ("polars.read_ndjson (parse only)", lambda: polars_ndjson(buf)),
            ("msgspec typed Struct per line", lambda: msgspec_typed(buf)),
            ("orjson.loads per line + columns", lambda: orjson_loop(buf)),
            ("json.loads per line + columns", lambda: stdlib_json(buf)),
        ]
        base = None
        for name, fn in candidates:
            times = []
            try:
                for _ in range(args.repeat):
                    t0 = time.perf_counter()
                    n = fn()
                    times.append(time.perf_counter() - t0)
            except ImportError as exc:
                print(f"  {name:40s} not installed ({exc.name})")
                continue
            assert n == args.calls, (name, n)
            best = min(times)
            base = base or best
            runs = ", ".join(f"{t:.2f}" for t in times)
            print(f"  {name:40s} {best:6.2f} s  ({best / base:4.1f}x read_calls; runs {runs})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
