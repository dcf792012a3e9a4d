"""The ``calls`` and ``rejects`` frames: their columns, dtypes, and how typed frames are built.

:data:`CALL_COLUMNS`/:data:`CALL_DTYPES` are the contract everything downstream of
``read_calls`` (rules, replay, charts, probe) relies on. :class:`Part` collects one
chunk's accepted rows (scalars from the per-line path, arrays from the vectorised
path) and rejects; :func:`calls_frame` / :func:`rejects_frame` type them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "CALL_COLUMNS",
    "CALL_DTYPES",
    "PAYLOAD_FIELDS",
    "Part",
    "calls_frame",
    "empty_calls",
]

PAYLOAD_FIELDS: tuple[str, ...] = (
    "date_started",
    "call_id",
    "external_number",
    "internal_number",
    "contact_id",
    "contact_type",
)
"""The routing request's fields, in Dialpad's order."""

CALL_DTYPES: dict[str, str] = {
    "date_started": "datetime64[ms, UTC]",
    "call_id": "int64",
    "external_number": "string",
    "internal_number": "string",
    "contact_id": "string",
    "contact_type": "string",
    "logged_target_id": "Int64",
    "logged_target_type": "string",
    "logged_rule": "string",
    "signed": "boolean",
    "router_id": "Int64",
    "request_note": "string",
    "source": "string",
    "line": "int64",
}
"""Column -> pandas dtype of the ``calls`` frame (the contract replay builds on).

``router_id`` and ``request_note`` come from Dialpad's call history (empty for logs): the
router the call came in through, and why the request was not read as sent (it was rebuilt
from the call's fields when the call has no routing breadcrumb). ``signed`` is empty when
unknown (call history records the request's claims, not how it travelled)."""

CALL_COLUMNS: tuple[str, ...] = tuple(CALL_DTYPES)


def empty_calls() -> pd.DataFrame:
    """A ``calls`` frame with no rows and the contract's columns and dtypes."""
    return pd.DataFrame({c: pd.Series([], dtype=d) for c, d in CALL_DTYPES.items()})


@dataclass
class Part:
    """Accepted rows and rejects of one chunk, column lists/arrays before typing."""

    cols: dict[str, list] = field(default_factory=lambda: {c: [] for c in CALL_COLUMNS})
    rejects: list[tuple[int, str, str, str]] = field(default_factory=list)  # line, raw, reason, kind
    reject_blocks: list[tuple[Any, Any, Any, str]] = field(default_factory=list)
    """Many rejects at once: (lines ndarray, raw string array, reason string array, kind)."""
    skipped: dict[str, int] = field(default_factory=dict)
    """Records that are neither calls nor rejects (endpoint log events), by event kind."""


def _to_pandas_str(parts: list) -> pd.Series:
    arrays = [p if isinstance(p, (pa.Array, pa.ChunkedArray)) else pa.array(p, pa.string()) for p in parts]
    chunks: list[pa.Array] = []
    for a in arrays:
        if isinstance(a, pa.ChunkedArray):
            chunks += a.chunks
        else:
            chunks.append(a.cast(pa.string()) if not pa.types.is_string(a.type) else a)
    arr = pa.chunked_array(chunks, type=pa.string()) if chunks else pa.chunked_array([], type=pa.string())
    return pd.Series(pd.arrays.ArrowStringArray(arr))


def _repeat_str(value: str, n: int) -> pd.Series:
    return pd.Series(pd.arrays.ArrowStringArray(pa.chunked_array([pa.repeat(pa.scalar(value), n)])))


def _to_pandas_int(parts: list) -> pd.Series:
    arrays = [p if isinstance(p, (pa.Array, pa.ChunkedArray)) else pa.array(p, pa.int64()) for p in parts]
    chunks: list[pa.Array] = []
    for a in arrays:
        chunks += a.chunks if isinstance(a, pa.ChunkedArray) else [a]
    arr = pa.chunked_array([c.cast(pa.int64()) for c in chunks], type=pa.int64()).combine_chunks()
    values = pc.fill_null(arr, 0).to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
    mask = np.asarray(arr.is_null(), dtype=bool)
    return pd.Series(pd.arrays.IntegerArray(values, mask))


def _to_pandas_bool(parts: list) -> pd.Series:
    unknown = any(
        (isinstance(p, list) and None in p) or (isinstance(p, np.ndarray) and p.dtype == object)
        for p in parts
    )
    if unknown:  # missing values (call history does not say how a request travelled)
        values = [v for p in parts for v in (p if isinstance(p, list) else np.asarray(p).tolist())]
        return pd.Series(pd.array(values, dtype="boolean"))
    return pd.Series(_concat_np(parts, bool), dtype="boolean")


def _missing(n: int, dtype: str) -> pd.Series:
    if dtype == "Int64":
        return pd.Series(pd.arrays.IntegerArray(np.zeros(n, np.int64), np.ones(n, dtype=bool)))
    return pd.Series(pd.arrays.ArrowStringArray(pa.chunked_array([pa.nulls(n, pa.string())])))


def _concat_np(parts: list, dtype: Any) -> np.ndarray:
    if not parts:
        return np.empty(0, dtype=dtype)
    return np.concatenate([np.asarray(p, dtype=dtype) for p in parts])


def calls_frame(cols: dict[str, list], source: str) -> pd.DataFrame:
    """Type the accumulated columns. Each column holds either scalars (reference path) or
    arrays (vectorised path); normalise to lists of arrays first."""

    def groups(name: str) -> list:
        out: list = []
        scalars: list = []
        for item in cols[name]:
            if isinstance(item, (np.ndarray, pa.Array, pa.ChunkedArray)):
                if scalars:
                    out.append(scalars)
                    scalars = []
                out.append(item)
            else:
                scalars.append(item)
        if scalars:
            out.append(scalars)
        return out

    lines = _concat_np(groups("line"), np.int64)
    n = len(lines)
    if n == 0:
        return empty_calls()
    ds = _concat_np(groups("date_started"), np.int64)
    data = {
        "date_started": pd.Series(ds.astype("datetime64[ms]")).dt.tz_localize("UTC"),
        "call_id": pd.Series(_concat_np(groups("call_id"), np.int64)),
        "external_number": _to_pandas_str(groups("external_number")),
        "internal_number": _to_pandas_str(groups("internal_number")),
        "contact_id": _to_pandas_str(groups("contact_id")),
        "contact_type": _to_pandas_str(groups("contact_type")),
        "logged_target_id": _to_pandas_int(groups("logged_target_id")),
        "logged_target_type": _to_pandas_str(groups("logged_target_type")),
        "logged_rule": _to_pandas_str(groups("logged_rule")),
        "signed": _to_pandas_bool(groups("signed")),
        "router_id": _to_pandas_int(groups("router_id")) if cols["router_id"] else _missing(n, "Int64"),
        "request_note": _to_pandas_str(groups("request_note"))
        if cols["request_note"]
        else _missing(n, "string"),
        "source": _repeat_str(source, n),
        "line": pd.Series(lines),
    }
    frame = pd.DataFrame(data)
    if not (np.diff(lines) > 0).all():
        frame = frame.sort_values("line", kind="stable", ignore_index=True)
    return frame
