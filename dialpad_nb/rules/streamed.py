"""Replay beyond memory: :func:`compare` over a dataset (or any logs) chunk by chunk, merged exactly.

::

    ingest("logs/", to="calls.ds", secret=...)
    result = stream_compare("calls.ds", candidate, baseline=current, capacity="data/capacity.csv",
                            changes_to="changes/", start="2026-01-01", end="2027-01-01")
    result.summary              # the same ReplaySummary compare() gives for the calls in memory
    result.rule_hits
    result.read_changes()       # the changed calls, read back from changes/ (one part per chunk)

Each chunk (one ingested source file, or ``chunksize`` lines of a log) is reduced to a
:class:`Partial`: counts per target name (in order of first appearance), calls per (target,
clock hour), calls per rule, the baseline and default counts. Partials merge by adding counts;
the final tables are built by the same code that builds them in memory, so the summary, volume,
peaks (the busiest hour is taken over the merged hourly counts, so an hour split across chunks
counts whole) and rule hits are those of ``compare`` on all the calls at once (tested). Changed
calls are written to ``changes_to`` as they are found, one Parquet part per chunk, names as text.

Two twins make a chunk's Partial: :func:`partial_of` runs ``compare`` on the chunk (the
reference); :func:`~dialpad_nb.rules.chunk_tally.tally_chunk` counts from the decisions' codes
without the per-call table (what the stream runs; a hypothesis test ties them). From a dataset,
each source is read lean (only the columns the rules read, text of few values coded:
:func:`~dialpad_nb.calls.dataset_scan.scan_source`) and the next source is read in a thread
while this one is counted. A damaged part is skipped whole and named
(:class:`UnreadablePartWarning`, ``result.unreadable``).

Memory: one source (two while the next is read), plus one counter per (target, hour) seen.
Measured (``benchmarks/bench_scale.py``): 50M calls in about a minute or less on 2 shared cores,
peak RSS ~0.65 GB.

One difference from the in-memory call, by construction: when two different targets have the
same name, which one keeps the plain name (the other gets `` (id)``) is decided per chunk.
"""

from __future__ import annotations

import os
import warnings
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..calls.columns import CALL_COLUMNS, empty_calls
from ..calls.dataset import bounds_ms, dataset_parts, is_dataset
from ..calls.dataset_scan import scan_source
from ..calls.read import iter_calls
from ..core.errors import ValidationError
from .comparison import (
    ReplaySummary,
    _hits_table,
    _hour_counts,
    _peaks_table,
    _volume_table,
    compare,
)
from .ruleset import RuleSet

__all__ = ["Partial", "StreamedComparison", "UnreadablePartWarning", "stream_compare"]

_SIDES = ("before", "after")


class UnreadablePartWarning(UserWarning):
    """A part of the dataset could not be read (damaged, truncated): it was skipped whole."""


@dataclass
class Partial:
    """What one chunk's comparison contributes to the whole; :meth:`merge` adds another's."""

    calls: int = 0
    with_baseline: int = 0
    changed: int = 0
    before_default: int = 0
    before_default_unknown: bool = False
    after_default: int = 0
    labels: dict[str, dict[str, int]] = field(default_factory=lambda: {s: {} for s in _SIDES})
    """Per side: calls per target name, in order of first appearance."""
    types: dict[str, Any] = field(default_factory=dict)
    hours: dict[str, Counter] = field(default_factory=lambda: {s: Counter() for s in _SIDES})
    """Per side: calls per (target name, UTC hour since the epoch)."""
    hits: dict[str, int] = field(default_factory=dict)
    base_hits: dict[str, int] = field(default_factory=dict)
    base_hits_shown: bool = False
    meta: dict[str, Any] = field(default_factory=dict)
    """The first chunk's names, timezone and notes (the same for every chunk)."""
    changes_written: int = 0

    def merge(self, other: Partial) -> Partial:
        for name in (
            "calls",
            "with_baseline",
            "changed",
            "before_default",
            "after_default",
            "changes_written",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.before_default_unknown |= other.before_default_unknown
        self.base_hits_shown |= other.base_hits_shown
        for side in _SIDES:
            mine = self.labels[side]
            for label, n in other.labels[side].items():
                mine[label] = mine.get(label, 0) + n
            self.hours[side].update(other.hours[side])
        for label, kind in other.types.items():
            self.types.setdefault(label, kind)
        for mine, theirs in ((self.hits, other.hits), (self.base_hits, other.base_hits)):
            for rule, n in theirs.items():
                mine[rule] = mine.get(rule, 0) + n
        if not self.meta:
            self.meta = dict(other.meta)
        return self


def partial_of(
    calls: pd.DataFrame,
    candidate: RuleSet | pd.DataFrame,
    baseline: str | RuleSet | pd.DataFrame = "logged",
    *,
    directory: Iterable[Any] | None = None,
    default: Any = None,
    timezone: str | None = None,
    changes_to: str | os.PathLike | None = None,
    part: int = 0,
) -> Partial:
    """One chunk's :class:`Partial` (its changed calls written to ``changes_to/part-NNNNN.parquet``)."""
    res = compare(calls, candidate, baseline, directory=directory, default=default, timezone=timezone)
    d = res.decisions
    out = Partial()
    s = res.summary
    out.calls, out.with_baseline, out.changed = s.calls, s.with_baseline, s.changed
    has_base = d["has_baseline"].to_numpy()
    before_default = d["before_default"][has_base]
    out.before_default = int(before_default.fillna(False).astype(bool).sum())
    out.before_default_unknown = bool(before_default.isna().any())
    out.after_default = int(d["after_default"].astype(bool).sum())
    for side in _SIDES:
        names = d[f"{side}_name"]
        sizes = names.value_counts(sort=False)
        out.labels[side] = {str(c): int(sizes[c]) for c in names.cat.categories}
        first = d.groupby(names, observed=True)[f"{side}_target_type"].first().astype(object)
        for label, kind in first.items():
            out.types.setdefault(str(label), kind)
        out.hours[side] = Counter(_hour_counts(d, side).to_dict())
    out.hits = dict(zip(res.rule_hits["rule"], res.rule_hits["calls"].tolist(), strict=True))
    if res.baseline_rule_hits is not None:
        out.base_hits_shown = True
        bh = res.baseline_rule_hits
        out.base_hits = dict(zip(bh["rule"], bh["calls"].tolist(), strict=True))
    out.meta = {
        "baseline": s.baseline,
        "candidate": s.candidate,
        "timezone": s.timezone,
        "notes": s.notes,
        "rule_order": getattr(candidate, "rule_names", None) if isinstance(candidate, RuleSet) else None,
        "base_rule_order": getattr(baseline, "rule_names", None) if isinstance(baseline, RuleSet) else None,
    }
    if changes_to is not None:
        changes = res.changes
        out.changes_written = len(changes)
        _write_changes(changes, Path(changes_to), part)
    return out


def _write_changes(changes: pd.DataFrame, folder: Path, part: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    flat = changes.reset_index(drop=True)
    for col in flat.columns:
        if isinstance(flat[col].dtype, pd.CategoricalDtype):
            flat[col] = flat[col].astype(object).astype("string")
    tmp = folder / f".part-{part:05d}.parquet.tmp"
    pq.write_table(pa.Table.from_pandas(flat, preserve_index=False), tmp)
    os.replace(tmp, folder / f"part-{part:05d}.parquet")


class StreamedComparison:
    """The result of :func:`stream_compare`: what :class:`~dialpad_nb.rules.comparison.Comparison`
    holds, without the per-call table (the changed calls are in ``changes_to``)."""

    def __init__(
        self,
        summary: ReplaySummary,
        rule_hits: pd.DataFrame,
        baseline_rule_hits: pd.DataFrame | None,
        *,
        changes_to: str | None,
        chunks: int,
    ) -> None:
        self.summary = summary
        self.rule_hits = rule_hits
        self.baseline_rule_hits = baseline_rule_hits
        self.changes_to = changes_to
        self.chunks = chunks
        self.timezone = summary.timezone
        self.unreadable: tuple[str, ...] = ()
        """Dataset parts that could not be read and were skipped (a warning said so)."""

    @property
    def volume(self) -> pd.DataFrame:
        return self.summary.volume

    @property
    def peaks(self) -> pd.DataFrame:
        return self.summary.peaks

    @property
    def never_hit(self) -> list[str]:
        return list(self.summary.never_hit)

    def read_changes(self) -> pd.DataFrame:
        """The changed calls written to ``changes_to``, in call order (loads them all)."""
        if self.changes_to is None:
            raise ValidationError(
                "no changes_to was given: the changed calls were not written", field="changes_to"
            )
        parts = sorted(Path(self.changes_to).glob("part-*.parquet"))
        frames = [pd.read_parquet(p) for p in parts]
        frames = [f for f in frames if len(f)]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def __repr__(self) -> str:
        return f"StreamedComparison({self.summary}; {self.chunks:,} chunks)"

    def _repr_html_(self) -> str:
        return self.summary._repr_html_()


def finish(
    total: Partial,
    capacity: pd.DataFrame | str | os.PathLike | None,
    names: dict[tuple[int, str], str],
    *,
    changes_to: str | os.PathLike | None,
    chunks: int,
) -> StreamedComparison:
    """The merged :class:`Partial` as the tables :func:`compare` builds."""
    parts = {}
    for side in _SIDES:
        labels = pd.Index(list(total.labels[side]), dtype=object)  # as compare's names: object
        index = pd.CategoricalIndex(labels, categories=labels, name=f"{side}_name")
        parts[side] = pd.Series([total.labels[side][lb] for lb in labels], index=index, dtype=np.int64)
    types = {lb: total.types[lb] for side in _SIDES for lb in total.labels[side]}
    volume = _volume_table(parts, types)
    peaks_parts = {}
    for side in _SIDES:
        counts = total.hours[side]
        if counts:
            names_ = np.array([k[0] for k in counts], dtype=object)  # as compare's: object, not str
            hours = np.array([k[1] for k in counts], dtype=np.int64)
            s = pd.Series(
                list(counts.values()), index=pd.MultiIndex.from_arrays([names_, hours]), dtype=np.int64
            )
            peaks_parts[f"peak_{side}"] = s.groupby(level=0).max()
        else:
            peaks_parts[f"peak_{side}"] = pd.Series(dtype=np.int64)
    peaks = _peaks_table(peaks_parts, capacity, names, types)
    meta = total.meta
    hits = _hits_table(total.hits, meta.get("rule_order"))
    base_hits = _hits_table(total.base_hits, meta.get("base_rule_order")) if total.base_hits_shown else None
    n_base = total.with_baseline
    share_before = None if n_base == 0 or total.before_default_unknown else total.before_default / n_base
    summary = ReplaySummary(
        baseline=meta.get("baseline", "baseline"),
        candidate=meta.get("candidate", "candidate"),
        calls=total.calls,
        with_baseline=n_base,
        no_baseline=total.calls - n_base,
        changed=total.changed,
        default_share_before=share_before,
        default_share_after=total.after_default / total.calls if total.calls else 0.0,
        volume=volume,
        peaks=peaks,
        never_hit=list(hits.loc[hits["calls"] == 0, "rule"]),
        timezone=meta.get("timezone", "UTC"),
        notes=tuple(meta.get("notes", ())),
    )
    return StreamedComparison(
        summary,
        hits,
        base_hits,
        changes_to=None if changes_to is None else os.fspath(changes_to),
        chunks=chunks,
    )


def stream_compare(
    source: Any,
    candidate: RuleSet | pd.DataFrame,
    baseline: str | RuleSet | pd.DataFrame = "logged",
    *,
    capacity: pd.DataFrame | str | os.PathLike | None = None,
    directory: Iterable[Any] | None = None,
    default: Any = None,
    timezone: str | None = None,
    changes_to: str | os.PathLike | None = None,
    secret: str | bytes | None = None,
    start: Any = None,
    end: Any = None,
    router_id: int | None = None,
    chunksize: int = 1_000_000,
) -> StreamedComparison:
    """:func:`~dialpad_nb.rules.comparison.compare` over ``source`` (a dataset from
    :func:`~dialpad_nb.calls.dataset.ingest`, logs, or an iterable of calls frames) one chunk at a
    time; see the module docstring. ``start``/``end``/``router_id`` filter a dataset."""
    from .chunk_tally import tally_chunk
    from .comparison import target_names

    names = target_names(directory, candidate, baseline)
    total = Partial()
    chunks = 0
    unreadable: list[str] = []
    frames = _frames(source, secret, start, end, router_id, chunksize, candidate, baseline, unreadable)
    with warnings.catch_warnings():
        for k, calls in enumerate(frames):
            if chunks:  # what a warning says is said once (the notes of the summary keep it)
                warnings.simplefilter("ignore")
            total.merge(
                tally_chunk(
                    calls,
                    candidate,
                    baseline,
                    directory=directory,
                    default=default,
                    timezone=timezone,
                    changes_to=changes_to,
                    part=k,
                )
            )
            chunks += 1
    if not chunks:
        total.merge(partial_of(empty_calls(), candidate, baseline, directory=directory, default=default,
                               timezone=timezone))  # fmt: skip
    warn_unreadable(unreadable)
    result = finish(total, capacity, names, changes_to=changes_to, chunks=chunks)
    result.unreadable = tuple(unreadable)
    return result


def warn_unreadable(parts: list[str]) -> None:
    """Say which dataset parts were skipped (a damaged file: none of its calls was compared)."""
    if parts:
        warnings.warn(
            f"{len(parts)} dataset part(s) could not be read and were skipped, none of their calls "
            f"is in the comparison: {', '.join(parts[:5])}{' ...' if len(parts) > 5 else ''}",
            UnreadablePartWarning,
            stacklevel=3,
        )


def _frames(
    source: Any,
    secret: Any,
    start: Any,
    end: Any,
    router_id: int | None,
    chunksize: int,
    candidate: Any,
    baseline: Any,
    unreadable: list[str],
) -> Iterator[pd.DataFrame]:
    if isinstance(source, pd.DataFrame):
        yield source
        return
    if is_dataset(source):
        yield from dataset_frames(source, candidate, baseline, start, end, router_id, unreadable)
        return
    if not isinstance(source, (str, os.PathLike)) and isinstance(source, Iterable):
        items = list(source)
        if items and all(isinstance(f, pd.DataFrame) for f in items):
            yield from items
            return
        source = items
    for res in iter_calls(
        source, secret, chunksize=chunksize, start=start, end=end, router_id=router_id, progress=False
    ):
        yield res.calls


def source_frame(
    entry: tuple[str, list[str], str],
    candidate: Any,
    baseline: Any,
    lo: int | None,
    hi: int | None,
    router_id: int | None,
) -> tuple[pd.DataFrame, list[str]]:
    """One ingested source's calls as the comparison needs them: only the columns it reads, the
    text columns coded (all columns, as read_calls types them, when a rule may read any)."""
    from .chunk_tally import CODED_COLUMNS, columns_needed

    columns = columns_needed(candidate, baseline)
    if columns is None:
        return scan_source(entry, CALL_COLUMNS, lo=lo, hi=hi, router_id=router_id)
    coded = [c for c in columns if c in CODED_COLUMNS]
    return scan_source(entry, columns, coded=coded, lo=lo, hi=hi, router_id=router_id)


def dataset_frames(
    source: Any,
    candidate: Any,
    baseline: Any,
    start: Any,
    end: Any,
    router_id: int | None,
    unreadable: list[str],
) -> Iterator[pd.DataFrame]:
    """A dataset's sources one by one (see :func:`source_frame`); the next source is read in a
    thread while the caller works on this one (Parquet decoding releases the GIL: both cores)."""
    from concurrent.futures import ThreadPoolExecutor

    entries = dataset_parts(source, start=start, end=end)
    lo, hi = bounds_ms(start, end)
    with ThreadPoolExecutor(1, thread_name_prefix="dataset-read") as pool:
        ahead = [pool.submit(source_frame, e, candidate, baseline, lo, hi, router_id) for e in entries[:1]]
        for k in range(len(entries)):
            frame, bad = ahead.pop().result()
            if k + 1 < len(entries):
                ahead.append(
                    pool.submit(source_frame, entries[k + 1], candidate, baseline, lo, hi, router_id)
                )
            unreadable.extend(bad)
            yield frame
            del frame
