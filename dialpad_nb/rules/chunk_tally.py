"""One chunk of calls straight to its :class:`~dialpad_nb.rules.streamed.Partial`, without the
per-call table: what :func:`~dialpad_nb.rules.streamed.stream_compare` and
:func:`~dialpad_nb.rules.dask_replay.dask_compare` run per chunk.

:func:`~dialpad_nb.rules.streamed.partial_of` (the reference) runs
:func:`~dialpad_nb.rules.comparison.compare` on the chunk, which builds the table ``compare``
returns: a dozen columns per call (names, rules and target types as categoricals rebuilt from
text, local times), then reduces it to counts. :func:`tally_chunk` gets the two sides'
decisions the same way (the same ``_side``: the rule sets' :meth:`~RuleSet.decide_all`, the
log's decisions, or given decisions) and counts straight from their codes with numpy: calls per
target name and per (name, UTC hour), rule hits, defaults. Only the changed calls get a
per-call table, built column for column as ``compare`` builds it, and written out.

The two give equal partials and equal changed-call files (a hypothesis test ties them), so the
streamed results stay those of ``compare`` on all the calls at once.

:func:`columns_needed` says which columns of the calls the comparison reads, so a dataset can be
read lean (:func:`~dialpad_nb.calls.dataset_scan.scan_source`).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..core.models import TARGET_TYPES
from .comparison import (
    _MS_PER_HOUR,
    _hits_table,
    _labels,
    _local_times,
    _rule_hits,
    _side,
    _timezone_notes,
    target_names,
)
from .conditions import CALL_FIELDS, TIME_FIELDS
from .matrix import MatrixRule
from .ruleset import RuleSet
from .streamed import _SIDES, Partial, _write_changes

__all__ = ["CODED_COLUMNS", "columns_needed", "tally_chunk"]

CODED_COLUMNS: tuple[str, ...] = (*CALL_FIELDS, "logged_target_type", "logged_rule")
"""Text columns with few distinct values (or read once per distinct value): read coded."""
_TYPES = pd.Index(list(TARGET_TYPES))
_BINCOUNT_MAX = 1 << 24  # (targets x hours) cells counted with np.bincount; more: np.unique


def columns_needed(candidate: Any, baseline: Any) -> list[str] | None:
    """The calls columns a comparison of ``candidate`` with ``baseline`` reads, or None when it
    may read any (a Python rule gets the whole call; decisions given as a frame)."""
    cols = ["call_id", "date_started"]
    for side in (candidate, baseline):
        if isinstance(side, str):
            cols += ["logged_target_id", "logged_target_type", "logged_rule"]
            continue
        if not isinstance(side, RuleSet) or not all(isinstance(r, MatrixRule) for r in side.rules):
            return None
        for field in sorted(side.fields):
            if field in CALL_FIELDS or field == "date_started":
                cols.append(field)
            elif side.enrichment is not None and field.startswith(side.enrichment.prefix):
                cols.append("external_number")  # the enrichment is joined on the caller's number
            elif field not in TIME_FIELDS:
                return None  # a column the calls may carry: read them whole, prepare() decides
    return list(dict.fromkeys(cols))


def tally_chunk(
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
    """The :class:`Partial` of :func:`~dialpad_nb.rules.streamed.partial_of` for the same
    arguments, counted from the decisions' codes (its changed calls written to
    ``changes_to/part-NNNNN.parquet``, the same file)."""
    names = target_names(directory, candidate, baseline)
    cand = _side(candidate, calls, label="candidate")
    if default is None and cand.default is not None:
        default = cand.default
    base = _side(baseline, calls, label="baseline", default=default, default_rule=cand.default_rule)
    tz = timezone or cand.timezone or "UTC"
    notes = _timezone_notes(cand, base)
    _local_times(calls["date_started"].iloc[:0], tz)  # an unknown timezone fails as compare fails

    n = len(calls)
    sides = {}
    for side, frame in (("before", base.decisions), ("after", cand.decisions)):
        ids = frame["target_id"].astype("Int64")
        types = _type_codes(frame["target_type"])
        label = _labels(ids, pd.Series(pd.Categorical.from_codes(types, categories=_TYPES)), names)
        sides[side] = (ids, types, label)
    before_ids, before_types, _ = sides["before"]
    after_ids, after_types, _ = sides["after"]
    has_base = before_ids.notna().to_numpy()
    same = (
        before_ids.to_numpy(dtype=np.int64, na_value=0) == after_ids.to_numpy(dtype=np.int64, na_value=0)
    ) & (before_types == after_types)
    changed = has_base & ~same

    out = Partial()
    out.calls, out.with_baseline, out.changed = n, int(has_base.sum()), int(changed.sum())
    before_default = pd.Series(base.decisions["is_default"].astype("boolean").array[has_base])
    out.before_default = int(before_default.fillna(False).astype(bool).sum())
    out.before_default_unknown = bool(before_default.isna().any())
    after_default = pd.Series(cand.decisions["is_default"].astype("boolean").to_numpy(), dtype="boolean")
    out.after_default = int(after_default.astype(bool).sum())

    ms = calls["date_started"].astype("datetime64[ms, UTC]").astype("int64").to_numpy()
    hours = ms // _MS_PER_HOUR
    for side in _SIDES:
        _, types, label = sides[side]
        codes = np.asarray(label.codes, dtype=np.int64)
        cats = label.categories
        ok = codes >= 0
        sizes = np.bincount(codes[ok], minlength=len(cats))
        out.labels[side] = {str(c): int(k) for c, k in zip(cats, sizes.tolist(), strict=True)}
        if len(cats):  # each name's target type: the type of its first call
            firsts = np.full(len(cats), n, dtype=np.int64)
            np.minimum.at(firsts, codes[ok], np.flatnonzero(ok))
            for c, first in zip(cats, firsts.tolist(), strict=True):
                out.types.setdefault(str(c), TARGET_TYPES[types[first]])
        out.hours[side] = _hour_counter(codes[ok], hours[ok], cats)

    out.hits = _hits(cand.decisions["rule"], cand.rule_names)
    if base.rule_names is not None or base.decisions["rule"].notna().any():
        out.base_hits_shown = True
        out.base_hits = _hits(base.decisions["rule"], base.rule_names)
    out.meta = {
        "baseline": base.name,
        "candidate": cand.name,
        "timezone": tz,
        "notes": notes,
        "rule_order": getattr(candidate, "rule_names", None) if isinstance(candidate, RuleSet) else None,
        "base_rule_order": getattr(baseline, "rule_names", None) if isinstance(baseline, RuleSet) else None,
    }
    if changes_to is not None:
        rows = np.flatnonzero(changed)
        out.changes_written = len(rows)
        _write_changes(_changes(calls, rows, tz, sides, base, cand), Path(changes_to), part)
    return out


def _type_codes(types: pd.Series) -> np.ndarray:
    """Codes into TARGET_TYPES, as compare reads a target type column (anything else: -1)."""
    dtype = types.dtype
    if isinstance(dtype, pd.CategoricalDtype) and list(dtype.categories) == list(TARGET_TYPES):
        return np.asarray(types.cat.codes, dtype=np.int64)
    return np.asarray(pd.Categorical(types.astype(object), categories=_TYPES).codes, dtype=np.int64)


def _hour_counter(codes: np.ndarray, hours: np.ndarray, cats: pd.Index) -> Counter:
    """Calls per (target name, UTC hour since the epoch), as compare's ``_hour_counts``."""
    if not len(codes):
        return Counter()
    h0 = int(hours.min())
    span = int(hours.max()) - h0 + 1
    keys = codes * span + (hours - h0)
    if len(cats) * span <= _BINCOUNT_MAX:
        counts = np.bincount(keys, minlength=len(cats) * span)
        keys = np.flatnonzero(counts)
        counts = counts[keys]
    else:
        keys, counts = np.unique(keys, return_counts=True)
    text = np.asarray(cats.astype(str), dtype=object)[keys // span]
    pairs = zip(text.tolist(), (keys % span + h0).tolist(), strict=True)
    return Counter(dict(zip(pairs, counts.tolist(), strict=True)))


def _hits(rule: pd.Series, order: list[str] | None) -> dict[str, int]:
    """Calls per rule as ``compare``'s rule-hits table holds them (every rule of ``order``)."""
    if isinstance(rule.dtype, pd.CategoricalDtype):
        codes = np.asarray(rule.cat.codes, dtype=np.int64)
        sizes = np.bincount(codes[codes >= 0], minlength=len(rule.cat.categories))
        counts = {c: k for c, k in zip(rule.cat.categories, sizes.tolist(), strict=True) if k}
        table = _hits_table(counts, order)
    else:
        table = _rule_hits(rule, order)
    return dict(zip(table["rule"], table["calls"].tolist(), strict=True))


def _changes(
    calls: pd.DataFrame, rows: np.ndarray, tz: str, sides: dict[str, Any], base: Any, cand: Any
) -> pd.DataFrame:
    """The changed calls' rows of compare's per-call table, the same columns in the same order."""
    out = calls[["call_id", "date_started"]].iloc[rows].copy()
    out["date_started_local"] = _local_times(out["date_started"], tz)
    for side, decided in (("before", base.decisions), ("after", cand.decisions)):
        ids, types, label = sides[side]
        out[f"{side}_target_id"] = ids.to_numpy()[rows]
        out[f"{side}_target_type"] = pd.Categorical.from_codes(types[rows], categories=_TYPES)
        out[f"{side}_name"] = label[rows]
        out[f"{side}_rule"] = decided["rule"].iloc[rows].astype(object).astype("string").array
        out[f"{side}_default"] = decided["is_default"].astype("boolean").to_numpy()[rows]
    out["has_baseline"] = np.ones(len(rows), dtype=bool)
    out["changed"] = np.ones(len(rows), dtype=bool)
    return out
