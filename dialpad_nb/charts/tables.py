"""Tables shown to people: a DataFrame as a person reads it, never cut off.

:func:`show_table` returns a view that displays (HTML in Jupyter, text elsewhere) with:

* no raw ``NaN``/``NaT``/``<NA>``: an empty cell, or the words given in ``missing``
  (``{"first_disable": "not disabled"}``);
* times in one timezone, saying which (``2026-10-06 14:05:26 PDT``); epoch-millisecond
  columns (``at``, ``ts``, ``*_at``, ``*_at_ms``) shown as such times, never as 13-digit numbers;
* ``True``/``False`` as ``yes``/``no``; counts with thousands separators;
* headers and cells that wrap (underscores read as spaces), so a wide table fits the page
  instead of running off its right edge.

The frame itself is untouched (``view.frame``); ``view.text`` is the formatted one.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ..core.errors import ValidationError

__all__ = ["ShownTable", "show_table"]

_MS_NAMES = ("at", "ts")
_MS_SUFFIXES = ("_at", "_at_ms")
_STYLE = (
    "table.dpnb-table{border-collapse:collapse;font-size:12px;table-layout:auto;max-width:100%}"
    "table.dpnb-table th,table.dpnb-table td{padding:2px 6px;border-bottom:1px solid #ddd;"
    "text-align:left;vertical-align:top;white-space:normal;overflow-wrap:anywhere}"
    "table.dpnb-table caption{text-align:left;font-weight:bold;padding:2px 0}"
)


class ShownTable:
    """A DataFrame formatted for people (see the module docstring); displays itself."""

    def __init__(self, frame: pd.DataFrame, text: pd.DataFrame, caption: str | None) -> None:
        self.frame = frame
        """The data as given."""
        self.text = text
        """Every cell as shown (strings)."""
        self.caption = caption
        self.show_index = not isinstance(frame.index, pd.RangeIndex)
        """A plain row number says nothing; any other index (router_id, policy, hour) is shown."""

    def __len__(self) -> int:
        return len(self.text)

    def __repr__(self) -> str:
        shown = self.text.rename(columns=lambda c: str(c).replace("_", " "))
        body = shown.to_string(index=self.show_index)
        return f"{self.caption}\n{body}" if self.caption else body

    def _repr_html_(self) -> str:
        index = self.show_index
        cols = [str(c) for c in self.text.columns]
        names = [n for n in self.text.index.names if n is not None] if index else []
        head = "".join(f"<th>{html.escape(n.replace('_', ' '))}</th>" for n in [*map(str, names), *cols])
        if index and not names:
            head = "<th></th>" + head
        rows = []
        for key, row in zip(self.text.index, self.text.itertuples(index=False, name=None), strict=True):
            keys = (key if isinstance(key, tuple) else (key,)) if index else ()
            cells = "".join(f"<th>{html.escape(str(k))}</th>" for k in keys)
            cells += "".join(f"<td>{html.escape(v)}</td>" for v in row)
            rows.append(f"<tr>{cells}</tr>")
        caption = f"<caption>{html.escape(self.caption)}</caption>" if self.caption else ""
        return (
            f"<style>{_STYLE}</style><table class='dpnb-table'>{caption}"
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
        )


def show_table(
    frame: pd.DataFrame,
    *,
    timezone: str | None = None,
    missing: Mapping[str, str] | None = None,
    caption: str | None = None,
) -> ShownTable:
    """``frame`` formatted for people (see the module docstring). ``timezone``: where times are
    shown (default UTC; every time says its zone). ``missing``: words for an empty cell, by column
    (default: an empty cell)."""
    if not isinstance(frame, pd.DataFrame):
        raise ValidationError(f"expected a DataFrame, got {type(frame).__name__}", field="frame")
    tz = timezone or "UTC"
    try:
        pd.Timestamp(0, tz=tz)
    except (KeyError, ValueError, TypeError) as exc:
        raise ValidationError(f"{tz!r} is not a known timezone ({exc})", field="timezone") from None
    words = dict(missing or {})
    unknown = sorted(set(words) - {str(c) for c in frame.columns})
    if unknown:
        raise ValidationError(f"no column(s) {', '.join(unknown)} in the table", field="missing")
    text = pd.DataFrame(index=frame.index)
    for col in frame.columns:
        text[col] = _column_text(frame[col], str(col), tz, words.get(str(col), ""))
    if not isinstance(frame.index, pd.RangeIndex):
        text.index = _index_text(frame.index, tz)
    return ShownTable(frame, text, caption)


def _column_text(values: pd.Series, name: str, tz: str, empty: str) -> list[str]:
    series = values
    if _is_epoch_ms(series, name):
        series = pd.to_datetime(series.astype("Float64"), unit="ms", utc=True)
    if isinstance(series.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_any_dtype(series.dtype):
        return [empty if pd.isna(v) else _time_text(v, tz) for v in series]
    if pd.api.types.is_timedelta64_dtype(series.dtype):
        return [empty if pd.isna(v) else str(v) for v in series]
    return [_cell_text(v, tz, empty) for v in series.astype(object)]


def _is_epoch_ms(series: pd.Series, name: str) -> bool:
    if not (name in _MS_NAMES or name.endswith(_MS_SUFFIXES)):
        return False
    return pd.api.types.is_integer_dtype(series.dtype) or pd.api.types.is_float_dtype(series.dtype)


def _time_text(value: Any, tz: str) -> str:
    stamp = pd.Timestamp(value)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp
    local = stamp.tz_convert(tz)
    seconds = "%S.%f" if local.microsecond else "%S"
    text = local.strftime(f"%Y-%m-%d %H:%M:{seconds}")
    return f"{text[:-3] if local.microsecond else text} {local.tzname() or tz}"


def _cell_text(value: Any, tz: str, empty: str) -> str:
    if value is None or value is pd.NA or value is pd.NaT:
        return empty
    if isinstance(value, float) and np.isnan(value):
        return empty
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, pd.Timestamp):
        return _time_text(value, tz)
    if isinstance(value, (int, np.integer)):
        return str(int(value)) if abs(int(value)) >= 10**12 else f"{int(value):,}"  # ids stay whole
    if isinstance(value, (float, np.floating)):
        return _number(float(value))
    return str(value)


def _number(value: float) -> str:
    """``5``, ``60``, ``1,966.8``, ``0.429``: as many digits as a person needs, no exponent."""
    if value.is_integer():
        return f"{value:,.0f}"
    if abs(value) >= 100:
        return f"{value:,.1f}"
    return f"{value:.3g}" if abs(value) >= 0.001 else f"{value:.2e}"


def _index_text(index: pd.Index, tz: str) -> pd.Index:
    if isinstance(index, pd.MultiIndex):
        return pd.MultiIndex.from_tuples(
            [tuple(_cell_text(v, tz, "") for v in key) for key in index], names=index.names
        )
    return pd.Index([_cell_text(v, tz, "") for v in index], name=index.name)
