"""Rule sets: an ordered list of matrix rows and Python rules, a default, optional enrichment.

Two ways to evaluate, always giving the same answer (property-tested):

* :meth:`RuleSet.decide_all` — a whole calls DataFrame, vectorised. Each matrix
  rule becomes a boolean mask (conditions are tested once per distinct value and
  broadcast with numpy); the first matching rule wins via a running "undecided"
  mask. **Python rules** are applied row by row, but only to the calls still
  undecided when their turn comes, so first-match order is kept.
* :meth:`RuleSet.decide` — one call, what an endpoint does per request. ``RuleSet`` plugs straight into the endpoint kit:
  ``decide(request)`` returns a :class:`RuleDecision` (a ``RoutingDecision``
  that also carries ``rule`` and ``is_default``).

A Python rule is any function ``call -> (target_id, target_type) | None``
(also a ``RoutingDecision`` or ``{"target_id", "target_type"}``). ``call`` is a
dict of the call's fields: ``date_started`` (UTC ``pd.Timestamp``), ``call_id``,
``external_number``, ``internal_number``, ``contact_id``, ``contact_type`` and the
enrichment fields (``crm.segment`` ...); missing values are ``None``. In a
replay the dict also holds the log's other columns; rely only on those listed.
"""

from __future__ import annotations

import html
import io
import os
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..core._caller import caller_stacklevel
from ..core.errors import ValidationError
from ..core.models import TARGET_TYPES, RoutingDecision, RoutingRequest, is_missing, parse_routing_answer
from ..core.wording import plural
from .conditions import CALL_FIELDS, TIME_FIELDS, FrameContext
from .enrich import Enrichment
from .matrix import (
    MatrixError,
    MatrixProblem,
    MatrixRule,
    MatrixWarning,
    _explicit_default,
    directory_index,
    parse_matrix,
    shadow_warnings,
)

__all__ = [
    "ImplicitUTCWarning",
    "PythonRule",
    "RuleDecision",
    "RuleSet",
    "TimezoneMismatchWarning",
    "load_matrix",
]

_TYPE_CODE = {t: i for i, t in enumerate(TARGET_TYPES)}


@dataclass(frozen=True)
class RuleDecision(RoutingDecision):
    """A routing decision plus the rule that made it."""

    rule: str = ""
    is_default: bool = False


@dataclass(frozen=True)
class PythonRule:
    """A rule the matrix can't express: ``func(call) -> (target_id, target_type) | None``."""

    name: str
    func: Callable[[dict[str, Any]], Any]

    def apply(self, call: dict[str, Any]) -> tuple[int, str] | None:
        result = self.func(call)
        if result is None:
            return None
        try:
            if isinstance(result, RoutingDecision):
                decision = parse_routing_answer(result.to_json())
            elif isinstance(result, Mapping):
                decision = parse_routing_answer(result)
            else:
                target_id, target_type = result
                decision = parse_routing_answer({"target_id": target_id, "target_type": target_type})
        except (TypeError, ValueError) as exc:
            raise ValidationError(
                f"python rule {self.name!r} returned {result!r} for call {call.get('call_id')!r}: {exc}",
                field=self.name,
            ) from None
        return decision.target_id, decision.target_type


Rule = MatrixRule | PythonRule


class RuleSet:
    """Ordered rules (first match wins) and a default; see the module docstring."""

    def __init__(
        self,
        rules: Sequence[Rule | Callable[[dict[str, Any]], Any]],
        default: Any,
        *,
        timezone: str = "UTC",
        enrichment: Enrichment | None = None,
        name: str = "rules",
        warnings: Sequence[MatrixWarning] | None = None,
        target_names: Mapping[tuple[int, str], str] | None = None,
        implicit_utc: bool = False,
    ) -> None:
        normalised: list[Rule] = []
        for rule in rules:
            if isinstance(rule, (MatrixRule, PythonRule)):
                normalised.append(rule)
            elif callable(rule):
                normalised.append(PythonRule(getattr(rule, "__name__", "python rule"), rule))
            else:
                raise ValidationError(f"{rule!r} is neither a matrix rule nor a function", field="rules")
        self.rules: tuple[Rule, ...] = tuple(normalised)
        self.default: MatrixRule = _explicit_default(default)
        names = [r.name for r in self.rules] + [self.default.name]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValidationError(f"rule names must be unique; repeated: {', '.join(dup)}", field="rules")
        self.timezone = timezone
        self.implicit_utc = implicit_utc
        """True when hours/days rules are read in UTC only because no timezone was given
        (see :class:`ImplicitUTCWarning`): a result of this rule set should say so."""
        self.enrichment = enrichment
        self.name = name
        self.target_names: dict[tuple[int, str], str] | None = (
            dict(target_names) if target_names is not None else None
        )
        """``{(target_id, target_type): name}`` from the directory the matrix was checked against
        (None when it was loaded without one): names the targets in :meth:`to_frame` and the repr."""
        self.warnings: tuple[MatrixWarning, ...] = tuple(
            shadow_warnings([r for r in self.rules if isinstance(r, MatrixRule)], self.default)
            if warnings is None
            else warnings
        )
        self._names = np.array(names, dtype=object)
        self._ids = np.array(
            [r.target_id if isinstance(r, MatrixRule) else 0 for r in self.rules] + [self.default.target_id],
            dtype=np.int64,
        )
        self._types = np.array(
            [_TYPE_CODE[r.target_type] if isinstance(r, MatrixRule) else -1 for r in self.rules]
            + [_TYPE_CODE[self.default.target_type]],
            dtype=np.int64,
        )

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        *,
        timezone: str | None = None,
        default: Any = None,
        directory: Iterable[Any] | None = None,
        fields: Iterable[str] = (),
        enrichment: Enrichment | None = None,
        name: str = "matrix",
        warn: bool = True,
    ) -> RuleSet:
        """A rule set from a matrix table (see :mod:`dialpad_nb.rules.matrix` for the syntax).
        With a ``directory``, target ids are checked against it and shown with their names.

        ``timezone`` (IANA) is where ``hours``/``days`` are read; without it they are
        read in UTC, and a :class:`ImplicitUTCWarning` says so when the matrix has such
        rules and no row names its own ``tz``."""
        implicit_utc = False
        if timezone is None:
            timezone = "UTC"
            implicit_utc = _time_rules_without_tz(frame)
            if warn and implicit_utc:
                warnings.warn(
                    f"{name}: hours/days rules are read in UTC because no timezone was given; "
                    "pass timezone='Area/City' (e.g. 'America/Los_Angeles') or fill the tz column",
                    ImplicitUTCWarning,
                    stacklevel=caller_stacklevel(),
                )
        if directory is not None:
            directory = list(directory)  # read twice: the checks and the names
        rules, default_rule, found = parse_matrix(
            frame, timezone=timezone, default=default, directory=directory, fields=fields
        )
        if warn:
            for w in found:
                warnings.warn(f"{name}: {w.message}", w.category, stacklevel=caller_stacklevel())
        return cls(
            rules,
            default_rule,
            timezone=timezone,
            enrichment=enrichment,
            name=name,
            warnings=found,
            target_names=directory_index(directory) if directory is not None else None,
            implicit_utc=implicit_utc,
        )

    @classmethod
    def from_csv(cls, path: str | os.PathLike, *, name: str | None = None, **kw: Any) -> RuleSet:
        """Load a matrix CSV (every cell read as text)."""
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        return cls.from_frame(frame, name=name or os.path.splitext(os.path.basename(path))[0], **kw)

    @classmethod
    def from_text(cls, text: str, **kw: Any) -> RuleSet:
        """Load a matrix from CSV text (e.g. edited in a widget)."""
        if not text.strip():
            raise MatrixError([MatrixProblem(None, None, "the matrix is empty")])
        try:
            frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
        except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise MatrixError([MatrixProblem(None, None, f"not valid CSV: {exc}")]) from None
        return cls.from_frame(frame, **kw)

    def with_enrichment(self, enrichment: Enrichment | None) -> RuleSet:
        """The same rules, looking up contact fields in ``enrichment``.

        Raises :class:`~dialpad_nb.rules.matrix.MatrixError` naming the row and column of
        every condition on an enrichment field the contact table does not have."""
        if enrichment is not None:
            problems = [
                MatrixProblem(
                    rule.row,
                    cond.field,
                    f"the contact table has no field {cond.field!r} (it has {', '.join(enrichment.fields)})",
                    rule.name,
                )
                for rule in self.rules
                if isinstance(rule, MatrixRule)
                for cond in rule.conditions
                if cond.field.startswith(enrichment.prefix) and cond.field not in enrichment.fields
            ]
            if problems:
                raise MatrixError(problems)
        return RuleSet(
            self.rules,
            self.default,
            timezone=self.timezone,
            enrichment=enrichment,
            name=self.name,
            warnings=self.warnings,
            target_names=self.target_names,
            implicit_utc=self.implicit_utc,
        )

    def with_rule(
        self,
        rule: Rule | Callable[[dict[str, Any]], Any],
        *,
        before: str | None = None,
        name: str | None = None,
    ) -> RuleSet:
        """A copy with ``rule`` inserted before the rule named ``before`` (default: just before the default),
        named ``<name>+<rule name>``."""
        if not isinstance(rule, (MatrixRule, PythonRule)):
            rule = PythonRule(name or str(getattr(rule, "__name__", "python rule")), rule)
        rules = list(self.rules)
        if before is None:
            rules.append(rule)
        else:
            names = [r.name for r in rules]
            if before not in names:
                raise ValidationError(f"no rule named {before!r}", field="before")
            rules.insert(names.index(before), rule)
        return RuleSet(
            rules,
            self.default,
            timezone=self.timezone,
            enrichment=self.enrichment,
            name=f"{self.name}+{rule.name}",
            target_names=self.target_names,
            implicit_utc=self.implicit_utc,
        )

    # ------------------------------------------------------------------ introspection

    @property
    def rule_names(self) -> list[str]:
        """Every rule's name in evaluation order, the default last."""
        return list(self._names)

    @property
    def fields(self) -> set[str]:
        """Call/enrichment fields the matrix conditions read (time conditions read ``date_started``)."""
        out = set()
        for rule in self.rules:
            if isinstance(rule, MatrixRule):
                out |= {"date_started" if c.field in TIME_FIELDS else c.field for c in rule.conditions}
        return out

    def check_targets(self, directory: Iterable[Any]) -> None:
        """Raise :class:`~dialpad_nb.rules.matrix.MatrixError` naming every row (and the default)
        whose target is not in ``directory`` (entries or dicts with id/type/name). Python rules
        are not checked here: their answers are known only per call."""
        known = directory_index(directory)
        problems = [
            MatrixProblem(
                rule.row,
                "target_id",
                f"{rule.target_type} {rule.target_id} is not in the directory",
                rule.name,
            )
            for rule in (*self.rules, self.default)
            if isinstance(rule, MatrixRule) and (rule.target_id, rule.target_type) not in known
        ]
        if problems:
            raise MatrixError(problems)

    def target_name(self, target_id: int, target_type: str) -> str | None:
        """The target's name in the directory the rule set was loaded with (None if unknown)."""
        return (self.target_names or {}).get((int(target_id), target_type))

    def to_frame(self) -> pd.DataFrame:
        """The rules as a readable table (conditions as written); with a directory, a ``target``
        column names each rule's target."""
        rows: list[dict[str, Any]] = []
        for rule in (*self.rules, self.default):
            if isinstance(rule, PythonRule):
                rows.append(
                    {
                        "rule": rule.name,
                        "conditions": f"python: {getattr(rule.func, '__qualname__', rule.func)}",
                    }
                )
                continue
            conds = " & ".join(
                f"{c.field} {c.text.strip()}" + (f" [{c.tz}]" if c.tz else "") for c in rule.conditions
            )
            rows.append(
                {
                    "rule": rule.name,
                    "conditions": conds or "(any call)",
                    "target_type": rule.target_type,
                    "target_id": rule.target_id,
                }
            )
        columns = ["rule", "conditions", "target_type", "target_id"]
        if self.target_names is not None:
            for row in rows:
                if "target_id" in row:
                    row["target"] = self.target_name(row["target_id"], row["target_type"])
            columns.insert(2, "target")
        return pd.DataFrame(rows, columns=columns)

    def __repr__(self) -> str:
        n_py = sum(isinstance(r, PythonRule) for r in self.rules)
        py = f" ({n_py} python)" if n_py else ""
        enr = ", enriched" if self.enrichment is not None else ""
        d = self.default
        name = self.target_name(d.target_id, d.target_type)
        default = f"{name} ({d.target_type}:{d.target_id})" if name else f"{d.target_type}:{d.target_id}"
        rules = plural(len(self.rules), "rule")
        return f"RuleSet({self.name!r}: {rules}{py} + default {default}, tz={self.timezone}{enr})"

    def _repr_html_(self) -> str:
        table = self.to_frame().to_html(index=False)
        head, sep, rest = table.partition(">")
        warned = "".join(f"<li>{html.escape(w.message)}</li>" for w in self.warnings)
        notes = f"<ul style='color:#8a5a00'>{warned}</ul>" if warned else ""
        return f"{head}{sep}<caption>{html.escape(repr(self))}</caption>{rest}{notes}"

    # ------------------------------------------------------------------ per call

    def decide(self, call: RoutingRequest | Mapping[str, Any]) -> RuleDecision:
        """The decision for one call (a RoutingRequest or a mapping of its fields): what an
        endpoint answers per request. :meth:`decide_all` gives the same answers for a frame."""
        record = self._record(call)
        for rule in self.rules:
            if isinstance(rule, MatrixRule):
                if rule.matches(record):
                    return RuleDecision(rule.target_id, rule.target_type, rule.name, False)
            else:
                hit = rule.apply(record)
                if hit is not None:
                    return RuleDecision(hit[0], hit[1], rule.name, False)
        d = self.default
        return RuleDecision(d.target_id, d.target_type, d.name, True)

    def _record(self, call: RoutingRequest | Mapping[str, Any]) -> dict[str, Any]:
        if isinstance(call, RoutingRequest):
            record: dict[str, Any] = call.to_json()
        else:
            record = {k: (None if is_missing(v) else v) for k, v in call.items()}
        ds = record.get("date_started")
        if ds is not None and not isinstance(ds, pd.Timestamp):
            record["date_started"] = (
                pd.Timestamp(int(ds), unit="ms", tz="UTC") if not hasattr(ds, "tzinfo") else pd.Timestamp(ds)
            )
        if self.enrichment is not None and not any(k.startswith(self.enrichment.prefix) for k in record):
            record.update(self.enrichment.lookup(record.get("external_number")))
        return record

    # ------------------------------------------------------------------ whole frame

    def prepare(self, calls: pd.DataFrame) -> pd.DataFrame:
        """``calls`` with enrichment joined if the rules need it and it is not there yet.

        Raises ValidationError naming the rule and field when a condition reads
        a column the calls do not have."""
        frame = calls
        needed = self.fields
        if self.enrichment is not None and any(
            f.startswith(self.enrichment.prefix) and f not in frame.columns for f in needed
        ):
            frame, _ = self.enrichment.join(frame)
        for rule in self.rules:
            if isinstance(rule, MatrixRule):
                for c in rule.conditions:
                    col = "date_started" if c.field in TIME_FIELDS else c.field
                    if col not in frame.columns:
                        hint = (
                            " (add an enrichment: RuleSet.with_enrichment)"
                            if c.field not in CALL_FIELDS
                            else ""
                        )
                        raise ValidationError(
                            f"rule {rule.name!r} tests {c.field!r} but the calls have no such column{hint}",
                            field=c.field,
                        )
        return frame

    def decide_all(self, calls: pd.DataFrame) -> pd.DataFrame:
        """Decisions for every call, vectorised (the same as :meth:`decide` per call, property-tested);
        index aligned with ``calls``.

        Columns: ``target_id`` (Int64), ``target_type`` and ``rule`` (categorical),
        ``is_default`` (bool)."""
        frame = self.prepare(calls)
        n = len(frame)
        ctx = FrameContext(frame)
        rule_index = np.full(n, len(self.rules), dtype=np.int64)  # default unless a rule matches
        undecided = np.ones(n, dtype=bool)
        py_ids: np.ndarray | None = None
        py_types: np.ndarray | None = None
        cache: dict[Any, np.ndarray] = {}
        for k, rule in enumerate(self.rules):
            if not undecided.any():
                break
            if isinstance(rule, MatrixRule):
                hit = undecided.copy()
                for cond in rule.conditions:
                    m = cache.get(cond)
                    if m is None:
                        m = cache[cond] = cond.mask(ctx)
                    hit &= m
            else:
                positions = np.flatnonzero(undecided)
                records = _records(frame, positions)
                if py_ids is None or py_types is None:
                    py_ids = np.zeros(n, dtype=np.int64)
                    py_types = np.full(n, -1, dtype=np.int64)
                hit = np.zeros(n, dtype=bool)
                for pos, record in zip(positions, records, strict=True):
                    result = rule.apply(record)
                    if result is not None:
                        hit[pos] = True
                        py_ids[pos] = result[0]
                        py_types[pos] = _TYPE_CODE[result[1]]
            rule_index[hit] = k
            undecided &= ~hit
        ids = self._ids[rule_index]
        types = self._types[rule_index]
        if py_ids is not None and py_types is not None:
            from_py = types < 0
            ids = np.where(from_py, py_ids, ids)
            types = np.where(from_py, py_types, types)
        return pd.DataFrame(
            {
                "target_id": pd.array(ids, dtype="Int64"),
                "target_type": pd.Categorical.from_codes(types, categories=pd.Index(list(TARGET_TYPES))),
                "rule": pd.Categorical.from_codes(rule_index, categories=pd.Index(self._names, dtype=object)),
                "is_default": rule_index == len(self.rules),
            },
            index=frame.index,
        )


class ImplicitUTCWarning(UserWarning):
    """A matrix with hours/days rules was loaded without a timezone: they are read in UTC."""


class TimezoneMismatchWarning(UserWarning):
    """Two rule sets compared with each other read hours and days in different timezones:
    "09:00-17:00" means different calls on each side, so changes may be the clock, not the rules."""


def _time_rules_without_tz(frame: pd.DataFrame) -> bool:
    cols = {str(c).strip(): c for c in frame.columns}
    time_cols = [cols[c] for c in ("hours", "days") if c in cols]
    if not time_cols:
        return False
    has_time = frame[time_cols].astype("string").fillna("").apply(lambda s: s.str.strip() != "").any(axis=1)
    if "tz" in cols:
        has_time &= frame[cols["tz"]].astype("string").fillna("").str.strip() == ""
    return bool(has_time.any())


def load_matrix(source: str | os.PathLike | pd.DataFrame, **kw: Any) -> RuleSet:
    """A rule set from a matrix CSV path, CSV text or a DataFrame (see :mod:`dialpad_nb.rules.matrix`)."""
    if isinstance(source, pd.DataFrame):
        return RuleSet.from_frame(source, **kw)
    if isinstance(source, str) and "\n" in source:
        return RuleSet.from_text(source, **kw)
    return RuleSet.from_csv(source, **kw)


def _records(frame: pd.DataFrame, positions: np.ndarray) -> list[dict[str, Any]]:
    sub = frame.iloc[positions]
    cols = list(sub.columns)
    out = []
    for values in sub.itertuples(index=False, name=None):
        record = {c: (None if is_missing(v) else v) for c, v in zip(cols, values, strict=True)}
        ds = record.get("date_started")
        if ds is not None and not isinstance(ds, pd.Timestamp):
            record["date_started"] = pd.Timestamp(int(ds), unit="ms", tz="UTC")
        out.append(record)
    return out
