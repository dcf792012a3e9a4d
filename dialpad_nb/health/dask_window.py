"""The auto-disable rule on a Dask cluster: :func:`~dialpad_nb.health.window.simulate`, one task per router.

Needs the optional extra ``scale`` (``pip install 'dialpad_nb[scale]'``: ``dask[distributed]``)::

    from dask.distributed import Client
    client = Client("tcp://scheduler:8786")          # an existing cluster (or LocalCluster())
    sim = dask_simulate(attempts, client=client, patches=infer_patches(attempts))

``attempts`` is a pandas attempts frame (split by router here, each router's rows sent to the
cluster) or a ``dask.dataframe`` (each partition is split by router on the workers). Each
router's attempts, with its PATCHes (those without a router apply to every router), go to one
task that runs :func:`simulate` on them; the results come back in the rows' order, so the frame
equals ``simulate(attempts)`` (for a Dask frame, ``simulate(attempts.compute())``): same rows,
index, columns and dtypes (tested on a 2-process ``LocalCluster``). The rule is per router, so
nothing is lost by the split.

A task that raises (a partition fails to load) is retried ``retries`` times by Dask; a task whose
worker process dies is run on another worker (a pandas frame's rows go within each router's task,
so they are not lost with the worker), up to the scheduler's ``distributed.scheduler.allowed-failures``
times (Dask's default 3). If it still fails, the run raises
:class:`~dialpad_nb.core.errors.DistributedRunFailed` naming the router, and returns nothing
partial (see :mod:`dialpad_nb.core.cluster`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..core.cluster import dask_run, gather_all
from ..core.errors import ValidationError
from ..core.models import is_missing
from ..core.policy import DIALPAD, Policy
from .window import _as_patch_frame, _patches_for, simulate

__all__ = ["dask_simulate"]

_NEEDED = ("time", "router_id", "latency_ms", "outcome")

Piece = tuple[np.ndarray, pd.DataFrame]
"""Global row positions and those rows of the attempts, for one router."""


def _split(frame: pd.DataFrame, offset: int) -> dict[Any, Piece]:
    """A frame's rows by router (missing router: ``None``), with their global positions."""
    missing = [c for c in _NEEDED if c not in frame]
    if missing:
        raise ValidationError(
            f"missing column(s) {missing}; expected the ATTEMPT_COLUMNS shape", field="attempts"
        )
    codes, uniques = pd.factorize(frame["router_id"], use_na_sentinel=False)
    order = np.argsort(codes, kind="stable")
    splits = np.flatnonzero(np.diff(codes[order])) + 1
    out: dict[Any, Piece] = {}
    for idx in np.split(order, splits) if len(frame) else []:
        router = uniques[codes[idx[0]]]
        out[None if is_missing(router) else router] = (idx.astype(np.int64) + offset, frame.iloc[idx])
    return out


def _piece(split: dict[Any, Piece], router: Any) -> Piece:
    return split[router]


def _keys(split: dict[Any, Piece]) -> list[Any]:
    return list(split)


def _router_sim(policy: Policy, patches: pd.DataFrame | None, *pieces: Piece) -> Piece:
    """One task: one router's attempts (from one or more partitions) through :func:`simulate`."""
    positions = np.concatenate([p for p, _ in pieces])
    frame = pd.concat([f for _, f in pieces]) if len(pieces) > 1 else pieces[0][1]
    order = np.argsort(positions, kind="stable")
    return positions[order], simulate(frame.iloc[order], policy=policy, patches=patches)


def _is_dask_frame(x: Any) -> bool:
    try:
        import dask.dataframe as dd
    except ImportError:  # pragma: no cover - the extra brings it
        return False
    return isinstance(x, dd.DataFrame)


def dask_simulate(
    attempts: Any,
    *,
    client: Any = None,
    address: str | None = None,
    policy: Policy = DIALPAD,
    patches: Any = None,
    retries: int = 2,
    start: Any = None,
    end: Any = None,
    router_id: int | None = None,
) -> pd.DataFrame:
    """:func:`~dialpad_nb.health.window.simulate` on a Dask cluster, one task per router:
    ``client`` (a ``dask.distributed.Client``) or ``address`` (a scheduler's, e.g.
    ``"tcp://10.0.0.5:8786"``; a client is opened and closed for the run). ``attempts`` may be a
    dataset's path (``ingest(..., attempts=endpoint_attempts)``): its attempts within
    ``[start, end)`` of ``router_id`` are read here, then sent one router per task."""
    from ..calls.dataset import is_dataset

    if is_dataset(attempts):
        from .dataset_attempts import read_dataset_attempts

        attempts = read_dataset_attempts(
            attempts, start=start, end=end, router_id=router_id, policy=policy
        ).attempts
    elif start is not None or end is not None or router_id is not None:
        raise ValidationError("start/end/router_id filter a dataset; filter the frame instead", field="start")
    lazy = _is_dask_frame(attempts)
    if not lazy and not isinstance(attempts, pd.DataFrame):
        raise ValidationError(
            f"attempts must be a pandas or a Dask DataFrame, not {type(attempts).__name__}", field="attempts"
        )
    if not lazy:
        _split(attempts.iloc[:0], 0)  # the columns, checked here rather than on a worker
    patch_frame = None if patches is None else _as_patch_frame(patches)
    with dask_run(client, address, "dask_simulate") as run:
        futures: list[Any] = []
        if lazy:
            pieces = _pieces_on_cluster(run, attempts, retries, futures)
        else:
            # each router's rows go within its task (not scattered): if the worker running it
            # dies, Dask runs the task again elsewhere, rows included
            pieces = {router: [piece] for router, piece in _split(attempts, 0).items()}
        tasks = [
            run.submit(
                _router_sim, policy, _patches_for(patch_frame, router), *mine, retries=retries, pure=False
            )
            for router, mine in pieces.items()
        ]
        results: list[Piece] = gather_all(
            run,
            tasks,
            [f"router {router}" for router in pieces],
            what="the Dask run of simulate",
            retries=retries,
            also=futures,
        )
    if not results:
        empty = attempts._meta if lazy else attempts
        return simulate(empty, policy=policy, patches=patch_frame)
    positions = np.concatenate([p for p, _ in results])
    whole = pd.concat([f for _, f in results]) if len(results) > 1 else results[0][1]
    return whole.iloc[np.argsort(positions, kind="stable")]


def _pieces_on_cluster(client: Any, attempts: Any, retries: int, futures: list[Any]) -> dict[Any, list[Any]]:
    """Each partition loaded and split by router on the workers; the router -> pieces futures."""
    parts = client.compute(attempts.to_delayed(), retries=retries)
    futures.extend(parts)
    names = [f"partition {k}" for k in range(len(parts))]
    what = "the Dask run of simulate (loading the partitions)"

    def gather(tasks: list[Any]) -> list[Any]:
        return gather_all(client, tasks, names, what=what, retries=retries, also=futures)

    lengths = gather([client.submit(len, p, retries=retries, pure=False) for p in parts])
    offsets = np.concatenate(([0], np.cumsum(lengths)[:-1])).astype(int).tolist() if parts else []
    splits = [
        client.submit(_split, p, off, retries=retries, pure=False)
        for p, off in zip(parts, offsets, strict=True)
    ]
    futures.extend(splits)
    keys = gather([client.submit(_keys, s, retries=retries, pure=False) for s in splits])
    pieces: dict[Any, list[Any]] = {}
    for split, routers in zip(splits, keys, strict=True):
        for router in routers:
            pieces.setdefault(router, []).append(
                client.submit(_piece, split, router, retries=retries, pure=False)
            )
    return pieces
