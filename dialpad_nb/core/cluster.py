"""A run on a Dask cluster: its client, and the one place where Dask's failures become our error.

Used by :func:`~dialpad_nb.rules.dask_replay.dask_compare` and
:func:`~dialpad_nb.health.dask_window.dask_simulate` (the optional extra ``scale``; ``distributed``
is imported only when a run starts)::

    with dask_run(client, address, "dask_compare") as run:
        futures = [run.submit(task, arg, ...) for arg in args]
        results = gather_all(run, futures, names, what="the Dask run over calls.ds")

What can go wrong, and what the caller sees (always :class:`~dialpad_nb.core.errors.DistributedRunFailed`,
naming the task's source or router, with Dask's error as ``cause``; never a partial result):

- a task that raises is retried ``retries`` times by Dask (``submit(retries=)``), then fails the run;
- a worker process that dies while running a task (killed, out of memory): the scheduler runs the
  task on another worker, up to ``distributed.scheduler.allowed-failures`` times (Dask's setting,
  3 by default; the scheduler's, not the client's), then the task fails with ``KilledWorker``;
- a scheduler that cannot be reached, or that is lost mid-run: every task is cancelled.

An error of ours raised on a worker (e.g. a :class:`~dialpad_nb.core.errors.ValidationError` about
the attempts) is raised as it is: it already says what is wrong.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from .errors import DialpadError, DistributedRunFailed, MissingExtra, ValidationError

__all__ = ["dask_run", "gather_all"]


@contextmanager
def dask_run(client: Any, address: str | None, what: str) -> Iterator[Any]:
    """The client to run on: ``client`` as given, or one opened on the scheduler at ``address``
    (and closed after the run). ``what`` names the caller in errors (``"dask_compare"``)."""
    try:
        from dask.distributed import Client
    except ImportError as exc:
        raise MissingExtra(f"{what} needs dask.distributed: pip install 'dialpad_nb[scale]'") from exc
    if (client is None) == (address is None):
        raise ValidationError("give a Dask client or a scheduler address (one of them)", field="client")
    if client is not None:
        yield client
        return
    try:
        own = Client(address)
    except (OSError, TimeoutError) as exc:  # refused, unknown host, timed out
        raise DistributedRunFailed(
            f"{what}: could not reach the Dask scheduler at {address} ({type(exc).__name__}: {exc})",
            cause=exc,
        ) from exc
    try:
        yield own
    finally:
        own.close()


def gather_all(
    client: Any,
    futures: Sequence[Any],
    names: Sequence[str],
    *,
    what: str,
    retries: int,
    also: Sequence[Any] = (),
) -> list[Any]:
    """The results of ``futures`` (each named by ``names``: the source or router it is for), or
    :class:`DistributedRunFailed` with every future (and ``also``) cancelled."""
    try:
        return list(client.gather(list(futures)))
    except Exception as exc:
        failed = _failed(futures, names, exc)
        for f in [*futures, *also]:
            f.cancel()
        if isinstance(exc, DialpadError):  # ours, said by a worker: it names what is wrong
            raise
        raise DistributedRunFailed(
            f"{what} failed: {_why(client, exc, failed, retries)}; no partial result is returned",
            cause=exc,
        ) from exc


def _failed(futures: Sequence[Any], names: Sequence[str], exc: BaseException) -> list[str]:
    """The names of the tasks that failed (before they are cancelled)."""
    by_key = dict(zip((f.key for f in futures), names, strict=True))
    task = getattr(exc, "task", None) or getattr(exc, "key", None)  # KilledWorker / FutureCancelledError
    named = [by_key[task]] if task in by_key else []
    return named + [n for f, n in zip(futures, names, strict=True) if f.status == "error" and n not in named]


def _why(client: Any, exc: BaseException, failed: list[str], retries: int) -> str:
    from distributed import KilledWorker
    from distributed.client import FutureCancelledError
    from distributed.comm import CommClosedError

    tasks = ", ".join(failed[:3]) + (f" and {len(failed) - 3} more" if len(failed) > 3 else "")
    if isinstance(exc, KilledWorker):
        return (
            f"a Dask worker died each time it ran the task for {tasks or exc.task} "
            f"({exc.allowed_failures + 1} workers died: distributed.scheduler.allowed-failures is "
            f"{exc.allowed_failures}; the last was {exc.last_worker.address}) (KilledWorker)"
        )
    lost = getattr(exc, "reason", None) == "scheduler-connection-lost" or client.status != "running"
    if lost or isinstance(exc, CommClosedError):  # not any OSError: a task's own is said below
        address = getattr(getattr(client, "scheduler", None), "address", "?")
        return f"the connection to the Dask scheduler at {address} was lost ({type(exc).__name__}: {exc})"
    if isinstance(exc, FutureCancelledError):
        return f"the task for {tasks or exc.key} was cancelled ({exc.reason})"
    return f"the task for {tasks or '?'} failed after {retries} retries ({type(exc).__name__}: {exc})"
