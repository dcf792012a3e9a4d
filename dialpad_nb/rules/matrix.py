r"""Routing matrices: an ordered table of conditions -> target, loaded from CSV or a DataFrame.

Syntax
======

One row per rule, evaluated top to bottom; **the first row whose conditions all
hold decides the call**. A last row with no conditions is the **default**
(or pass ``default=(target_id, target_type)``).

Columns
-------

=================  ==================================================================
``rule``           the rule's name (unique; empty → ``row N``)
``target_id``      Dialpad id of the target (integer)
``target_type``    one of Dialpad's target types (``callcenter``, ``department``,
                   ``user``, ``office``, ...)
``tz``             optional: IANA timezone for this row's ``hours``/``days``
                   (empty → the matrix timezone, argument ``timezone``, default UTC)
``target_name``,   optional, free text for readers; a ``target_name`` that names
``note``           another target than ``target_id`` (in the directory, or on an
                   earlier row) is warned about (:class:`TargetNameWarning`)
*any other*        a **condition column** named by the field it tests:
                   ``external_number`` (caller), ``internal_number`` (number
                   dialled), ``contact_id``, ``contact_type``, an enrichment field
                   such as ``crm.segment`` / ``crm.status`` / ``crm.owner``, or the
                   time pseudo-fields ``hours`` and ``days`` (of ``date_started``)
=================  ==================================================================

Condition cells (empty = any value)
-----------------------------------

=========================  ===========================================================
``enterprise`` or          equals (a leading ``=`` lets a value contain ``:``)
``=enterprise``
``in:gold|silver``         one of the values
``prefix:+1415|+1628``     starts with one of the prefixes
``re:^\+44``               Python regular expression, ``re.search`` semantics
``null``                   the value is missing (e.g. no CRM match)
``!`` before any of these  negation: ``!in:churned|lead``, ``!null``
``09:00-17:30``            (``hours`` column) local time in ``[start, end)``;
                           ``18:00-08:00`` crosses midnight; several windows
                           ``08:00-12:00|13:00-17:00``; ``hours:`` prefix allowed
``mon-fri``                (``days`` column) local weekday; ranges wrap
                           (``fri-mon``); lists ``sat|sun``; ``weekdays``, ``weekend``
=========================  ===========================================================

Numbers in ``external_number``/``internal_number`` equality cells are normalised
to E.164 (``(415) 555-0100`` → ``+14155550100``). ``hours`` and ``days`` are
tested independently on the call's local time: ``days=mon-fri`` with
``hours=18:00-08:00`` matches Monday 18:00–24:00 *and* Monday 00:00–08:00.
A missing value fails every positive test (so ``!`` of it holds).

Errors and warnings
-------------------

Loading raises :class:`MatrixError` (a ``ValidationError``) listing every problem
with its row (1 = first rule under the header) and column: missing column,
unknown field, unparsable condition, bad id, unknown target type, unknown
timezone, duplicate rule name, no default, and — when a ``directory`` is given —
target ids that are not in the company. Rows that can never match because an
earlier row already catches all their calls (an unconditional row, identical
conditions, or broader conditions such as ``in:a|b`` before ``=a``) are reported
as :class:`ShadowedRuleWarning`, and a ``target_name`` contradicting the target as
:class:`TargetNameWarning`; both are kept in ``RuleSet.warnings``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ..core.errors import ValidationError
from ..core.models import TARGET_TYPES, DirectoryEntry, is_missing, parse_id, validate_target_type
from ..core.wording import plural
from .conditions import (
    CALL_FIELDS,
    TIME_FIELDS,
    Condition,
    ConditionSyntaxError,
    check_timezone,
    parse_condition,
)

__all__ = [
    "ENRICHMENT_PREFIX",
    "INFO_COLUMNS",
    "REQUIRED_COLUMNS",
    "MatrixError",
    "MatrixProblem",
    "MatrixRule",
    "MatrixWarning",
    "ShadowedRuleWarning",
    "TargetNameWarning",
    "directory_index",
    "parse_matrix",
]

REQUIRED_COLUMNS: tuple[str, ...] = ("rule", "target_id", "target_type")
INFO_COLUMNS: frozenset[str] = frozenset({"tz", "note", "notes", "description", "comment", "target_name"})
ENRICHMENT_PREFIX = "crm."


@dataclass(frozen=True)
class MatrixRule:
    """One matrix row: all ``conditions`` must hold; then the call goes to the target."""

    name: str
    conditions: tuple[Condition, ...]
    target_id: int
    target_type: str
    row: int | None = None

    @property
    def unconditional(self) -> bool:
        return not self.conditions

    def matches(self, call: Mapping[str, Any]) -> bool:
        return all(c.test(call) for c in self.conditions)


@dataclass(frozen=True)
class MatrixProblem:
    row: int | None
    """1-based rule row (None: the header / the whole matrix)."""
    column: str | None
    message: str
    rule: str | None = None

    def __str__(self) -> str:
        where = []
        if self.row is not None:
            where.append(f"row {self.row}" + (f" (rule {self.rule!r})" if self.rule else ""))
        if self.column is not None:
            where.append(f"column {self.column!r}")
        return f"{', '.join(where) or 'matrix'}: {self.message}"


class MatrixError(ValidationError):
    """An invalid routing matrix; ``problems`` lists every row/column at fault, and the message
    shows them one per line::

        invalid routing matrix, 2 problems:
          - row 1 (rule 'vip'), column 'target_id': callcenter 5002000000009999 is not in the directory
          - row 3 (rule 'late'), column 'hours': cannot parse '25:00-26:00': ...
    """

    def __init__(self, problems: Sequence[MatrixProblem]) -> None:
        self.problems = tuple(problems)
        first = self.problems[0]
        self.row = first.row
        self.column = first.column
        lines = "".join(f"\n  - {p}" for p in self.problems)
        super().__init__(f"invalid routing matrix, {plural(len(self.problems), 'problem')}:{lines}")


class ShadowedRuleWarning(UserWarning):
    """A matrix row that can never match: an earlier row catches all of its calls."""


class TargetNameWarning(UserWarning):
    """A matrix row whose ``target_name`` names another target than its ``target_id``: the call
    goes to ``target_id`` (the name is only for readers), so one of the two is wrong."""


@dataclass(frozen=True)
class MatrixWarning:
    """Something a matrix author should fix that does not stop it from loading."""

    row: int | None
    rule: str
    shadowed_by: str | None
    """The earlier rule that makes this one unreachable (None for other warnings)."""
    message: str
    category: type[UserWarning] = ShadowedRuleWarning

    def __str__(self) -> str:
        return self.message


def directory_index(directory: Iterable[Any]) -> dict[tuple[int, str], str]:
    """``{(id, type): name}`` from directory entries (dicts with id/type/name or DirectoryEntry)."""
    out: dict[tuple[int, str], str] = {}
    for entry in directory:
        if isinstance(entry, DirectoryEntry):
            out[(entry.id, entry.type)] = entry.name
        else:
            out[(int(entry["id"]), str(entry["type"]))] = str(entry.get("name") or entry["id"])
    return out


def parse_matrix(
    frame: pd.DataFrame,
    *,
    timezone: str = "UTC",
    default: Any = None,
    directory: Iterable[Any] | None = None,
    fields: Iterable[str] = (),
) -> tuple[list[MatrixRule], MatrixRule, list[MatrixWarning]]:
    """Validate a matrix table; return ``(rules, default_rule, warnings)``.

    ``default`` is ``(target_id, target_type)``, a RoutingDecision or None (then
    the last row must have no conditions). Raises :class:`MatrixError` listing every
    problem. Three phases: the columns, the rows, the default."""
    frame = frame.copy()
    frame.columns = [str(c).strip() for c in frame.columns]
    condition_cols = _condition_columns(frame, set(fields))
    try:
        check_timezone(timezone)
    except ConditionSyntaxError as exc:
        raise MatrixError([MatrixProblem(None, "tz", f"matrix timezone: {exc}")]) from None
    known = directory_index(directory) if directory is not None else None
    problems: list[MatrixProblem] = []
    rules, seen = _parse_rows(frame, condition_cols, timezone, known, problems)
    names = _name_warnings(frame, rules, known)
    default_rule = _default_rule(rules, default, known, seen, problems)
    if problems:
        raise MatrixError(problems)
    assert default_rule is not None  # a missing default is a problem above
    return rules, default_rule, shadow_warnings(rules, default_rule) + names


def _name_warnings(
    frame: pd.DataFrame, rules: Sequence[MatrixRule], known: dict[tuple[int, str], str] | None
) -> list[MatrixWarning]:
    """Rows whose ``target_name`` contradicts their target: another name in the directory, or
    (without a directory) another name given to the same target on an earlier row."""
    if "target_name" not in frame.columns:
        return []
    out: list[MatrixWarning] = []
    first: dict[tuple[int, str], tuple[str, int]] = {}
    for rule, cell in zip(rules, frame["target_name"].tolist(), strict=True):
        written = _cell(cell)
        key = (rule.target_id, rule.target_type)
        if not written or not rule.target_id or rule.target_type not in TARGET_TYPES:
            continue  # nothing to compare, or the row has a problem of its own
        where = f"row {rule.row} (rule {rule.name!r})"
        target = f"{rule.target_type} {rule.target_id}"
        if known is not None:
            actual = known.get(key)
            if actual is not None and actual.casefold() != written.casefold():
                out.append(
                    MatrixWarning(
                        rule.row,
                        rule.name,
                        None,
                        f"{where}: target_name says {written!r} but {target} is {actual!r} in the directory;"
                        f" calls go to {actual!r} (by target_id): fix the id or the name",
                        TargetNameWarning,
                    )
                )
            continue
        seen = first.setdefault(key, (written, rule.row or 0))
        if seen[0].casefold() != written.casefold():
            out.append(
                MatrixWarning(
                    rule.row,
                    rule.name,
                    None,
                    f"{where}: target_name says {written!r} but row {seen[1]} calls {target} {seen[0]!r};"
                    " calls go by target_id: fix the id or the name",
                    TargetNameWarning,
                )
            )
    return out


def _condition_columns(frame: pd.DataFrame, extra: set[str]) -> list[str]:
    """The condition columns of a matrix (required columns present, every other column known)."""
    problems = [
        MatrixProblem(None, col, "column is missing (required: rule, target_id, target_type)")
        for col in REQUIRED_COLUMNS
        if col not in frame.columns
    ]
    condition_cols = []
    for col in frame.columns:
        if col in REQUIRED_COLUMNS or col in INFO_COLUMNS:
            continue
        known = col in CALL_FIELDS or col in TIME_FIELDS or col in extra
        if col.startswith(ENRICHMENT_PREFIX) and len(col) > len(ENRICHMENT_PREFIX):
            known = True
        if known:
            condition_cols.append(col)
        else:
            problems.append(
                MatrixProblem(
                    None,
                    col,
                    f"unknown field; conditions can test {', '.join(CALL_FIELDS + TIME_FIELDS)}"
                    f" or an enrichment field {ENRICHMENT_PREFIX}<name>",
                )
            )
    if problems:
        raise MatrixError(problems)
    return condition_cols


def _parse_rows(
    frame: pd.DataFrame,
    condition_cols: list[str],
    timezone: str,
    known: dict[tuple[int, str], str] | None,
    problems: list[MatrixProblem],
) -> tuple[list[MatrixRule], dict[str, int]]:
    """One :class:`MatrixRule` per row (problems appended, naming row and column)."""
    rules: list[MatrixRule] = []
    seen: dict[str, int] = {}
    records: list[dict[str, Any]] = frame.to_dict("records")  # type: ignore[assignment]  # columns are str
    for pos, record in enumerate(records):
        row = pos + 1
        name = _cell(record.get("rule")) or f"row {row}"
        if name in seen:
            problems.append(
                MatrixProblem(row, "rule", f"duplicate rule name (first used on row {seen[name]})", name)
            )
        seen.setdefault(name, row)
        tz = _row_timezone(record, row, name, timezone, problems)
        conditions = []
        for col in condition_cols:
            try:
                cond = parse_condition(col, _cell(record.get(col)), tz=tz)
            except ConditionSyntaxError as exc:
                problems.append(
                    MatrixProblem(row, col, f"cannot parse {_cell(record.get(col))!r}: {exc}", name)
                )
                continue
            if cond is not None:
                conditions.append(cond)
        target_id, target_type = _target(record, row, name, problems, known)
        rules.append(MatrixRule(name, tuple(conditions), target_id, target_type, row))
    return rules, seen


def _row_timezone(
    record: Mapping[str, Any], row: int, name: str, timezone: str, problems: list[MatrixProblem]
) -> str:
    tz = _cell(record.get("tz")) or timezone
    if tz != timezone:
        try:
            check_timezone(tz)
        except ConditionSyntaxError as exc:
            problems.append(MatrixProblem(row, "tz", str(exc), name))
            return timezone
    return tz


def _default_rule(
    rules: list[MatrixRule],
    default: Any,
    known: dict[tuple[int, str], str] | None,
    seen: dict[str, int],
    problems: list[MatrixProblem],
) -> MatrixRule | None:
    """The explicit ``default`` (checked), else the last row when it has no conditions
    (taken out of ``rules``); None (and a problem) when there is neither."""
    if default is None:
        if rules and rules[-1].unconditional:
            return rules.pop()
        problems.append(
            MatrixProblem(
                None,
                None,
                "no default: end with a row that has no conditions, or pass default=(target_id, target_type)",
            )
        )
        return None
    try:
        default_rule = _explicit_default(default)
    except ValidationError as exc:
        problems.append(MatrixProblem(None, "default", str(exc)))
        return None
    if known is not None and (default_rule.target_id, default_rule.target_type) not in known:
        problems.append(
            MatrixProblem(
                None,
                "default",
                f"{default_rule.target_type} {default_rule.target_id} is not in the directory",
            )
        )
    if default_rule.name in seen:
        problems.append(
            MatrixProblem(seen[default_rule.name], "rule", "'default' is reserved for default=", "default")
        )
    return default_rule


def shadow_warnings(
    rules: Sequence[MatrixRule], default_rule: MatrixRule | None = None
) -> list[MatrixWarning]:
    """Rows that an earlier row makes unreachable (every call they match, it matches first)."""
    out: list[MatrixWarning] = []
    ordered = [r for r in rules if isinstance(r, MatrixRule)]
    candidates = list(ordered) + ([default_rule] if default_rule is not None else [])
    for j, later in enumerate(candidates):
        for earlier in ordered[: min(j, len(ordered))]:
            if earlier is later:
                break
            if _covers(earlier, later):
                if earlier.unconditional:
                    why = "it has no conditions"
                elif set(earlier.conditions) == set(later.conditions):
                    why = "it has the same conditions"
                else:
                    why = "its conditions include every call this row matches"
                where = f"row {later.row} " if later.row is not None else ""
                out.append(
                    MatrixWarning(
                        later.row,
                        later.name,
                        earlier.name,
                        f"{where}(rule {later.name!r}) is shadowed by rule {earlier.name!r}"
                        f" (row {earlier.row}): {why}; it can never match",
                    )
                )
                break
    return out


def _covers(earlier: MatrixRule, later: MatrixRule) -> bool:
    return all(any(lc.implies(ec) for lc in later.conditions) for ec in earlier.conditions)


def _explicit_default(default: Any) -> MatrixRule:
    if isinstance(default, MatrixRule):
        return default
    if isinstance(default, Mapping):
        target_id, target_type = default.get("target_id"), default.get("target_type")
    elif hasattr(default, "target_id") and hasattr(default, "target_type"):
        target_id, target_type = default.target_id, default.target_type
    else:
        try:
            target_id, target_type = default
        except (TypeError, ValueError):
            raise ValidationError(f"{default!r} is not (target_id, target_type)", field="default") from None
    return MatrixRule(
        "default",
        (),
        parse_id(target_id, field="default target_id"),
        validate_target_type(target_type, field="default target_type"),
        None,
    )


def _cell(value: Any) -> str:
    if is_missing(value):
        return ""
    return str(value).strip()


def _target(
    record: Mapping[str, Any],
    row: int,
    name: str,
    problems: list[MatrixProblem],
    known: dict[tuple[int, str], str] | None,
) -> tuple[int, str]:
    raw_id, raw_type = record.get("target_id"), _cell(record.get("target_type"))
    target_id = 0
    if isinstance(raw_id, float) and raw_id == raw_id and raw_id.is_integer():
        raw_id = int(raw_id)
    try:
        target_id = parse_id(raw_id if isinstance(raw_id, int) else _cell(raw_id), field="target_id")
    except ValidationError:
        problems.append(MatrixProblem(row, "target_id", f"{_cell(raw_id)!r} is not an integer id", name))
    if raw_type not in TARGET_TYPES:
        problems.append(
            MatrixProblem(
                row,
                "target_type",
                f"{raw_type!r} is not a target type; expected one of {', '.join(TARGET_TYPES)}",
                name,
            )
        )
    elif target_id and known is not None and (target_id, raw_type) not in known:
        problems.append(
            MatrixProblem(row, "target_id", f"{raw_type} {target_id} is not in the directory", name)
        )
    return target_id, raw_type
