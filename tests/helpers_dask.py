"""A Dask client on a LocalCluster of 2 worker processes, one per test module (``client``), and a
worker plugin that kills the worker process running a given task (``killing``)."""

from __future__ import annotations

import gc
import os
import signal
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dask
import pytest
from dask.distributed import Client, LocalCluster, WorkerPlugin
from dask.utils import key_split

ALLOWED_FAILURES = 1
"""The scheduler's ``distributed.scheduler.allowed-failures`` on the test cluster (Dask's default
is 3): a task whose worker dies is run again on another worker once; if that worker dies too, the
task fails with KilledWorker. Set explicitly so the tests of a worker that always dies are quick."""


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    # distributed sometimes drops an unbound socket while the cluster starts or stops (its own, not
    # ours: make test turns ResourceWarning into an error); it is collected here, inside the
    # fixture, with that one warning ignored, so it cannot surface in a later test
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        with dask.config.set({"distributed.scheduler.allowed-failures": ALLOWED_FAILURES}):
            cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
        client = Client(cluster)
        gc.collect()
    try:
        yield client
    finally:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            client.close()
            cluster.close()
            gc.collect()


class KillOnTask(WorkerPlugin):
    """Kills its worker process with SIGKILL (as the kernel's out-of-memory killer does) when the
    task it marks starts on it: the first task named ``name`` to start anywhere in the cluster
    (``_source_partial``'s tasks are named ``source_partial``) is marked, in a file in ``folder``
    created atomically. ``once``: only its first run dies; otherwise every run of it does (then
    Dask gives up on it with KilledWorker). Each kill adds the task's key to ``folder/kills``."""

    def __init__(self, name: str, folder: Path, *, once: bool) -> None:
        self.name, self.folder, self.once = name, str(folder), once

    def transition(self, key, start, finish, **kwargs) -> None:  # type: ignore[no-untyped-def]
        if finish != "executing" or key_split(key) != self.name:
            return
        marked = os.path.join(self.folder, "marked")
        mine = os.path.join(self.folder, f"mark-{os.getpid()}")
        with open(mine, "w") as f:
            f.write(str(key))
        try:
            os.link(mine, marked)  # the first to start is marked, with its key already in the file
        except FileExistsError:
            if Path(marked).read_text() != str(key):
                return
            if self.once:
                return
        with open(os.path.join(self.folder, "kills"), "a") as f:
            f.write(f"{key}\n")
        os.kill(os.getpid(), signal.SIGKILL)


@contextmanager
def killing(client: Client, name: str, folder: Path, *, once: bool) -> Iterator[list[str]]:
    """The cluster's workers die as :class:`KillOnTask` says, within the block; yields the list of
    killed tasks' keys, filled when the block ends. Afterwards the plugin is gone and both workers
    are back (each Nanny starts a new worker process for the one killed)."""
    folder.mkdir(parents=True, exist_ok=True)
    client.register_plugin(KillOnTask(name, folder, once=once), name="kill-on-task")
    kills: list[str] = []
    try:
        yield kills
    finally:
        client.unregister_worker_plugin("kill-on-task")
        client.wait_for_workers(2, timeout=60)
        log = folder / "kills"
        kills.extend(log.read_text().split() if log.exists() else [])
