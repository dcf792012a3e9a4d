"""The one rejects frame and the one read result, shared by every reader.

Every reader in the package (call logs, Dialpad's call history, the endpoint kit's log,
attempt logs in CSV, the sandbox's attempt records) returns a :class:`ReadResult`: the
accepted rows as a typed frame and every record it refused in a *rejects* frame of one
shape (:data:`REJECT_COLUMNS`)::

    source   string   the file (or "sandbox", "records", ...) the record came from
    line     int64    1-based line of a line file, or 1-based row of a table or list
                      (a CSV header is not counted)
    raw      string   the record's text as read (at most RAW_LIMIT characters, secrets scrubbed)
    reason   string   why it was refused, in words, naming the field
    kind     string   a short category for counting (bad JSON, bad record, bad number, ...)

accepted + rejected == records, always: nothing is dropped silently. The one exception is a
record that is not a row at all and not a fault either, such as an endpoint log's reload event:
it is *skipped*, and counted by kind in ``ReadResult.skipped`` (accepted + rejected + skipped ==
records).
"""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

__all__ = [
    "RAW_LIMIT",
    "REJECT_COLUMNS",
    "REJECT_DTYPES",
    "ReadResult",
    "empty_rejects",
    "rejects_frame",
]

REJECT_DTYPES: dict[str, str] = {
    "source": "string",
    "line": "int64",
    "raw": "string",
    "reason": "string",
    "kind": "string",
}
REJECT_COLUMNS: tuple[str, ...] = tuple(REJECT_DTYPES)
"""Columns of every rejects frame (see the module docstring)."""

RAW_LIMIT = 500
"""Longest raw text kept for a reject."""


def empty_rejects() -> pd.DataFrame:
    """A rejects frame with no rows."""
    return pd.DataFrame({c: pd.Series([], dtype=d) for c, d in REJECT_DTYPES.items()})


def rejects_frame(rows: Sequence[tuple[int, str, str, str]], source: str) -> pd.DataFrame:
    """A rejects frame from ``(line, raw, reason, kind)`` rows of one source."""
    if not rows:
        return empty_rejects()
    line, raw, reason, kind = zip(*rows, strict=True)
    return pd.DataFrame(
        {
            "source": pd.Series([source] * len(rows), dtype="string"),
            "line": pd.Series(line, dtype="int64"),
            "raw": pd.Series([r[:RAW_LIMIT] for r in raw], dtype="string"),
            "reason": pd.Series(reason, dtype="string"),
            "kind": pd.Series(kind, dtype="string"),
        }
    )


@dataclass(frozen=True)
class ReadResult:
    """What a reader accepted (``frame``) and refused (``rejects``); unpacks as a pair.

    ``what`` names the rows (``"calls"``, ``"attempts"``, ``"log records"``) in the
    one-line :attr:`summary`; ``calls`` and ``attempts`` are ``frame`` under the name a
    notebook reads best. ``files`` lists the sources read; ``records`` counts every
    record seen (accepted + rejected + skipped); ``skipped`` counts, by kind, the records that
    are neither rows nor faults (an endpoint log's ``reload`` events)."""

    frame: pd.DataFrame
    rejects: pd.DataFrame
    files: tuple[str, ...] = ()
    records: int = -1
    what: str = "calls"
    skipped: Mapping[str, int] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    """What the reader must say loudly (each a line of :attr:`summary`), e.g. signed records
    rejected because no secret was given."""

    def __post_init__(self) -> None:
        n_skipped = sum(self.skipped.values())
        if self.records < 0:
            object.__setattr__(self, "records", len(self.frame) + len(self.rejects) + n_skipped)
        if len(self.frame) + len(self.rejects) + n_skipped != self.records:  # pragma: no cover - invariant
            raise AssertionError("accepted + rejected + skipped != records")

    def __iter__(self) -> Iterator[pd.DataFrame]:
        return iter((self.frame, self.rejects))

    @property
    def calls(self) -> pd.DataFrame:
        return self.frame

    @property
    def attempts(self) -> pd.DataFrame:
        return self.frame

    @property
    def summary(self) -> str:
        nf = len(self.files)
        where = f" from {nf:,} file{'s' * (nf != 1)}" if nf else ""
        n, r = len(self.frame), len(self.rejects)
        what = self.what if n != 1 else _singular(self.what)
        text = (
            f"Read {self.records:,} record{'s' * (self.records != 1)}{where}: "
            f"{n:,} {what} accepted, {r:,} rejected"
        )
        if r:
            counts = Counter(self.rejects["kind"].astype(object))
            text += " (" + ", ".join(f"{c:,} {k}" for k, c in sorted(counts.items(), key=_by_count)) + ")"
        skipped = [(k, c) for k, c in sorted(self.skipped.items(), key=_by_count) if c]
        if skipped:
            text += "; " + ", ".join(f"{c:,} {k} event{'s' * (c != 1)}" for k, c in skipped)
            text += " skipped (not requests)"
        return "\n".join((text, *self.notes))

    def reject_counts(self) -> pd.DataFrame:
        """One row per kind of reject: ``kind``, ``count``, ``example`` (the first such reason),
        most frequent first -- what to show an analyst under the summary line."""
        if not len(self.rejects):
            return pd.DataFrame(
                {
                    "kind": pd.Series([], dtype="string"),
                    "count": pd.Series([], dtype="int64"),
                    "example": pd.Series([], dtype="string"),
                }
            )
        grouped = self.rejects.groupby("kind", sort=False)["reason"]
        out = pd.DataFrame({"count": grouped.size(), "example": grouped.first()}).reset_index()
        out = out.sort_values(["count", "kind"], ascending=[False, True], ignore_index=True)
        return out.astype({"kind": "string", "count": "int64", "example": "string"})

    def __repr__(self) -> str:
        return self.summary

    def _repr_html_(self) -> str:
        head, *notes = self.summary.split("\n")
        loud = "".join(f"<br><b style='color:#b42318'>⚠ {html.escape(n)}</b>" for n in notes)
        return f"<p>{html.escape(head)}{loud}</p>"

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(self.summary)


def _singular(what: str) -> str:
    return {"calls": "call", "attempts": "attempt", "log records": "log record"}.get(what, what)


def _by_count(item: tuple[str, int]) -> tuple[int, str]:
    return (-item[1], item[0])
