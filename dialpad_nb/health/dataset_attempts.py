"""Attempts in a Parquet dataset: stored by ``ingest`` for endpoint logs, read back by the health functions.

::

    ingest("logs/endpoint.jsonl", to="calls.ds", router_id=7300000000000001, attempts=endpoint_attempts)
    attempts, rejects = read_endpoint_log("calls.ds", start="2026-10-01", end="2026-11-01")
    simulate(attempts)

:func:`endpoint_attempts` is what ``ingest(..., attempts=)`` calls for each source file: the
attempts :func:`~dialpad_nb.health.attempts.read_endpoint_log` reads from it (with Dialpad's
deadline), or None when the file is not an endpoint log (a plain call log has no attempts). The
dataset (:mod:`dialpad_nb.calls.dataset`) stores them by day beside the calls, in the same atomic
step. :func:`read_dataset_attempts` reads them back, equal to ``read_endpoint_log`` on the log
(same rows, order, dtypes), filtered by ``[start, end)`` and router; ``read_endpoint_log`` and
``dask_simulate`` take the dataset directly.

The rejects of the log are the calls' (the dataset's rejects); reading the attempts back has
none, except a part that cannot be read (named, none of its rows read).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..calls.dataset import attempt_parts, bounds_ms
from ..core.errors import ValidationError
from ..core.frames import ReadResult, rejects_frame
from ..core.policy import DIALPAD, Policy
from .attempts import ATTEMPT_DTYPES, empty_attempts, read_endpoint_log

__all__ = ["endpoint_attempts", "read_dataset_attempts"]


def endpoint_attempts(path: str, router_id: int | None = None) -> Iterator[pd.DataFrame] | None:
    """The attempts of an endpoint kit log (its first record says so: one with a ``status``),
    labelled ``router_id``; None for any other file. For ``ingest(..., attempts=)``."""
    if not _is_endpoint_log(path):
        return None
    return iter([read_endpoint_log(path, router_id=router_id).attempts])


def _is_endpoint_log(path: str, lines: int = 20) -> bool:
    """Whether one of the file's first JSON-object lines is an endpoint kit request record (it
    has a ``status``, which a call log's lines do not)."""
    import gzip
    import json
    import zlib

    try:
        with open(path, "rb") as raw:
            gz = raw.read(2) == b"\x1f\x8b"
        with gzip.open(path, "rb") if gz else open(path, "rb") as f:
            for _, line in zip(range(lines), f, strict=False):
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                if isinstance(rec, dict) and "status" in rec:
                    return True
    except (OSError, EOFError, zlib.error):
        return False
    return False


def read_dataset_attempts(
    dataset: str | os.PathLike,
    *,
    start: Any = None,
    end: Any = None,
    router_id: int | None = None,
    policy: Policy = DIALPAD,
) -> ReadResult:
    """The attempts stored in ``dataset`` with ``start <= time < end`` (a date is its UTC
    midnight) of ``router_id``, source by source in ingest order, each in its log's order."""
    if policy.deadline_ms != DIALPAD.deadline_ms:
        raise ValidationError(
            f"the dataset's attempts were classified with Dialpad's {DIALPAD.deadline_ms / 1000:g} s "
            f"deadline; for a {policy.deadline_ms / 1000:g} s one read the endpoint logs themselves",
            field="policy",
        )
    entries = attempt_parts(dataset, start=start, end=end)
    missing = [path for path, parts in entries if parts is None]
    if missing:
        raise ValidationError(
            f"{os.fspath(dataset)} holds no attempts for {len(missing)} source(s) ingested without them "
            f"(e.g. {missing[0]}): ingest them again with attempts (`dialpad-nb ingest LOGS --to "
            f"{os.fspath(dataset)}`, or ingest(..., attempts=endpoint_attempts)); only their attempts are added",
            field="dataset",
        )
    lo, hi = bounds_ms(start, end)
    frames: list[pd.DataFrame] = []
    bad: list[tuple[int, str, str, str]] = []
    for _, parts in entries:
        tables = []
        for part in parts or []:
            try:
                tables.append(pq.read_table(part))
            except (pa.ArrowException, OSError) as exc:
                bad.append((1, "", f"{part}: not a readable Parquet file, none of it was read "
                            f"({type(exc).__name__}: {str(exc)[:200]})", "unreadable file"))  # fmt: skip
        if tables:
            frames.append(_filtered(pa.concat_tables(tables, promote_options="default"), lo, hi, router_id))
    attempts = pd.concat(frames, ignore_index=True) if frames else empty_attempts()
    files = tuple(path for path, _ in entries)
    return ReadResult(
        attempts.astype(ATTEMPT_DTYPES) if len(attempts) else empty_attempts(),
        rejects_frame(bad, os.fspath(dataset)),
        files=files,
        what="attempts",
    )


def _filtered(table: pa.Table, lo: int | None, hi: int | None, router_id: int | None) -> pd.DataFrame:
    frame = table.to_pandas().sort_values("_row", kind="stable")  # the days back into the log's order
    keep = pd.Series(True, index=frame.index)
    ms = frame["time"].astype("datetime64[ms, UTC]").astype("int64")
    if lo is not None:
        keep &= ms >= lo
    if hi is not None:
        keep &= ms < hi
    if router_id is not None:
        keep &= frame["router_id"].astype("Int64").eq(router_id).fillna(False).astype(bool)
    return frame[keep].drop(columns="_row").reset_index(drop=True).astype(ATTEMPT_DTYPES)
