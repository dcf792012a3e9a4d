"""Ingest once, analyse many times: call logs into a Parquet dataset partitioned by day.

::

    ingest("logs/*.jsonl.gz", to="calls.ds", secret=...)     # again later: only new files are read
    read_calls("calls.ds", start="2026-10-01", end="2026-10-31", router_id=...)
    for chunk in iter_calls("calls.ds"): ...                  # one source file at a time

Layout of ``DATASET/``::

    dialpad_dataset.json                     the manifest: which source files are in (by SHA-256 of
                                             their bytes), their counts and their Parquet parts
    calls/day=YYYY-MM-DD/<hash>.parquet      the accepted calls of one source file on one UTC day
    rejects/<hash>.parquet                   the records that source file refused (the rejects frame)
    attempts/day=YYYY-MM-DD/<hash>.parquet   the attempts of an endpoint log (ingest's ``attempts=``:
                                             what Dialpad saw of each routing request; health reads them)

Decisions:

- **Incremental**: a source whose content hash is in the manifest is skipped, whatever its name,
  so JWTs are verified once. A file that grew since it was ingested (a live log appended to: its
  first bytes are the ingested version's) is read again whole and replaces its earlier version in
  the same manifest write, so no call is in the dataset twice. A file rewritten otherwise, or
  compressed since, is a new source: ingest finished logs (rotated generations) where you can.
- **Atomic per file**: a source's parts are written under ``.tmp/`` and renamed into place, then
  the manifest is replaced (write + fsync + rename). Readers read only the parts the manifest
  lists, so a crash (even ``kill -9``) leaves nothing half-written that gets read; the rerun
  removes what the crash left and writes the same files again.
- **Duplicates** are caught within a source file (as :func:`~dialpad_nb.calls.read.read_calls`
  does per call); across source files ingested separately they are not.
- A damaged or truncated part is reported by name as one reject (``unreadable file``) and none of
  its rows are read.
- **Attempts**: ``ingest(..., attempts=endpoint_attempts)`` (``dialpad-nb ingest`` does) also
  stores each endpoint log's attempts (:func:`dialpad_nb.health.endpoint_attempts`), by day, in
  the same atomic step and manifest entry (``attempts_parts``: empty for a source with none). A
  source ingested without them (or before they were stored) has no ``attempts_parts``; ingesting
  it again with ``attempts=`` adds them (its calls are written again, the same).
- ``router_id``: the router whose calls a log holds (an endpoint log does not say); stamped on
  calls that carry none, so a dataset of several routers' logs can be filtered by router.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..core.clock import to_ms
from ..core.errors import SourceNotFound, ValidationError
from ..core.frames import REJECT_DTYPES, ReadResult, empty_rejects, rejects_frame
from ..core.wording import plural
from .columns import CALL_DTYPES, empty_calls

__all__ = [
    "MANIFEST",
    "IngestReport",
    "add_calls",
    "attempt_parts",
    "calls_schema",
    "dataset_parts",
    "filter_table",
    "ingest",
    "is_dataset",
    "iter_dataset",
    "table_to_frame",
]

MANIFEST = "dialpad_dataset.json"
"""The manifest's file name inside a dataset folder (what makes a folder a dataset)."""
_VERSION = 1
_DAY_MS = 86_400_000
_HASH_CHARS = 24

_ARROW_TYPES = {
    "datetime64[ms, UTC]": pa.timestamp("ms", tz="UTC"),
    "int64": pa.int64(),
    "Int64": pa.int64(),
    "string": pa.string(),
    "boolean": pa.bool_(),
}


def calls_schema() -> pa.Schema:
    """The Arrow schema of every calls part (the ``calls`` frame's columns and types)."""
    return pa.schema([(c, _ARROW_TYPES[d]) for c, d in CALL_DTYPES.items()])


def _rejects_schema() -> pa.Schema:
    return pa.schema([(c, _ARROW_TYPES[d]) for c, d in REJECT_DTYPES.items()])


def is_dataset(source: Any) -> bool:
    """Whether ``source`` is a folder holding a dataset written by :func:`ingest`."""
    return isinstance(source, (str, os.PathLike)) and os.path.isfile(os.path.join(source, MANIFEST))


# --------------------------------------------------------------------------- the manifest


def _load_manifest(root: Path) -> dict[str, Any]:
    path = root / MANIFEST
    if not path.exists():
        return {"version": _VERSION, "sources": {}}
    try:
        manifest = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise ValidationError(f"{path} is not a readable dataset manifest ({exc})", field="dataset") from None
    if not isinstance(manifest, dict) or manifest.get("version") != _VERSION:
        raise ValidationError(f"{path}: not a version {_VERSION} dataset manifest", field="dataset")
    return manifest


def _write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _content_hash(path: str, limit: int | None = None) -> str:
    """SHA-256 of the file's bytes (of its first ``limit`` bytes when given)."""
    h = hashlib.sha256()
    left = limit
    with open(path, "rb") as f:
        while block := f.read(1 << 20 if left is None else min(1 << 20, left)):
            h.update(block)
            if left is not None:
                left -= len(block)
                if left <= 0:
                    break
    return h.hexdigest()


def _grown_from(manifest: dict[str, Any], path: str, size: int) -> str | None:
    """The digest of an ingested earlier version of ``path`` that its content now extends (the
    same file, appended to: a live log), or None. Such a version is replaced, not kept beside the
    new one, or its calls would be in the dataset twice."""
    real = os.path.realpath(path)
    for digest, entry in manifest["sources"].items():
        old = entry.get("bytes")
        if not isinstance(old, int) or old > size or os.path.realpath(entry["source"]) != real:
            continue
        if _content_hash(path, old) == digest:
            return digest
    return None


# --------------------------------------------------------------------------- ingest


@dataclass(frozen=True)
class IngestReport:
    """What one :func:`ingest` run did: sources added (with their counts) and sources skipped
    because the dataset already holds their content."""

    dataset: str
    added: tuple[str, ...]
    skipped: tuple[str, ...]
    calls: int
    rejects: int
    replaced: tuple[str, ...] = ()
    """Sources that grew since they were ingested: read again whole, their earlier version removed."""

    @property
    def summary(self) -> str:
        grown = (
            f"; {plural(len(self.replaced), 'file')} grew since the last ingest and replaced its earlier version"
            if self.replaced
            else ""
        )
        return (
            f"Ingested {plural(len(self.added), 'file')} into {self.dataset}: {self.calls:,} calls, "
            f"{self.rejects:,} rejected; {plural(len(self.skipped), 'file')} already in the dataset, skipped"
            + grown
        )

    def __repr__(self) -> str:
        return self.summary


def ingest(
    source: Any,
    to: str | os.PathLike,
    secret: str | bytes | None = None,
    *,
    router_id: int | None = None,
    default_country_code: str = "1",
    leeway_s: float = 0,
    chunksize: int = 1_000_000,
    attempts: Callable[[str, int | None], Iterable[pd.DataFrame] | None] | None = None,
    workers: int | None = None,
) -> IngestReport:
    """Read call logs (anything :func:`~dialpad_nb.calls.read.read_calls` reads from files) into
    the Parquet dataset at ``to`` (created if missing); see the module docstring. ``attempts``:
    ``(path, router_id) -> attempts frames, or None`` for a file with none (e.g.
    :func:`dialpad_nb.health.endpoint_attempts`), stored beside the calls.

    ``workers``: processes reading files at once (each file still whole, in one process; this
    process commits them in order, so the dataset is the same). ``None``: one per core when
    there are several files and at least :data:`PARALLEL_BYTES` to read, else 1 (starting a
    worker costs about a second: it imports pandas and pyarrow)."""
    from .read import _expand

    root = Path(to)
    if root.exists() and not root.is_dir():
        raise ValidationError(f"{root} exists and is not a folder", field="to")
    root.mkdir(parents=True, exist_ok=True)
    manifest = _load_manifest(root)
    _remove_unlisted(root, manifest)
    added: list[str] = []
    skipped: list[str] = []
    replaced: list[str] = []
    n_calls = n_rejects = 0
    todo: list[tuple[str, str, int, str | None]] = []  # (path, digest, size, the entry it replaces)
    for path in _expand(source):
        digest = _content_hash(path)
        known = manifest["sources"].get(digest)
        if known is not None and (attempts is None or "attempts_parts" in known):
            skipped.append(path)
            continue
        size = os.path.getsize(path)
        earlier = (
            digest if known is not None else _grown_from(manifest, path, size)
        )  # known: for its attempts
        todo.append((path, digest, size, earlier))
    run = uuid.uuid4().hex[:12]  # this run's staging folders: a worker orphaned by a crash writes only there
    options = _StageOptions(secret, router_id, default_country_code, leeway_s, chunksize, attempts, run)
    for (path, digest, size, earlier), (staged, tmp) in zip(
        todo, _staged(root, todo, options, _workers(workers, todo)), strict=True
    ):
        entry = _commit_source(root, manifest, digest, staged, tmp, size=size, replaces=earlier)
        if earlier is not None and earlier != digest:
            replaced.append(path)
            _remove_unlisted(root, manifest)  # the earlier version's parts, no longer listed
        added.append(path)
        n_calls += entry["calls"]
        n_rejects += entry["rejects"]
    shutil.rmtree(root / ".tmp", ignore_errors=True)
    return IngestReport(str(root), tuple(added), tuple(skipped), n_calls, n_rejects, tuple(replaced))


@dataclass(frozen=True)
class _StageOptions:
    """How each file is read (picklable: sent to worker processes)."""

    secret: str | bytes | None = field(repr=False)
    router_id: int | None
    default_country_code: str
    leeway_s: float
    chunksize: int
    attempts: Callable[[str, int | None], Iterable[pd.DataFrame] | None] | None
    run: str


PARALLEL_BYTES = 256 << 20
"""``ingest(workers=None)`` reads files in parallel when at least this much is to be read."""


def _workers(workers: int | None, todo: list[tuple[str, str, int, str | None]]) -> int:
    if workers is not None:
        if workers < 1:
            raise ValidationError(f"must be >= 1, got {workers!r}", field="workers")
        return min(workers, max(len(todo), 1))
    if len(todo) < 2 or sum(t[2] for t in todo) < PARALLEL_BYTES:
        return 1
    return min(os.cpu_count() or 1, len(todo))


def _staged(
    root: Path, todo: list[tuple[str, str, int, str | None]], options: _StageOptions, workers: int
) -> Iterator[tuple[dict[str, Any], Path]]:
    """Each file of ``todo`` staged under ``.tmp/`` (:func:`_stage_file`), in order: here, or in
    ``workers`` spawned processes (each file whole in one of them)."""
    if workers <= 1:
        for path, digest, _size, earlier in todo:
            yield _stage_file(root, digest, path, options, earlier is not None and earlier == digest)
        return
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    # spawned, not forked: a worker imports afresh and shares no threads or locks with this process
    with ProcessPoolExecutor(
        max_workers=workers,
        mp_context=mp.get_context("spawn"),
        initializer=_die_with_parent,
        initargs=(os.getpid(),),
    ) as pool:
        futures = [
            pool.submit(_stage_file, root, digest, path, options, earlier is not None and earlier == digest)
            for path, digest, _size, earlier in todo
        ]
        try:
            for future in futures:
                yield future.result()
        finally:
            for future in futures:
                future.cancel()


def _die_with_parent(parent: int) -> None:
    """Worker initializer: a worker whose ingest is killed (``kill -9``) exits too, rather than
    wait for work forever (it holds its task queue's write end, so it never reads an end).
    Linux: the kernel kills it (``PR_SET_PDEATHSIG``); elsewhere a thread checks every second."""
    if sys.platform == "linux":
        import ctypes

        try:
            if ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL) == 0:  # PR_SET_PDEATHSIG
                if os.getppid() != parent:  # it died before the line above
                    os._exit(1)
                return
        except (OSError, AttributeError):  # pragma: no cover - no prctl in this libc
            pass

    def watch() -> None:  # pragma: no cover - platforms without prctl
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(1)

    threading.Thread(target=watch, name="dialpad_nb-ingest-parent-watch", daemon=True).start()


def _stage_file(
    root: Path, digest: str, path: str, options: _StageOptions, for_attempts: bool
) -> tuple[dict[str, Any], Path]:
    """Read one file and write its parts under ``.tmp/`` (a worker process may run this)."""
    from .read import iter_calls

    results = iter_calls(
        path,
        options.secret,
        chunksize=options.chunksize,
        default_country_code=options.default_country_code,
        leeway_s=options.leeway_s,
        progress=False,
    )
    extra = None if options.attempts is None else options.attempts(path, options.router_id)
    return _stage_source(
        root,
        digest,
        path,
        results,
        router_id=options.router_id,
        attempts=extra if options.attempts is None or extra is not None else (),
        run=options.run,
    )


def _add_source(
    root: Path,
    manifest: dict[str, Any],
    digest: str,
    path: str,
    results: Iterable[ReadResult],
    *,
    router_id: int | None = None,
    size: int | None = None,
    replaces: str | None = None,
    attempts: Iterable[pd.DataFrame] | None = None,
) -> dict[str, Any]:
    """One source into the dataset, atomically (:func:`_stage_source`, :func:`_commit_source`)."""
    staged, tmp = _stage_source(root, digest, path, results, router_id=router_id, attempts=attempts)
    return _commit_source(root, manifest, digest, staged, tmp, size=size, replaces=replaces)


def _stage_source(
    root: Path,
    digest: str,
    path: str,
    results: Iterable[ReadResult],
    *,
    router_id: int | None = None,
    attempts: Iterable[pd.DataFrame] | None = None,
    run: str = "",
) -> tuple[dict[str, Any], Path]:
    """A source's parts written under ``.tmp/<key>-<run>/``; returns its manifest entry (parts
    listed relative to that folder) and the folder, not yet in the dataset."""
    key = digest[:_HASH_CHARS]
    tmp = root / ".tmp" / f"{key}-{run}" if run else root / ".tmp" / key
    shutil.rmtree(tmp, ignore_errors=True)
    writers: dict[int, pq.ParquetWriter] = {}
    rejects: list[pd.DataFrame] = []
    entry: dict[str, Any] = {"source": path, "calls": 0, "rejects": 0, "records": 0, "skipped": {}}
    try:
        for res in results:
            calls = res.calls
            if router_id is not None and len(calls):
                calls = calls.assign(router_id=calls["router_id"].fillna(router_id).astype("Int64"))
            _write_days(calls, tmp, key, writers)
            rejects.append(res.rejects)
            entry["calls"] += len(res.calls)
            entry["rejects"] += len(res.rejects)
            entry["records"] += res.records
            for kind, count in res.skipped.items():
                entry["skipped"][kind] = entry["skipped"].get(kind, 0) + count
    finally:
        for w in writers.values():
            w.close()
    if attempts is not None:
        entry["attempts"] = _write_attempts(attempts, tmp, key)
    nonempty = [r for r in rejects if len(r)]
    rej = pd.concat(nonempty, ignore_index=True) if nonempty else empty_rejects()
    (tmp / "rejects").mkdir(parents=True, exist_ok=True)
    pq.write_table(
        pa.Table.from_pandas(rej, schema=_rejects_schema(), preserve_index=False),
        tmp / "rejects" / f"{key}.parquet",
    )
    parts = sorted(p.relative_to(tmp).as_posix() for p in tmp.rglob("*.parquet"))
    entry["parts"] = [p for p in parts if p.startswith("calls")]
    entry["rejects_part"] = f"rejects/{key}.parquet"
    if attempts is not None:
        entry["attempts_parts"] = [p for p in parts if p.startswith("attempts")]
    return entry, tmp


def _commit_source(
    root: Path,
    manifest: dict[str, Any],
    digest: str,
    entry: dict[str, Any],
    tmp: Path,
    *,
    size: int | None = None,
    replaces: str | None = None,
) -> dict[str, Any]:
    """A source staged in ``tmp`` into place, then the manifest replaced (in the same write,
    without the entry ``replaces``: an earlier version of the same file)."""
    for rel in [*entry["parts"], entry["rejects_part"], *entry.get("attempts_parts", ())]:
        # into place; nothing reads them until the manifest lists them
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp / rel, root / rel)
    shutil.rmtree(tmp, ignore_errors=True)
    if size is not None:
        entry["bytes"] = size
    if replaces is not None:
        del manifest["sources"][replaces]  # (the same digest when a source gets its attempts)
    manifest["sources"][digest] = entry
    _write_atomically(root / MANIFEST, json.dumps(manifest, indent=1).encode("utf-8"))
    return entry


def add_calls(to: str | os.PathLike, calls: pd.DataFrame, *, source: str) -> bool:
    """Add a ``calls`` frame (:data:`~dialpad_nb.calls.columns.CALL_DTYPES`) already in memory to
    the dataset at ``to`` as one source named ``source`` (e.g. generated calls for a benchmark);
    identified by that name: returns False, adding nothing, when the dataset has it already."""
    root = Path(to)
    root.mkdir(parents=True, exist_ok=True)
    manifest = _load_manifest(root)
    digest = hashlib.sha256(b"frame:" + source.encode("utf-8")).hexdigest()
    if digest in manifest["sources"]:
        return False
    _remove_unlisted(root, manifest)
    _add_source(root, manifest, digest, source, [ReadResult(calls.astype(CALL_DTYPES), empty_rejects())])
    return True


def _write_days(calls: pd.DataFrame, tmp: Path, key: str, writers: dict[int, pq.ParquetWriter]) -> None:
    """Append one chunk's calls to the part of each UTC day they fall on."""
    if not len(calls):
        return
    ms = calls["date_started"].to_numpy(dtype="datetime64[ms]").astype(np.int64)
    days = ms // _DAY_MS
    table = pa.Table.from_pandas(calls, schema=calls_schema(), preserve_index=False)
    order = np.argsort(days, kind="stable")
    uniq, starts = np.unique(days[order], return_index=True)
    bounds = [*starts.tolist(), len(order)]
    for k, day in enumerate(uniq.tolist()):
        rows = order[bounds[k] : bounds[k + 1]]
        if day not in writers:
            name = pd.Timestamp(day * _DAY_MS, unit="ms").strftime("%Y-%m-%d")
            folder = tmp / "calls" / f"day={name}"
            folder.mkdir(parents=True, exist_ok=True)
            writers[day] = pq.ParquetWriter(folder / f"{key}.parquet", calls_schema())
        writers[day].write_table(table.take(pa.array(rows)))


def _write_attempts(frames: Iterable[pd.DataFrame], tmp: Path, key: str) -> int:
    """A source's attempts (any frame with a ``time`` column of UTC datetimes) into one part per
    UTC day, with ``_row``: each attempt's position in the source, to read them back in order."""
    writers: dict[int, pq.ParquetWriter] = {}
    n = 0
    try:
        for frame in frames:
            if not len(frame):
                continue
            flat = frame.reset_index(drop=True)
            for col in flat.columns:
                if isinstance(flat[col].dtype, pd.CategoricalDtype):
                    flat[col] = flat[col].astype(object).astype("string")
            flat["_row"] = np.arange(n, n + len(flat), dtype=np.int64)
            n += len(flat)
            days = flat["time"].to_numpy(dtype="datetime64[ms]").astype(np.int64) // _DAY_MS
            table = pa.Table.from_pandas(flat, preserve_index=False)
            for day in np.unique(days).tolist():
                if day not in writers:
                    name = pd.Timestamp(day * _DAY_MS, unit="ms").strftime("%Y-%m-%d")
                    folder = tmp / "attempts" / f"day={name}"
                    folder.mkdir(parents=True, exist_ok=True)
                    writers[day] = pq.ParquetWriter(folder / f"{key}.parquet", table.schema)
                writers[day].write_table(table.filter(pa.array(days == day)))
    finally:
        for w in writers.values():
            w.close()
    return n


def _remove_unlisted(root: Path, manifest: dict[str, Any]) -> None:
    """What an interrupted ingest left: parts the manifest does not list, and ``.tmp/``."""
    listed = {
        p
        for e in manifest["sources"].values()
        for p in [*e["parts"], e["rejects_part"], *e.get("attempts_parts", ())]
    }
    for sub in ("calls", "rejects", "attempts"):
        for p in (root / sub).rglob("*.parquet") if (root / sub).exists() else ():
            if str(p.relative_to(root)) not in listed:
                p.unlink()
    shutil.rmtree(root / ".tmp", ignore_errors=True)


# --------------------------------------------------------------------------- reading


def _day_of(part: str) -> str:
    return part.split("day=", 1)[1].split("/", 1)[0]


def dataset_parts(
    source: str | os.PathLike, *, start: Any = None, end: Any = None
) -> list[tuple[str, list[str], str]]:
    """``(source file, calls parts within [start, end) by day, rejects part)`` per ingested
    source, in ingest order; parts are absolute paths."""
    root = Path(source)
    if not is_dataset(root):
        raise SourceNotFound(f"source: {str(root)!r} is not a dataset (no {MANIFEST})")
    manifest = _load_manifest(root)
    lo = None if start is None else _day_text(start)
    hi = None if end is None else _day_text(end, end=True)
    out = []
    for entry in manifest["sources"].values():
        parts = [
            str(root / p)
            for p in entry["parts"]
            if (lo is None or _day_of(p) >= lo) and (hi is None or _day_of(p) <= hi)
        ]
        out.append((entry["source"], parts, str(root / entry["rejects_part"])))
    return out


def attempt_parts(
    source: str | os.PathLike, *, start: Any = None, end: Any = None
) -> list[tuple[str, list[str] | None]]:
    """``(source file, its attempts parts within [start, end) by day)`` per ingested source, in
    ingest order (absolute paths); None for a source ingested without attempts."""
    root = Path(source)
    if not is_dataset(root):
        raise SourceNotFound(f"source: {str(root)!r} is not a dataset (no {MANIFEST})")
    lo = None if start is None else _day_text(start)
    hi = None if end is None else _day_text(end, end=True)
    out: list[tuple[str, list[str] | None]] = []
    for entry in _load_manifest(root)["sources"].values():
        parts = entry.get("attempts_parts")
        if parts is not None:
            parts = [
                str(root / p)
                for p in parts
                if (lo is None or _day_of(p) >= lo) and (hi is None or _day_of(p) <= hi)
            ]
        out.append((entry["source"], parts))
    return out


def _day_text(when: Any, *, end: bool = False) -> str:
    ms = _bound_ms(when)
    if end:
        ms -= 1  # end is exclusive
    return pd.Timestamp(ms, unit="ms").strftime("%Y-%m-%d")


def bounds_ms(start: Any, end: Any) -> tuple[int | None, int | None]:
    """``start``/``end`` (a date is its UTC midnight) as epoch ms, ``None`` where unbounded."""
    return (None if start is None else _bound_ms(start), None if end is None else _bound_ms(end))


def _bound_ms(when: Any) -> int:
    if isinstance(when, str) and len(when) == 10:  # a date: its midnight, UTC
        when = f"{when}T00:00:00Z"
    return to_ms(when)


def iter_dataset(
    source: str | os.PathLike,
    *,
    start: Any = None,
    end: Any = None,
    router_id: int | None = None,
    rejects: bool | None = None,
) -> Iterator[ReadResult]:
    """One :class:`ReadResult` per ingested source file: its calls with ``start <= date_started
    < end`` (dates are UTC midnights; ``None``: unbounded) and of ``router_id``, in line order.

    ``rejects`` (default: only when no filter is given, since a refused record has no trustworthy
    date or router): also return the records each source refused."""
    lo = None if start is None else _bound_ms(start)
    hi = None if end is None else _bound_ms(end)
    with_rejects = rejects if rejects is not None else (start is None and end is None and router_id is None)
    for entry in dataset_parts(source, start=start, end=end):
        yield read_source(entry, lo=lo, hi=hi, router_id=router_id, rejects=with_rejects)


def read_source(
    entry: tuple[str, list[str], str],
    *,
    lo: int | None = None,
    hi: int | None = None,
    router_id: int | None = None,
    rejects: bool = False,
) -> ReadResult:
    """One ingested source (an item of :func:`dataset_parts`): its calls with ``lo <= date_started
    < hi`` (epoch ms) of ``router_id``, in line order, and its stored rejects when ``rejects``."""
    path, parts, rejects_part = entry
    tables, bad = [], []
    for part in parts:
        try:
            tables.append(pq.read_table(part, schema=calls_schema()))
        except (pa.ArrowException, OSError) as exc:
            bad.append((1, "", f"{part}: not a readable Parquet file, none of it was read "
                        f"({type(exc).__name__}: {str(exc)[:200]})", "unreadable file"))  # fmt: skip
    calls = _filtered(tables, lo, hi, router_id)
    rej = rejects_frame(bad, path)
    if rejects:
        try:
            stored = pq.read_table(rejects_part, schema=_rejects_schema()).to_pandas()
            rej = pd.concat([stored.astype(REJECT_DTYPES), rej], ignore_index=True) if len(rej) else stored
        except (pa.ArrowException, OSError) as exc:
            more = rejects_frame([(1, "", f"{rejects_part}: not a readable Parquet file ({exc})",
                                   "unreadable file")], path)  # fmt: skip
            rej = pd.concat([rej, more], ignore_index=True)
    return ReadResult(calls, rej.astype(REJECT_DTYPES), files=(path,))


def _filtered(tables: list[pa.Table], lo: int | None, hi: int | None, router_id: int | None) -> pd.DataFrame:
    table = filter_table(tables, lo, hi, router_id)
    frame = table_to_frame(table) if table is not None else empty_calls()
    return frame.astype(CALL_DTYPES) if len(frame) else empty_calls()


def filter_table(
    tables: list[pa.Table], lo: int | None, hi: int | None, router_id: int | None
) -> pa.Table | None:
    """One source's parts as one table: the calls with ``lo <= date_started < hi`` (epoch ms)
    of ``router_id``, in line order (None when there are no parts)."""
    if not tables:
        return None
    table = pa.concat_tables(tables)
    mask = None
    ts = table.column("date_started").cast(pa.int64())
    if lo is not None:
        mask = pc.greater_equal(ts, lo)
    if hi is not None:
        m = pc.less(ts, hi)
        mask = m if mask is None else pc.and_(mask, m)
    if router_id is not None:
        m = pc.fill_null(pc.equal(table.column("router_id"), router_id), False)
        mask = m if mask is None else pc.and_(mask, m)
    if mask is not None:
        table = table.filter(mask)
    lines = table.column("line").to_numpy()
    if len(tables) > 1 and not (np.diff(lines) > 0).all():  # days back into line order
        table = table.take(pc.sort_indices(table, [("line", "ascending")]))
    return table


def table_to_frame(table: pa.Table) -> pd.DataFrame:
    """Calls parts as pandas, in the contract's dtypes (a dictionary column stays categorical).
    Whole-number columns with gaps become ``Int64`` straight from Arrow: through float64, as a
    plain ``to_pandas`` goes, a 16-digit id above 2**53 would come back changed."""
    frame = table.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get)
    dtypes = {
        c: CALL_DTYPES[c]
        for c in frame.columns
        if c in CALL_DTYPES and not isinstance(frame[c].dtype, pd.CategoricalDtype)
    }
    return frame.astype(dtypes)
