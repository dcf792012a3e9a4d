"""Ingest speed: read_calls vs naive per-line loops, measured in the same run.

    .venv/bin/python benchmarks/bench_ingest.py [--calls 1000000] [--jwt-calls 200000] [--repeat 2]

Writes two generated logs (``dialpad_nb.samples.generate``) into a temporary folder:

* plain: ``--calls`` plain JSON payload lines;
* JWT: ``--jwt-calls`` compact HS256 JWT lines.

and times, best of ``--repeat``:

* ``read_calls(plain)`` vs a naive baseline that does *less* work
  (``json.loads`` per line into a DataFrame; no validation, no normalisation);
* ``read_calls(jwt, secret)`` vs a PyJWT-per-token loop
  (``jwt.decode(token, secret, algorithms=["HS256"])``, no DataFrame);
* ``read_calls`` of a gzip log mixed like ``data/`` (plain, JWT, wrapped, bad lines; no baseline);
* peak memory of ``iter_calls(plain, chunksize=...)`` in child processes, against the file size.

Targets (issue 4, 2-core machine): 1M plain lines <= 3 s; JWT lines >= 5x the PyJWT loop.
The machine is shared: the ratios (same run, same load) are the figures to trust.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import jwt
import pandas as pd

from dialpad_nb.calls.read import read_calls
from dialpad_nb.samples import generate as datagen


def best_of(repeat: int, fn):
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return min(times), times, result


def naive_plain(path: Path) -> pd.DataFrame:
    with open(path, "rb") as f:
        return pd.DataFrame([json.loads(line) for line in f if line.strip()])


def naive_jwt(path: Path, secret: str) -> list[dict]:
    with open(path, "rb") as f:
        return [jwt.decode(line.strip(), secret, algorithms=["HS256"]) for line in f if line.strip()]


# VmHWM (peak resident set of this process image; unlike ru_maxrss it is not inherited through fork+exec)
HWM = "int(next(l for l in open('/proc/self/status') if l.startswith('VmHWM')).split()[1])"
CHILD = f"""
import sys
from dialpad_nb.calls.read import iter_calls
n = 0
for chunk in iter_calls(sys.argv[1], chunksize=int(sys.argv[2])):
    n += len(chunk.calls)
print(n, {HWM})
"""

BASELINE_CHILD = f"""
import pandas, pyarrow, numpy, dialpad_nb.calls.read
print({HWM})
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--calls", type=int, default=1_000_000)
    ap.add_argument("--jwt-calls", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--no-mixed", dest="mixed", action="store_false", help="skip the mixed-log timing")
    args = ap.parse_args()
    secret = datagen.SAMPLE_SECRET
    print(
        f"python {sys.version.split()[0]}, pandas {pd.__version__}, PyJWT {jwt.__version__}, {os.cpu_count()} CPUs"
    )
    try:
        print(f"load average at start: {os.getloadavg()}")
    except OSError:  # pragma: no cover
        pass

    with tempfile.TemporaryDirectory() as tmp:
        plain, tokens = Path(tmp) / "plain.jsonl", Path(tmp) / "jwt.jsonl"
        t0 = time.perf_counter()
        datagen.write_call_log(plain, args.calls, seed=1, jwt_share=0, wrapped_share=0)
        datagen.write_call_log(tokens, args.jwt_calls, seed=2, jwt_share=1.0, wrapped_share=0, secret=secret)
        print(
            f"generated {args.calls:,} plain lines ({plain.stat().st_size / 1e6:.0f} MB) and "
            f"{args.jwt_calls:,} JWT lines ({tokens.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t0:.1f} s"
        )

        print("\nplain JSON lines")
        fast, fast_all, res = best_of(args.repeat, lambda: read_calls(plain))
        assert len(res.calls) == args.calls, res.summary
        slow, slow_all, df = best_of(args.repeat, lambda: naive_plain(plain))
        assert len(df) == args.calls
        print(
            f"  read_calls          {fast:6.2f} s  (runs: {', '.join(f'{t:.2f}' for t in fast_all)})  {res.summary}"
        )
        print(
            f"  json.loads loop     {slow:6.2f} s  (runs: {', '.join(f'{t:.2f}' for t in slow_all)})  no validation"
        )
        print(f"  ratio {slow / fast:.1f}x; {args.calls / fast / 1e6:.2f} M lines/s; target <= 3 s per 1M lines: "
              f"{fast * 1_000_000 / args.calls:.2f} s per 1M")  # fmt: skip

        print("\nJWT lines (HS256, verified)")
        fast, fast_all, res = best_of(args.repeat, lambda: read_calls(tokens, secret))
        assert len(res.calls) == args.jwt_calls, res.summary
        slow, slow_all, out = best_of(args.repeat, lambda: naive_jwt(tokens, secret))
        assert len(out) == args.jwt_calls
        per_fast, per_slow = fast / args.jwt_calls * 1e6, slow / args.jwt_calls * 1e6
        print(
            f"  read_calls          {fast:6.2f} s  ({per_fast:.1f} us/token; runs: {', '.join(f'{t:.2f}' for t in fast_all)})"
        )
        print(
            f"  PyJWT per token     {slow:6.2f} s  ({per_slow:.1f} us/token; runs: {', '.join(f'{t:.2f}' for t in slow_all)})"
        )
        print(f"  ratio {slow / fast:.1f}x (target >= 5x); read_calls also builds the typed DataFrame")

        if args.mixed:
            mixed = Path(tmp) / "mixed.jsonl.gz"
            c = datagen.write_call_log(mixed, args.calls, seed=3, jwt_share=0.3, wrapped_share=0.05, secret=secret,
                                       bad_lines=14)  # fmt: skip
            fast, fast_all, res = best_of(args.repeat, lambda: read_calls(mixed, secret))
            print(
                f"\nmixed log like data/ (gzip; {c['plain']:,} plain, {c['jwt']:,} JWT, {c['wrapped']:,} wrapped, 14 bad)"
            )
            print(
                f"  read_calls          {fast:6.2f} s  (runs: {', '.join(f'{t:.2f}' for t in fast_all)})  {res.summary}"
            )

        print("\nmemory (child processes, peak RSS)")
        base = int(subprocess.run([sys.executable, "-c", BASELINE_CHILD], capture_output=True, text=True,
                                  check=True).stdout.split()[0])  # fmt: skip
        for chunksize in (50_000, 200_000, 1_000_000):
            out = subprocess.run(
                [sys.executable, "-c", CHILD, str(plain), str(chunksize)],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.split()
            print(
                f"  iter_calls(plain, chunksize={chunksize:>9,}): {int(out[0]):,} calls, peak RSS "
                f"{int(out[1]) / 1024:.0f} MB (imports alone {base / 1024:.0f} MB; file {plain.stat().st_size / 1e6:.0f} MB)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
