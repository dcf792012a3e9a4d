"""A dataset's calls read lean: only the columns an analysis needs, text of few values kept coded.

::

    for entry in dataset_parts("calls.ds", start=..., end=...):
        frame, unreadable = scan_source(entry, ["date_started", "call_id", "internal_number"],
                                        coded=["internal_number"])

:func:`~dialpad_nb.calls.dataset.read_source` gives a full ``calls`` frame (every column, the
contract's dtypes). A replay over a year needs a few columns, and its text columns (numbers
dialled, contact types, the caller's number) repeat a few thousand values over millions of
calls: reading those as Parquet dictionaries (pandas categoricals) skips building one Python
string per call, and the rules test each distinct value once anyway
(:class:`~dialpad_nb.rules.conditions.FrameContext` uses a categorical's codes as they are).

The rows are those :func:`read_source` gives (the same filters, the same line order); the
columns not coded have the contract's dtypes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..core.errors import ValidationError
from .columns import CALL_DTYPES
from .dataset import calls_schema, filter_table, table_to_frame

__all__ = ["scan_source"]


def scan_source(
    entry: tuple[str, list[str], str],
    columns: Sequence[str],
    *,
    coded: Iterable[str] = (),
    lo: int | None = None,
    hi: int | None = None,
    router_id: int | None = None,
) -> tuple[pd.DataFrame, list[str]]:
    """One ingested source (an item of :func:`~dialpad_nb.calls.dataset.dataset_parts`): its
    calls with ``lo <= date_started < hi`` (epoch ms) of ``router_id``, in line order, with only
    ``columns`` (``line`` is always there); the text columns in ``coded`` as categoricals.

    Returns the frame and the parts that could not be read (none of their rows is in the frame)."""
    unknown = [c for c in columns if c not in CALL_DTYPES]
    if unknown:
        raise ValidationError(f"not a column of the calls: {', '.join(unknown)}", field="columns")
    coded = set(coded)
    wanted = list(dict.fromkeys([*columns, "line"]))
    read = list(dict.fromkeys([*wanted, "date_started", *(["router_id"] if router_id is not None else [])]))
    full = calls_schema()
    schema = pa.schema(
        [
            pa.field(c, pa.dictionary(pa.int32(), pa.string()))
            if c in coded and full.field(c).type == pa.string()
            else full.field(c)
            for c in read
        ]
    )
    tables, unreadable = [], []
    for part in entry[1]:
        try:
            tables.append(pq.read_table(part, columns=read, schema=schema))
        except (pa.ArrowException, OSError):
            unreadable.append(part)
    table = filter_table(tables, lo, hi, router_id)
    if table is None:
        table = schema.empty_table()
    return table_to_frame(table.select(wanted)), unreadable
