"""The dashboard's fleet refresh: 200 routers, 1,000,000 attempts in the data.

Data: 1,000,000 attempts over 7 days on 200 routers (seeded), 0.5 % errors, and 10 routers with a
bad hour in every seven (15 % errors) that an operator re-enables every 2 hours (every other time
with a reset): a log Dialpad could have written (skipped calls while disabled, recorded counts).

Measured in the same process:

* **incremental** -- what a dashboard tick does: :meth:`FleetTracker.ingest` of the attempts that
  arrived since the last tick (``BATCH``, default 1,000) plus :meth:`FleetTracker.table` at now
  (200 rows: level, errors in the window, budget, forecast, last disable/re-enable); best of 5
  ticks, each with its own new attempts. The one-off initial load of the 1M is reported apart.
* **baseline** -- recomputing every router's window from scratch on the whole log at each
  refresh: split the log by router, infer its re-enables and resets (:func:`infer_patches`), then
  :func:`dialpad_nb.health.forecast` (the vectorised rule, ``simulate``) per router; best of 3.

Before timing is reported, both give the same enabled flag, errors in the window and budget for
every router (checked). Run: ``.venv/bin/python benchmarks/bench_fleet.py [N] [ROUTERS] [BATCH]``.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import pandas as pd

from dialpad_nb.health import FleetTracker, forecast, infer_patches, make_patches, simulate
from dialpad_nb.health.attempts import OUTCOME_DTYPE

T0 = 1_790_000_000_000
DAY = 86_400_000


def make_log(n: int, routers: int, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rid = rng.integers(1, routers + 1, n)
    times = np.sort(rng.integers(T0, T0 + 7 * DAY, n))
    bad_router = rid <= 10
    burst = ((times - T0) // 3_600_000) % 7 == 3
    p_err = np.where(bad_router & burst, 0.15, 0.005)
    error = rng.random(n) < p_err
    outcome = np.where(error, np.where(rng.random(n) < 0.5, "timeout", "http_status"), "ok")
    latency = np.where(outcome == "timeout", 5000.0, rng.lognormal(5.2, 0.5, n))
    frame = pd.DataFrame(
        {
            "time": pd.Series(times).astype("datetime64[ms, UTC]"),
            "router_id": pd.array(rid, dtype="Int64"),
            "latency_ms": latency,
            "outcome": pd.Categorical(outcome, dtype=OUTCOME_DTYPE),
        }
    )
    # a log Dialpad could have written: an operator re-enables the bad routers every 2 hours (every
    # other time with a reset); calls while disabled are skipped; each call records the count
    patch_times = np.arange(T0, T0 + 7 * DAY, 2 * 3_600_000)
    patches = make_patches(
        [(int(t), r, True, bool(i % 2)) for i, t in enumerate(patch_times) for r in range(1, 11)]
    )
    sim = simulate(frame, patches=patches)
    skipped = ~sim["requested"].to_numpy(dtype=bool)
    frame.loc[skipped, "outcome"] = "skipped_disabled"
    frame.loc[skipped, "latency_ms"] = np.nan
    frame["error_count"] = sim["error_count"].astype("Int64").to_numpy()
    return frame


def recompute(frame: pd.DataFrame, now: pd.Timestamp) -> dict[int, tuple[bool, int, int]]:
    out = {}
    for rid, mine in frame.groupby("router_id", sort=True):
        fc = forecast(mine, router_id=int(rid), now=now, patches=infer_patches(mine))
        out[int(rid)] = (fc.enabled, fc.error_count, fc.budget_left)
    return out


def main(n: int = 1_000_000, routers: int = 200, batch: int = 1_000) -> None:
    ticks = 5
    frame = make_log(n, routers)
    head, tail = frame.iloc[: n - ticks * batch], frame.iloc[n - ticks * batch :]
    tracker = FleetTracker()
    start = time.perf_counter()
    tracker.ingest(head)
    t_load = time.perf_counter() - start
    t_ticks = []
    for k in range(ticks):
        new = tail.iloc[k * batch : (k + 1) * batch]
        now = new["time"].iloc[-1]
        start = time.perf_counter()
        tracker.ingest(new)
        table = tracker.table(now)
        t_ticks.append(time.perf_counter() - start)
    t_inc = min(t_ticks)

    t_base = []
    for _ in range(3):
        start = time.perf_counter()
        ref = recompute(frame, now)
        t_base.append(time.perf_counter() - start)
    t_scratch = min(t_base)

    got = {
        int(r["router_id"]): (bool(r["enabled"]), int(r["errors_in_window"]), int(r["budget_left"]))
        for _, r in table.iterrows()
    }
    assert got == ref, "incremental != recomputed from scratch"
    levels = table["level"].value_counts().to_dict()
    print(
        f"{n:,} attempts, {routers} routers, {int(frame['outcome'].isin(['timeout', 'http_status']).sum()):,} errors; now: {levels}"
    )
    print(f"initial load (once, {len(head):,} attempts)          {t_load:8.2f} s")
    print(f"refresh, incremental ({batch:,} new attempts + table)  {t_inc * 1000:8.1f} ms  (best of {ticks})")
    print(f"refresh, recompute from scratch (forecast x {routers})  {t_scratch * 1000:8.1f} ms  (best of 3)")
    print(
        f"speed-up incremental vs recompute: {t_scratch / t_inc:,.0f}x   (same enabled/count/budget for every router)"
    )


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:]]
    main(*args)
