"""Bad lines must cost no more than good ones (issue #9): read_calls on 1M garbage lines against
1M good payload lines, measured in the same run (time, and peak memory in child processes).

    .venv/bin/python benchmarks/bench_hostile_ingest.py [--lines 1000000] [--repeat 2]

Files (in a temporary folder):

* good: ``--lines`` plain JSON payload lines (the baseline);
* garbage: ``--lines`` lines of ``x`` (2 bytes each: the issue's 2 MB file);
* junk JSON: ``--lines`` lines of ``{x`` (they start like JSON, so each is parsed to be refused);
* deep: the good file with one line nested 20,000 levels (pyarrow segfaulted on it).

Prints seconds (best of ``--repeat``), the ratio to the good file, and peak RSS of a child process
per file (VmHWM). Before the fix (same machine): 1M garbage lines took 21.6 s / 722 MB (issue),
15.8 s here.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from dialpad_nb.calls.read import read_calls


def _payload(i: int) -> str:
    return json.dumps(
        {
            "date_started": 1_790_000_000_000 + i,
            "call_id": 1_000_000 + i,
            "external_number": "+14155550123",
            "internal_number": "+14155550142",
        }
    )


def _best(path: Path, repeat: int) -> tuple[float, int, int]:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        res = read_calls(path)
        best = min(best, time.perf_counter() - started)
        assert len(res.calls) + len(res.rejects) == res.records
    return best, len(res.calls), len(res.rejects)


def _peak_mb(path: Path) -> float:
    # VmHWM: this process's own peak (ru_maxrss would include the parent's, inherited at fork)
    code = (
        "import sys; from dialpad_nb.calls.read import read_calls; read_calls(sys.argv[1]); "
        "print(next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM')) / 1024)"
    )
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True)
    return float(out.stdout.strip())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    n = args.lines
    with tempfile.TemporaryDirectory() as tmp:
        files = {
            "good": Path(tmp) / "good.jsonl",
            "garbage": Path(tmp) / "garbage.txt",
            "junk JSON": Path(tmp) / "junk.jsonl",
            "deep": Path(tmp) / "deep.jsonl",
        }
        good = "".join(_payload(i) + "\n" for i in range(n)).encode()
        files["good"].write_bytes(good)
        files["garbage"].write_bytes(b"x\n" * n)
        files["junk JSON"].write_bytes(b"{x\n" * n)
        files["deep"].write_bytes(good + b'{"a":' * 20_000 + b"1" + b"}" * 20_000 + b"\n")
        base = None
        for name, path in files.items():
            seconds, ok, bad = _best(path, args.repeat)
            base = base or seconds
            mb = _peak_mb(path)
            size = path.stat().st_size / 1e6
            print(
                f"{name:10s} {size:7.1f} MB  {seconds:6.2f} s  x{seconds / base:4.2f} of good  "
                f"peak {mb:6.0f} MB  accepted {ok:,} rejected {bad:,}"
            )


if __name__ == "__main__":
    main()
