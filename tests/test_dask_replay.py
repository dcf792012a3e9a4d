# ruff: noqa: F811  (the fixtures dataset and rules come from tests.helpers_stream)
"""Replay on Dask: dask_compare on a LocalCluster of 2 worker processes equals compare in memory."""

from __future__ import annotations

from pathlib import Path

import pytest

from dialpad_nb.calls.read import read_calls
from dialpad_nb.core.errors import DistributedRunFailed, ValidationError
from dialpad_nb.rules.comparison import compare
from dialpad_nb.rules.dask_replay import dask_compare
from dialpad_nb.rules.streamed import stream_compare
from tests.helpers_dask import client  # noqa: F401  (the module's cluster of 2 worker processes)
from tests.helpers_stream import CAPACITY, SECRET, assert_same, dataset, rules  # noqa: F401


def test_on_two_worker_processes_equals_in_memory_and_the_stream(dataset, rules, client, tmp_path: Path):
    ds, logs = dataset
    candidate, current = rules
    whole = compare(read_calls(logs, SECRET).calls, candidate, baseline=current, capacity=CAPACITY)
    on_dask = dask_compare(
        ds, candidate, baseline=current, client=client, capacity=CAPACITY, changes_to=tmp_path / "dask"
    )
    assert on_dask.chunks == 3
    assert_same(on_dask, whole)
    ran = client.run(lambda: __import__("os").getpid())
    assert len(set(ran.values())) == 2  # two worker processes did the work
    streamed = stream_compare(ds, candidate, baseline=current, capacity=CAPACITY, changes_to=tmp_path / "one")
    parts = sorted(p.name for p in (tmp_path / "dask").glob("part-*"))
    assert parts == sorted(p.name for p in (tmp_path / "one").glob("part-*"))
    assert str(on_dask.summary) == str(streamed.summary)
    # filters go to the workers
    window = dask_compare(ds, candidate, client=client, start="2026-10-06", end="2026-10-07")
    assert window.summary.calls == len(read_calls(ds, start="2026-10-06", end="2026-10-07").calls) > 0


def test_a_task_that_keeps_failing_fails_the_run_clearly(dataset, rules, client, tmp_path: Path):
    ds, _ = dataset
    candidate, _ = rules
    with pytest.raises(DistributedRunFailed, match="no partial result") as info:
        # a changes folder that is a file: every task fails writing, retried, then the run fails
        (tmp_path / "not-a-folder").write_text("x")
        dask_compare(ds, candidate, client=client, changes_to=tmp_path / "not-a-folder", retries=1)
    assert info.value.cause is not None
    with pytest.raises(ValidationError, match="one of them"):
        dask_compare(ds, candidate)
