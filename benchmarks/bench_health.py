"""Window analysis of 1M attempts, vectorised vs a per-attempt loop over RouterHealthState.

Data: 1,000,000 attempts on 4 routers over 30 days, 3 % errors arriving in bursts
(so routers do get disabled), and an operator's PATCH table (a re-enable every
2 hours per router, every other one with a reset).

Measured in the same process:

* ``simulate`` — :func:`dialpad_nb.health.window.simulate` on the whole DataFrame
  (deadline applied, per-router split, all output columns), best of 3;
* ``simulate_router`` — the numpy core alone on the same arrays;
* baseline — driving :class:`~dialpad_nb.core.policy.RouterHealthState` attempt by
  attempt (PATCHes applied in time order). It runs on the first ``SUBSET``
  attempts and is **extrapolated linearly** to 1M (it is O(n)); the vectorised
  result on that subset is checked equal to the loop's before timing is reported.

Run: ``.venv/bin/python benchmarks/bench_health.py [N] [SUBSET]``.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import pandas as pd

from dialpad_nb.core.policy import DIALPAD, RouterHealthState
from dialpad_nb.health.attempts import OUTCOME_DTYPE
from dialpad_nb.health.window import make_patches, simulate, simulate_router

T0 = 1_790_000_000_000
DAY = 86_400_000


def make_log(n: int, seed: int = 1) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    routers = rng.integers(1, 5, n)
    times = np.sort(rng.integers(T0, T0 + 30 * DAY, n))
    burst = ((times - T0) // 3_600_000) % 7 == 3  # one hour in seven is bad
    error = rng.random(n) < np.where(burst, 0.15, 0.005)
    outcome = np.where(error, np.where(rng.random(n) < 0.5, "timeout", "http_status"), "ok")
    latency = np.where(outcome == "timeout", 5000.0 + rng.random(n), rng.lognormal(5.2, 0.5, n))
    frame = pd.DataFrame(
        {
            "time": pd.Series(times).astype("datetime64[ms, UTC]"),
            "router_id": pd.array(routers, dtype="Int64"),
            "latency_ms": latency,
            "outcome": pd.Categorical(outcome, dtype=OUTCOME_DTYPE),
        }
    )
    patch_times = np.arange(T0, T0 + 30 * DAY, 2 * 3_600_000)
    patches = make_patches(
        [(int(t), r, True, bool(i % 2)) for i, t in enumerate(patch_times) for r in range(1, 5)]
    )
    return frame, patches


def loop(frame: pd.DataFrame, patches: pd.DataFrame) -> dict[int, list[tuple[bool, int, bool]]]:
    """The live class, one attempt at a time (a PATCH after attempts at its millisecond)."""
    states = {r: RouterHealthState(DIALPAD) for r in range(1, 5)}
    out: dict[int, list[tuple[bool, int, bool]]] = {r: [] for r in range(1, 5)}
    p_t = patches["time"].astype("int64").to_numpy()
    p_r = patches["router_id"].to_numpy()
    p_reset = patches["reset_error_count"].to_numpy()
    j = 0
    times = frame["time"].astype("int64").to_numpy()
    errors = frame["outcome"].isin(["timeout", "http_status"]).to_numpy()
    routers = frame["router_id"].to_numpy()
    for t, r, e in zip(times.tolist(), routers.tolist(), errors.tolist(), strict=True):
        while j < len(p_t) and p_t[j] < t:
            states[int(p_r[j])].patch(enabled=True, reset_error_count=bool(p_reset[j]))
            j += 1
        v = states[r].record(t, error=e)
        out[r].append((v.requested, v.error_count, v.disabled_now))
    return out


def best(fn, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main(n: int = 1_000_000, subset: int = 100_000) -> None:
    frame, patches = make_log(n)
    sim = simulate(frame, patches=patches)
    print(
        f"{n:,} attempts, 4 routers, {len(patches):,} PATCHes: "
        f"{int(sim['is_error'].sum()):,} errors, {int(sim['disabled_now'].sum()):,} disables, "
        f"{int((~sim['requested']).sum()):,} calls skipped"
    )
    t_sim = best(lambda: simulate(frame, patches=patches))
    one = frame[frame["router_id"] == 1]
    t1 = one["time"].astype("int64").to_numpy()
    e1 = one["outcome"].isin(["timeout", "http_status"]).to_numpy()
    p1 = patches[patches["router_id"] == 1]
    t_core = best(lambda: simulate_router(t1, e1, patches=p1))

    head = frame.iloc[:subset]
    start = time.perf_counter()
    ref = loop(head, patches[patches["time"] <= head["time"].iloc[-1]])
    t_loop_subset = time.perf_counter() - start
    head_sim = simulate(head, patches=patches[patches["time"] <= head["time"].iloc[-1]])
    for r in range(1, 5):
        mine = head_sim[head_sim["router_id"] == r]
        got = list(zip(mine["requested"], mine["error_count"].astype(int), mine["disabled_now"], strict=True))
        assert got == ref[r], f"router {r}: vectorised != RouterHealthState"
    t_loop = t_loop_subset * n / subset

    print(f"simulate (DataFrame, all routers)        {t_sim * 1000:9.1f} ms")
    print(f"simulate_router (core, router 1, {len(one):,})  {t_core * 1000:9.1f} ms")
    print(
        f"RouterHealthState loop on {subset:,}: {t_loop_subset:.2f} s -> extrapolated to {n:,}: {t_loop:.1f} s"
    )
    print(f"speed-up simulate vs loop: {t_loop / t_sim:,.0f}x   (equal results checked on the subset)")


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:]]
    main(*args)
