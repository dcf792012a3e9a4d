"""A Dask client on a LocalCluster of 2 worker processes, one per test module (``client``)."""

from __future__ import annotations

import gc
import warnings
from collections.abc import Iterator

import pytest
from dask.distributed import Client, LocalCluster


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    # distributed sometimes drops an unbound socket while the cluster starts or stops (its own, not
    # ours: make test turns ResourceWarning into an error); it is collected here, inside the
    # fixture, with that one warning ignored, so it cannot surface in a later test
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
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
