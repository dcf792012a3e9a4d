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

A task that fails (a worker dies, a partition fails to load) is retried ``retries`` times by
Dask; if it still fails, the run raises :class:`~dialpad_nb.core.errors.DistributedRunFailed`
and returns nothing partial.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..core.errors import DistributedRunFailed, MissingExtra, ValidationError
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
) -> pd.DataFrame:
    """:func:`~dialpad_nb.health.window.simulate` on a Dask cluster, one task per router:
    ``client`` (a ``dask.distributed.Client``) or ``address`` (a scheduler's, e.g.
    ``"tcp://10.0.0.5:8786"``; a client is opened and closed for the run)."""
    try:
        from dask.distributed import Client
    except ImportError as exc:
        raise MissingExtra("dask_simulate needs dask.distributed: pip install 'dialpad_nb[scale]'") from exc
    if (client is None) == (address is None):
        raise ValidationError("give a Dask client or a scheduler address (one of them)", field="client")
    lazy = _is_dask_frame(attempts)
    if not lazy and not isinstance(attempts, pd.DataFrame):
        raise ValidationError(
            f"attempts must be a pandas or a Dask DataFrame, not {type(attempts).__name__}", field="attempts"
        )
    if not lazy:
        _split(attempts.iloc[:0], 0)  # the columns, checked here rather than on a worker
    patch_frame = None if patches is None else _as_patch_frame(patches)
    own = client is None
    if own:
        client = Client(address)
    try:
        futures: list[Any] = []
        try:
            if lazy:
                pieces = _pieces_on_cluster(client, attempts, retries, futures)
            else:
                local = _split(attempts, 0)
                scattered = client.scatter(list(local.values()), hash=False) if local else []
                pieces = {router: [f] for router, f in zip(local, scattered, strict=True)}
            tasks = [
                client.submit(
                    _router_sim, policy, _patches_for(patch_frame, router), *mine, retries=retries, pure=False
                )
                for router, mine in pieces.items()
            ]
            futures.extend(tasks)
            results: list[Piece] = client.gather(tasks)
        except Exception as exc:  # a task that kept failing, a worker that kept dying
            for f in futures:
                f.cancel()
            if isinstance(exc, ValidationError):  # the attempts themselves (said by a worker)
                raise
            raise DistributedRunFailed(
                f"the Dask run of simulate failed after {retries} retries "
                f"({type(exc).__name__}: {exc}); no partial result is returned",
                cause=exc,
            ) from exc
    finally:
        if own:
            client.close()
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
    lengths = client.gather([client.submit(len, p, retries=retries, pure=False) for p in parts])
    offsets = np.concatenate(([0], np.cumsum(lengths)[:-1])).astype(int).tolist() if parts else []
    splits = [
        client.submit(_split, p, off, retries=retries, pure=False)
        for p, off in zip(parts, offsets, strict=True)
    ]
    futures.extend(splits)
    keys = client.gather([client.submit(_keys, s, retries=retries, pure=False) for s in splits])
    pieces: dict[Any, list[Any]] = {}
    for split, routers in zip(splits, keys, strict=True):
        for router in routers:
            pieces.setdefault(router, []).append(
                client.submit(_piece, split, router, retries=retries, pure=False)
            )
    return pieces
