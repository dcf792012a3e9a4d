# ruff: noqa: F811  (the fixture client comes from tests.helpers_dask)
"""The health window on Dask: dask_simulate on a LocalCluster of 2 worker processes equals simulate."""

from __future__ import annotations

import os
from pathlib import Path

import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest

from dialpad_nb.core.errors import DistributedRunFailed, ValidationError
from dialpad_nb.core.policy import DIALPAD, OUTCOMES
from dialpad_nb.health import infer_patches, make_patches, read_attempts_csv, simulate
from dialpad_nb.health.attempts import OUTCOME_DTYPE
from dialpad_nb.health.dask_window import dask_simulate
from tests.helpers_dask import client  # noqa: F401  (the module's cluster of 2 worker processes)

SAMPLE = Path(__file__).resolve().parent.parent / "data" / "attempts_sample.csv"


def random_log(seed: int, n: int = 600) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A seeded multi-router log (a missing router among them, times out of order, error bursts)
    and PATCHes for one router, for every router and for a router not in the log."""
    rng = np.random.default_rng(seed)
    routers = pd.array(
        [7300000000000001, 7300000000000002, 7300000000000003, 7300000000000004, None], "Int64"
    )
    t0 = 1_790_000_000_000
    times = t0 + rng.integers(0, 3_600_000, n)  # an hour: the 5-minute window fills and empties
    errors = [o for o in OUTCOMES if o not in ("ok", "skipped_disabled")]
    weights = {"ok": 0.6, "skipped_disabled": 0.1} | {o: 0.3 / len(errors) for o in errors}
    outcome = rng.choice(list(weights), n, p=list(weights.values()))
    log = pd.DataFrame(
        {
            "time": pd.Series(times, dtype="int64").astype("datetime64[ms, UTC]").array,
            "router_id": routers[rng.integers(0, len(routers), n)],
            "latency_ms": rng.gamma(2.0, 1500.0, n).round(1),  # some over the deadline
            "outcome": pd.Categorical(outcome, dtype=OUTCOME_DTYPE),
            "error_count": pd.array(rng.integers(0, 8, n), "Int64"),
        },
        index=pd.RangeIndex(10, 10 + 3 * n, 3),  # not 0..n-1: the index must come back as given
    )
    patches = make_patches(
        [
            (int(t0 + 900_000), 7300000000000001, True, True),
            (int(t0 + 1_800_000), None, True, False),
            (int(t0 + 2_400_000), 7300000000000002, None, True),
            (int(t0 + 2_700_000), 7300000000000009, False, False),
        ]
    )
    return log, patches


def test_sample_attempts_on_two_worker_processes_equal_simulate(client):
    attempts, rejects = read_attempts_csv(SAMPLE)
    assert len(rejects) == 0
    patches = infer_patches(attempts)
    assert len(patches) > 0 and attempts["router_id"].nunique() >= 2
    whole = simulate(attempts, patches=patches)
    pd.testing.assert_frame_equal(dask_simulate(attempts, client=client, patches=patches), whole)
    # a Dask frame of it, split by router on the workers, partitions cutting across routers
    lazy = dd.from_pandas(attempts, npartitions=3, sort=False)
    pd.testing.assert_frame_equal(
        dask_simulate(lazy, client=client, patches=patches), simulate(lazy.compute(), patches=patches)
    )
    ran = client.run(os.getpid)
    assert len(set(ran.values())) == 2  # two worker processes


@pytest.mark.parametrize("seed", [1, 2])
def test_a_random_multi_router_log_equals_simulate(client, seed: int):
    log, patches = random_log(seed)
    strict = DIALPAD.replace(deadline_s=4, error_threshold=3)  # disables, skips and re-enables happen
    assert log["time"].notna().all()
    whole = simulate(log, policy=strict, patches=patches)
    assert whole["disabled_now"].any() and (whole["outcome"] == "skipped_disabled").any()
    assert whole["latency_ms"].isna().any()  # skipped calls lose their latency: dtype and values kept
    pd.testing.assert_frame_equal(dask_simulate(log, client=client, policy=strict, patches=patches), whole)
    lazy = dd.from_pandas(log, npartitions=4, sort=False)
    pd.testing.assert_frame_equal(
        dask_simulate(lazy, client=client, policy=strict, patches=patches),
        simulate(lazy.compute(), policy=strict, patches=patches),
    )
    # PATCHes as rows (not a frame) and no PATCHes at all
    rows = list(patches.itertuples(index=False, name=None))
    rows = [(int(t.value // 1_000_000), r, e, x) for t, r, e, x in rows]
    pd.testing.assert_frame_equal(
        dask_simulate(log, client=client, patches=rows), simulate(log, patches=rows)
    )
    pd.testing.assert_frame_equal(dask_simulate(log, client=client), simulate(log))
    empty = log.iloc[:0]
    pd.testing.assert_frame_equal(dask_simulate(empty, client=client), simulate(empty))


def _fails_once(part: pd.DataFrame, folder: str) -> pd.DataFrame:
    """A partition that fails to load the first time it is asked for (a worker lost mid-task)."""
    mark = Path(folder) / f"part-{part.index[0]}"
    if not mark.exists():
        mark.write_text("failed once")
        raise OSError(f"partition {part.index[0]} is unreachable")
    return part


def test_a_failing_task_is_retried_then_the_run_fails_clearly(client, tmp_path: Path):
    log, patches = random_log(3, n=200)
    lazy = dd.from_pandas(log, npartitions=2, sort=False)
    retried = tmp_path / "retried"
    retried.mkdir()
    flaky = lazy.map_partitions(_fails_once, str(retried), meta=lazy._meta)
    # each partition fails once, Dask retries it: the result is still simulate's
    pd.testing.assert_frame_equal(
        dask_simulate(flaky, client=client, patches=patches, retries=1), simulate(log, patches=patches)
    )
    assert len(list(retried.glob("part-*"))) == 2
    failing = tmp_path / "failing"
    failing.mkdir()
    flaky = lazy.map_partitions(_fails_once, str(failing), meta=lazy._meta)
    with pytest.raises(DistributedRunFailed, match="no partial result") as info:
        dask_simulate(flaky, client=client, patches=patches, retries=0)
    assert isinstance(info.value.cause, OSError)
    with pytest.raises(ValidationError, match="one of them"):
        dask_simulate(log)
    with pytest.raises(ValidationError, match="missing column"):
        dask_simulate(log.drop(columns="latency_ms"), client=client)
    with pytest.raises(ValidationError, match="missing column"):  # found by a worker, said as is
        dask_simulate(dd.from_pandas(log.drop(columns="latency_ms"), npartitions=2), client=client, retries=0)
    with pytest.raises(ValidationError, match="pandas or a Dask DataFrame"):
        dask_simulate(log.to_dict("records"), client=client)


def test_a_dataset_of_endpoint_logs_equals_simulate_on_its_attempts(client, tmp_path: Path):
    from dialpad_nb.calls.dataset import ingest
    from dialpad_nb.health import endpoint_attempts, read_endpoint_log
    from tests.test_dataset_attempts import R1, R2, endpoint_log

    ds = tmp_path / "ds"
    ingest([endpoint_log(tmp_path / "a.jsonl", 1, n=200)], ds, router_id=R1, attempts=endpoint_attempts)
    ingest([endpoint_log(tmp_path / "b.jsonl", 2, n=200)], ds, router_id=R2, attempts=endpoint_attempts)
    strict = DIALPAD.replace(error_threshold=3)
    whole = read_endpoint_log(ds).attempts
    pd.testing.assert_frame_equal(
        dask_simulate(ds, client=client, policy=strict), simulate(whole, policy=strict)
    )
    one = read_endpoint_log(ds, router_id=R2, start="2026-10-06").attempts
    assert 0 < len(one) < len(whole)
    pd.testing.assert_frame_equal(
        dask_simulate(ds, client=client, router_id=R2, start="2026-10-06"), simulate(one)
    )
