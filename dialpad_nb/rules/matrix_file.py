"""A routing matrix file (and a CRM export) as a live endpoint serves it: loaded, checked and
reloaded whole.

::

    source = MatrixSource("routing.csv", timezone="America/Los_Angeles", crm="crm.csv")
    app = routing_endpoint(source, secret=SECRET, log_path="endpoint.jsonl")   # the endpoint kit

:meth:`MatrixSource.load` reads the files' bytes once, checks that they did not change while
being read, and builds the same :class:`~dialpad_nb.rules.ruleset.RuleSet` replay uses
(``load_matrix(...).with_enrichment(...)``), so the endpoint decides exactly as replay does.
A bad matrix raises :class:`~dialpad_nb.rules.matrix.MatrixError` naming every row and column
at fault; the endpoint then refuses to start, or (on a reload) keeps serving the rules it has.

For ``--watch`` the endpoint loads with ``complete=True``: a file must also end with a line
break (a file cut mid-line is still being written), on top of being unchanged between the
endpoint's polls (:meth:`signature`) and while read.
"""

from __future__ import annotations

import hashlib
import io
import os
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ..core.errors import SourceChanging, SourceNotFound, ValidationError
from ..core.models import RoutingDecision
from .enrich import Enrichment
from .matrix import MatrixError, MatrixProblem
from .ruleset import RuleDecision, RuleSet

__all__ = ["LoadedMatrix", "MatrixSource"]

Signature = tuple[tuple[int, int, int] | None, ...]
"""Per file (matrix, then CRM): ``(inode, size, mtime_ns)``, or None when it does not exist."""


@dataclass(frozen=True)
class LoadedMatrix:
    """One load of a :class:`MatrixSource`: the rule set and what identifies it."""

    ruleset: RuleSet
    fallback: RoutingDecision
    """Answered when the rules are too slow or fail: ``fallback=`` if given, else the matrix's default."""
    name: str
    sha256: str
    """Of the bytes loaded (matrix, and CRM when given): the same file content, the same digest."""
    signature: Signature
    warnings: tuple[str, ...] = field(default=())
    """Shadowed rows and other warnings the load raised (the rules load all the same)."""

    def decide(self, request: Any) -> RuleDecision:
        return self.ruleset.decide(request)

    @property
    def rule_names(self) -> tuple[str, ...]:
        return tuple(self.ruleset.rule_names)

    def check_targets(self, directory: Iterable[Any]) -> None:
        """:meth:`RuleSet.check_targets`: every row whose target ``directory`` lacks, named."""
        self.ruleset.check_targets(directory)


class MatrixSource:
    """A matrix CSV (``timezone`` for its hours/days rules; ``crm`` a contact export joined on the
    caller; ``directory`` entries its targets must be in) that the endpoint loads and reloads."""

    def __init__(
        self,
        matrix: str | os.PathLike,
        *,
        timezone: str | None,
        crm: str | os.PathLike | None = None,
        directory: Iterable[Any] | None = None,
        fallback: RoutingDecision | tuple | Mapping | None = None,
        name: str | None = None,
    ) -> None:
        self.matrix = Path(matrix)
        self.crm = Path(crm) if crm is not None else None
        self.timezone = timezone
        self.directory = list(directory) if directory is not None else None
        self.fallback = fallback
        self.name = name or self.matrix.stem

    @property
    def files(self) -> tuple[Path, ...]:
        return (self.matrix,) if self.crm is None else (self.matrix, self.crm)

    def signature(self) -> Signature:
        """What the files look like on disk now (cheap: ``stat`` only)."""
        return tuple(_stat(p) for p in self.files)

    def load(self, *, expect: Signature | None = None, complete: bool = False) -> LoadedMatrix:
        """Read and check the files; the rule set, or an error naming what is wrong.

        ``expect``: the signature the caller saw settle (:class:`SourceChanging` when the files
        differ from it); ``complete``: refuse files that do not end with a line break.
        Raises :class:`SourceNotFound` (a file is missing), :class:`SourceChanging` (a file
        changed while being read), :class:`MatrixError` (the matrix is invalid, every problem
        named) or :class:`ValidationError` (the CRM export cannot be used)."""
        before = self.signature()
        for path, sig in zip(self.files, before, strict=True):
            if sig is None:
                raise SourceNotFound(f"{_what(path, self)}: no such file {os.fspath(path)!r}")
        if expect is not None and before != expect:
            raise SourceChanging(f"{self.matrix.name} changed again before it could be read")
        blobs = [_read(p, self) for p in self.files]
        if self.signature() != before or any(
            len(b) != s[1] for b, s in zip(blobs, before, strict=True) if s is not None
        ):
            raise SourceChanging(f"{self.matrix.name} changed while it was being read")
        if complete:
            for path, blob in zip(self.files, blobs, strict=True):
                if not blob.endswith(b"\n"):
                    raise ValidationError(
                        "does not end with a line break: it may still be being written "
                        "(save it with a final newline, or send SIGHUP to load it as it is)",
                        field=_what(path, self),
                    )
        digest = hashlib.sha256()
        for blob in blobs:
            digest.update(hashlib.sha256(blob).digest())
        try:
            text = blobs[0].decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise MatrixError(
                [MatrixProblem(None, None, f"not UTF-8 text (byte {exc.start}): save the CSV as UTF-8")]
            ) from None
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ruleset = RuleSet.from_text(
                text, timezone=self.timezone, directory=self.directory, name=self.name
            )
            if self.crm is not None:
                ruleset = ruleset.with_enrichment(_enrichment(blobs[1], self.crm))
        fallback = self.fallback
        if fallback is None:
            fallback = RoutingDecision(ruleset.default.target_id, ruleset.default.target_type)
        return LoadedMatrix(
            ruleset=ruleset,
            fallback=fallback if isinstance(fallback, RoutingDecision) else _decision(fallback),
            name=self.name,
            sha256=digest.hexdigest(),
            signature=before,
            warnings=tuple(str(w.message) for w in caught),
        )

    def __repr__(self) -> str:
        crm = f", crm={os.fspath(self.crm)!r}" if self.crm else ""
        return f"MatrixSource({os.fspath(self.matrix)!r}, timezone={self.timezone!r}{crm})"


def _what(path: Path, source: MatrixSource) -> str:
    return "crm" if source.crm is not None and path == source.crm else "matrix"


def _stat(path: Path) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def _read(path: Path, source: MatrixSource) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise SourceChanging(f"{path.name} disappeared while it was being read") from None
    except OSError as exc:
        raise ValidationError(
            f"cannot read {os.fspath(path)!r}: {exc.strerror}", field=_what(path, source)
        ) from None


def _enrichment(blob: bytes, path: Path) -> Enrichment:
    try:
        table = pd.read_csv(io.BytesIO(blob), dtype=str, keep_default_na=False, na_values=[""])
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ValidationError(
            f"{path.name} is not a readable CSV ({type(exc).__name__})", field="crm"
        ) from None
    return Enrichment(table)


def _decision(value: Any) -> RoutingDecision:
    from ..core.models import parse_id, validate_target_type

    if isinstance(value, Mapping):
        tid, ttype = value.get("target_id"), value.get("target_type")
    elif isinstance(value, (tuple, list)) and len(value) == 2:
        tid, ttype = value
    else:
        tid, ttype = (
            getattr(value, "target_id", getattr(value, "id", None)),
            getattr(value, "target_type", getattr(value, "type", None)),
        )
    return RoutingDecision(
        parse_id(tid, field="fallback.target_id"), validate_target_type(ttype, field="fallback.target_type")
    )
