"""Enrichment: join a contact table (a CRM export) to calls on the caller's number.

>>> crm = Enrichment.from_frame(pd.DataFrame({"phone": ["(415) 555-0199"], "segment": ["enterprise"]}))
>>> crm.lookup("+14155550199")
{'crm.segment': 'enterprise'}

The contact table's phone column is normalised to E.164 (``normalize_e164``);
each other column becomes a field ``crm.<column>`` usable in matrix conditions.
Rows whose phone cannot be a number are kept in :attr:`Enrichment.invalid`;
when two rows normalise to the same number **the first wins**, the others are
kept in :attr:`Enrichment.duplicates` and a :class:`DuplicateContactWarning` says
how many. Calls whose caller is not in the table get missing values (``null``
in a matrix) and are counted in :class:`EnrichmentReport`.
"""

from __future__ import annotations

import html
import os
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..core._caller import caller_stacklevel
from ..core.errors import ValidationError
from ..core.models import is_missing, normalize_e164
from .matrix import ENRICHMENT_PREFIX

__all__ = ["DuplicateContactWarning", "Enrichment", "EnrichmentReport"]


class DuplicateContactWarning(UserWarning):
    """Several contact rows share one normalised phone number; the first was kept."""


@dataclass(frozen=True)
class EnrichmentReport:
    """How a join went: every call is either matched or unmatched."""

    calls: int
    matched: int
    unmatched: int
    contacts: int
    duplicates: int
    invalid_phones: int

    def __str__(self) -> str:
        return (
            f"{self.matched:,} of {self.calls:,} calls matched a contact ({self.unmatched:,} unmatched); "
            f"{self.contacts:,} contacts, {self.duplicates:,} duplicate and "
            f"{self.invalid_phones:,} unusable phone rows set aside"
        )

    def _repr_html_(self) -> str:
        return f"<p>{html.escape(str(self))}</p>"


class Enrichment:
    """A contact table keyed by normalised phone number; fields named ``<prefix><column>``."""

    def __init__(
        self,
        table: pd.DataFrame,
        *,
        key: str = "phone",
        prefix: str = ENRICHMENT_PREFIX,
        default_country_code: str = "1",
        warn: bool = True,
    ) -> None:
        if key not in table.columns:
            raise ValidationError(
                f"the contact table has no {key!r} column (columns: {', '.join(map(str, table.columns))})",
                field="key",
            )
        if not prefix.endswith("."):
            raise ValidationError("must end with '.' (e.g. 'crm.')", field="prefix")
        self.key = key
        self.prefix = prefix
        phones = table[key].map(lambda v: normalize_e164(v, default_country_code=default_country_code))
        ok = phones.notna()
        self.invalid: pd.DataFrame = table.loc[~ok].copy()
        """Contact rows whose phone cannot be normalised (not used)."""
        valid = table.loc[ok].copy()
        valid.insert(0, "e164", phones[ok].astype(object))
        dup = valid["e164"].duplicated(keep="first")
        self.duplicates: pd.DataFrame = valid.loc[dup].copy()
        """Contact rows dropped because an earlier row has the same number."""
        if warn and len(self.duplicates):
            examples = ", ".join(self.duplicates["e164"].drop_duplicates().head(3))
            warnings.warn(
                f"{len(self.duplicates)} contact rows repeat an earlier phone number (e.g. {examples});"
                " the first row for each number is used",
                DuplicateContactWarning,
                stacklevel=caller_stacklevel(),
            )
        kept = valid.loc[~dup].drop(columns=[key]).set_index("e164")
        self.table: pd.DataFrame = kept.rename(columns={c: f"{prefix}{c}" for c in kept.columns})
        """The contacts used, indexed by E.164 number, one column per field."""
        self.fields: tuple[str, ...] = tuple(self.table.columns)
        self._records: dict[str, dict[str, Any]] = {
            number: {f: _text(v) for f, v in zip(self.fields, values, strict=True)}
            for number, values in zip(
                self.table.index, self.table.itertuples(index=False, name=None), strict=True
            )
        }
        self._empty = dict.fromkeys(self.fields)
        self._memo: dict[str, int] = {}
        self._position = {number: i for i, number in enumerate(self.table.index)}

    # ------------------------------------------------------------------ constructors

    @classmethod
    def from_frame(cls, table: pd.DataFrame, **kw: Any) -> Enrichment:
        return cls(table, **kw)

    @classmethod
    def from_csv(cls, path: str | os.PathLike, **kw: Any) -> Enrichment:
        """Read a CSV export; every column is text (phone numbers keep their formatting)."""
        table = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
        return cls(table, **kw)

    # ------------------------------------------------------------------ use

    def lookup(self, number: Any) -> dict[str, Any]:
        """The contact fields for one caller number (missing values are None)."""
        e164 = normalize_e164(number)
        return dict(self._records.get(e164, self._empty)) if e164 else dict(self._empty)

    def join(
        self, calls: pd.DataFrame, *, on: str = "external_number"
    ) -> tuple[pd.DataFrame, EnrichmentReport]:
        """``calls`` plus one categorical column per contact field, and the match report.

        Vectorised: the caller numbers are factorised, each distinct number is
        looked up once, and the result is broadcast with numpy."""
        if on not in calls.columns:
            raise ValidationError(f"the calls have no {on!r} column", field="on")
        numbers = calls[on]
        if isinstance(numbers.dtype, pd.CategoricalDtype):  # coded already (a lean dataset read)
            codes, uniques = numbers.cat.codes.to_numpy(), numbers.cat.categories
        else:
            codes, uniques = pd.factorize(numbers, use_na_sentinel=True)
        per_unique = np.append(self._rows_of(uniques), -1)
        contact_row = per_unique[np.asarray(codes, dtype=np.int64)]
        out = calls.copy(deep=False)  # copy-on-write: the caller's frame is never changed
        for name in self.fields:
            column = self.table[name]
            fcodes, funiques = pd.factorize(column, use_na_sentinel=True)
            fcodes = np.append(np.asarray(fcodes, dtype=np.int64), -1)
            out[name] = pd.Categorical.from_codes(
                fcodes[contact_row], categories=pd.Index(funiques, dtype=object)
            )
        matched = int((contact_row >= 0).sum())
        report = EnrichmentReport(
            calls=len(calls),
            matched=matched,
            unmatched=len(calls) - matched,
            contacts=len(self.table),
            duplicates=len(self.duplicates),
            invalid_phones=len(self.invalid),
        )
        return out, report

    def _rows_of(self, numbers: Any) -> np.ndarray:
        """The contact table's row for each caller number (-1: none). A text number is normalised
        once per Enrichment: a replay chunk by chunk meets the same callers again."""
        memo = self._memo
        if len(memo) > 1_000_000:  # bounded: a stream of ever new numbers does not grow it forever
            memo.clear()
        rows = np.empty(len(numbers), dtype=np.int64)
        for i, number in enumerate(numbers):
            row = memo.get(number) if isinstance(number, str) else None
            if row is None:
                row = self._position.get(normalize_e164(number), -1)
                if isinstance(number, str):
                    memo[number] = row
            rows[i] = row
        return rows

    def __len__(self) -> int:
        return len(self.table)

    def __repr__(self) -> str:
        return (
            f"Enrichment({len(self.table)} contacts, fields={list(self.fields)}, "
            f"duplicates={len(self.duplicates)}, invalid={len(self.invalid)})"
        )


def _text(value: Any) -> str | None:
    """A contact field as text (a CSV export may hold numbers), or None when missing."""
    if is_missing(value):
        return None
    return value if isinstance(value, str) else str(value)
