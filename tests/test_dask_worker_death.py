# ruff: noqa: F811  (the fixtures client, dataset and rules come from tests.helpers_*)
"""A Dask worker process that dies mid-run (SIGKILL, as the out-of-memory killer does): a task that
killed its worker once is run again elsewhere and the result is exact; a task that kills every
worker it runs on fails the run with DistributedRunFailed, naming it, and nothing partial."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
from distributed import KilledWorker

from dialpad_nb.calls.dataset import ingest
from dialpad_nb.calls.read import read_calls
from dialpad_nb.core.errors import DistributedRunFailed
from dialpad_nb.health import simulate
from dialpad_nb.health.dask_window import dask_simulate
from dialpad_nb.rules.comparison import compare
from dialpad_nb.rules.dask_replay import dask_compare
from tests.helpers_dask import ALLOWED_FAILURES, KillOnTask, client, killing  # noqa: F401
from tests.helpers_stream import CAPACITY, SECRET, assert_same, dataset, rules  # noqa: F401
from tests.test_dask_window import random_log


def _pids(client) -> set[int]:
    return set(client.run(os.getpid).values())


def test_the_test_cluster_reruns_a_task_whose_worker_died_once(client):
    # what the tests below rely on, and what a user's cluster decides (Dask's default is 3)
    assert client.run_on_scheduler(lambda dask_scheduler: dask_scheduler.allowed_failures) == ALLOWED_FAILURES


def test_compare_when_a_worker_dies_once_is_rerun_and_exact(dataset, rules, client, tmp_path: Path):
    ds, logs = dataset
    candidate, current = rules
    whole = compare(read_calls(logs, SECRET).calls, candidate, baseline=current, capacity=CAPACITY)
    before = _pids(client)
    with killing(client, "source_partial", tmp_path / "kill", once=True) as kills:
        on_dask = dask_compare(
            ds, candidate, baseline=current, client=client, capacity=CAPACITY, changes_to=tmp_path / "changes"
        )
    assert len(kills) == 1 and kills[0].startswith("_source_partial-")
    assert len(_pids(client) - before) == 1  # a worker process really died; its Nanny started another
    assert on_dask.chunks == 3
    assert_same(on_dask, whole)  # every source once, the changed calls of every part


def test_compare_when_workers_keep_dying_fails_clearly(dataset, rules, client, tmp_path: Path):
    # one source, so one task: when its worker dies it goes straight to the other worker (a task
    # given to a worker still being restarted would race with distributed's Nanny)
    _, logs = dataset
    candidate, current = rules
    ds = tmp_path / "one.ds"
    ingest(logs[:1], ds, SECRET)
    with killing(client, "source_partial", tmp_path / "kill", once=False) as kills:
        with pytest.raises(DistributedRunFailed) as info:
            dask_compare(ds, candidate, baseline=current, client=client, changes_to=tmp_path / "changes")
    said = str(info.value)
    assert isinstance(info.value.cause, KilledWorker)
    assert f"ran the task for source {logs[0]} ({ALLOWED_FAILURES + 1} workers died" in said
    assert "(KilledWorker)" in said and "no partial result" in said
    assert f"changed calls written to {tmp_path / 'changes'} are incomplete" in said
    assert len(kills) == ALLOWED_FAILURES + 1 and len(set(kills)) == 1  # one task, killing each worker


def test_simulate_when_a_worker_dies_once_is_rerun_and_exact(client, tmp_path: Path):
    log, patches = random_log(4, n=400)
    before = _pids(client)
    with killing(client, "router_sim", tmp_path / "kill", once=True) as kills:
        # a pandas frame: each router's rows travel within its task, so they die with no worker
        got = dask_simulate(log, client=client, patches=patches)
    assert len(kills) == 1 and len(_pids(client) - before) == 1
    pd.testing.assert_frame_equal(got, simulate(log, patches=patches))


def test_simulate_when_workers_keep_dying_fails_clearly(client, tmp_path: Path):
    log, patches = random_log(5, n=400)
    one = log[log["router_id"] == 7300000000000002]  # one router, one task (see above)
    with killing(client, "router_sim", tmp_path / "kill", once=False) as kills:
        with pytest.raises(DistributedRunFailed, match="no partial result") as info:
            dask_simulate(one, client=client, patches=patches)
    assert isinstance(info.value.cause, KilledWorker)
    assert f"ran the task for router 7300000000000002 ({ALLOWED_FAILURES + 1} workers died" in str(info.value)
    assert len(kills) == ALLOWED_FAILURES + 1 and len(set(kills)) == 1


_ONE_PROCESS_CLUSTER = """
import sys
from dask.distributed import LocalCluster
cluster = LocalCluster(n_workers=1, threads_per_worker=1, processes=False, protocol="tcp",
                       dashboard_address=None)
print(cluster.scheduler_address, flush=True)
sys.stdin.read()  # until the test closes our stdin (or kills us)
"""


def test_a_scheduler_lost_mid_run_fails_clearly(dataset, rules, tmp_path: Path):
    """The scheduler and its one worker in one process, which the task kills: the client is left
    with no scheduler while it waits for the results."""
    import subprocess
    import sys

    from dask.distributed import Client

    ds, _ = dataset
    candidate, _ = rules
    root = Path(__file__).resolve().parent.parent
    command = [sys.executable, "-c", _ONE_PROCESS_CLUSTER]
    env = {**os.environ, "PYTHONPATH": str(root)}
    with subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=root, env=env
    ) as proc:
        try:
            address = proc.stdout.readline().strip()
            assert address.startswith("tcp://"), address
            with Client(address) as setup:
                setup.register_plugin(KillOnTask("source_partial", tmp_path, once=False), name="kill")
            with pytest.raises(DistributedRunFailed, match="no partial result") as info:
                dask_compare(ds, candidate, address=address)
            assert f"the connection to the Dask scheduler at {address} was lost" in str(info.value)
            assert proc.wait(timeout=30) == -9  # the scheduler's process was killed, not closed
        finally:
            proc.kill()


def test_a_scheduler_that_cannot_be_reached_fails_clearly(dataset, rules):
    import socket

    import dask

    ds, _ = dataset
    candidate, _ = rules
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{s.getsockname()[1]}"
    with dask.config.set({"distributed.comm.timeouts.connect": "0.5s"}):
        with pytest.raises(DistributedRunFailed, match=f"could not reach the Dask scheduler at {address}"):
            dask_compare(ds, candidate, address=address)
        with pytest.raises(DistributedRunFailed, match="dask_simulate: could not reach"):
            dask_simulate(random_log(1, n=10)[0], address=address)
