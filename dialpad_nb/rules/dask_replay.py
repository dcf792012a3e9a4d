"""Replay across machines: :func:`stream_compare` with one Dask task per ingested source file.

Needs the optional extra ``scale`` (``pip install 'dialpad_nb[scale]'``: ``dask[distributed]``)::

    from dask.distributed import Client
    client = Client("tcp://scheduler:8786")          # an existing cluster (or LocalCluster())
    result = dask_compare("/shared/calls.ds", candidate, baseline=current, client=client,
                          capacity="data/capacity.csv", changes_to="/shared/changes/")

Each task reads one ingested source's parts (date/router filters applied; only the columns the
rules read), counts them (:func:`~dialpad_nb.rules.chunk_tally.tally_chunk`) and returns the
chunk's :class:`~dialpad_nb.rules.streamed.Partial` (a few hundred counts, never the calls);
the partials are merged here in the dataset's order, so the result equals :func:`~dialpad_nb.rules.streamed.stream_compare`'s
and the in-memory :func:`~dialpad_nb.rules.comparison.compare`'s (tested on a 2-process
``LocalCluster``). The changed calls are written by the workers to ``changes_to`` (the same
``part-NNNNN.parquet`` files as the single-process stream).

What each worker needs: the same ``dialpad_nb`` version (and Python, pandas, pyarrow) as the
client, and the dataset folder (and ``changes_to``) at the same path, e.g. a shared filesystem.
The rule sets are sent to the workers pickled with the tasks.

A task that raises is retried ``retries`` times by Dask; a task whose worker process dies is run
on another worker, up to the scheduler's ``distributed.scheduler.allowed-failures`` times (Dask's
default 3). If it still fails, the run raises :class:`~dialpad_nb.core.errors.DistributedRunFailed`
naming the source, and returns nothing partial (see :mod:`dialpad_nb.core.cluster`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

import pandas as pd

from ..calls.dataset import bounds_ms, dataset_parts
from ..core.cluster import dask_run, gather_all
from .chunk_tally import tally_chunk
from .comparison import target_names
from .ruleset import RuleSet
from .streamed import Partial, StreamedComparison, finish, partial_of, source_frame, warn_unreadable

__all__ = ["dask_compare"]


def _source_partial(
    k: int,
    entry: tuple[str, list[str], str],
    lo: int | None,
    hi: int | None,
    router_id: int | None,
    candidate: Any,
    baseline: Any,
    directory: Any,
    default: Any,
    timezone: str | None,
    changes_to: str | None,
) -> tuple[Partial, list[str]]:
    """One task: one ingested source's calls (only the columns the rules read), counted (runs on
    a worker); returns the counts and the parts it could not read, never the calls."""
    import warnings

    calls, unreadable = source_frame(entry, candidate, baseline, lo, hi, router_id)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # said once, on the client (the summary's notes keep it)
        return tally_chunk(
            calls,
            candidate,
            baseline,
            directory=directory,
            default=default,
            timezone=timezone,
            changes_to=changes_to,
            part=k,
        ), unreadable


def _same(x: Any) -> Any:
    return x


def _heavy(x: Any) -> bool:
    return isinstance(x, (RuleSet, pd.DataFrame))  # a list is sent as is, with each task


def dask_compare(
    source: str | os.PathLike,
    candidate: RuleSet | pd.DataFrame,
    baseline: str | RuleSet | pd.DataFrame = "logged",
    *,
    client: Any = None,
    address: str | None = None,
    capacity: pd.DataFrame | str | os.PathLike | None = None,
    directory: Iterable[Any] | None = None,
    default: Any = None,
    timezone: str | None = None,
    changes_to: str | os.PathLike | None = None,
    start: Any = None,
    end: Any = None,
    router_id: int | None = None,
    retries: int = 2,
) -> StreamedComparison:
    """:func:`~dialpad_nb.rules.streamed.stream_compare` over a dataset on a Dask cluster:
    ``client`` (a ``dask.distributed.Client``) or ``address`` (a scheduler's, e.g.
    ``"tcp://10.0.0.5:8786"``; a client is opened and closed for the run)."""
    entries = dataset_parts(source, start=start, end=end)
    lo, hi = bounds_ms(start, end)
    changes = None if changes_to is None else os.path.abspath(changes_to)
    names = target_names(directory, candidate, baseline)
    what = f"the Dask run over {os.fspath(source)}"
    if changes is not None:
        what += f" (the changed calls written to {changes} are incomplete)"
    with dask_run(client, address, "dask_compare") as run:
        # the rule sets (with their CRM enrichment) go to the cluster once, not with every task: as
        # a task's result, which Dask can compute again if the workers holding it die
        shared = [
            run.submit(_same, x, pure=False) if _heavy(x) else x for x in (candidate, baseline, directory)
        ]
        candidate_, baseline_, directory_ = shared
        futures = [
            run.submit(
                _source_partial,
                k,
                entry,
                lo,
                hi,
                router_id,
                candidate_,
                baseline_,
                directory_,
                default,
                timezone,
                changes,
                retries=retries,
                pure=False,
            )
            for k, entry in enumerate(entries)
        ]
        sent = [f for f, x in zip(shared, (candidate, baseline, directory), strict=True) if _heavy(x)]
        partials = gather_all(
            run, futures, [f"source {e[0]}" for e in entries], what=what, retries=retries, also=sent
        )
    total = Partial()
    unreadable: list[str] = []
    for p, bad in partials:
        total.merge(p)
        unreadable.extend(bad)
    if not entries:
        from ..calls.columns import empty_calls

        total.merge(partial_of(empty_calls(), candidate, baseline, directory=directory, default=default,
                               timezone=timezone))  # fmt: skip
    warn_unreadable(unreadable)
    result = finish(total, capacity, names, changes_to=changes, chunks=len(entries))
    result.unreadable = tuple(unreadable)
    return result
