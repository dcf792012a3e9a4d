"""Offline replay: run logged calls through a rule set and compare with a baseline.

::

    calls, rejects = read_calls("data/calls_2026-10.jsonl.gz", secret=...)
    candidate = load_matrix("data/routing_candidate.csv", timezone="America/Los_Angeles")
    result = compare(calls, candidate.with_enrichment(crm), baseline="logged",
                     capacity=load_capacity("data/capacity.csv"))
    result                      # the summary (HTML in a notebook)
    result.changes              # one row per call whose target changed
    result.rule_hits, result.never_hit, result.volume, result.peaks

The **baseline** is either ``"logged"`` (the decisions recorded in the log:
``logged_target_id``/``logged_target_type``/``logged_rule``), another
:class:`~dialpad_nb.rules.ruleset.RuleSet`, or a decisions DataFrame from :func:`replay`.
Calls with no baseline decision (not logged, e.g. a plain Dialpad payload) are
counted in ``no_baseline`` and kept in the per-call table with
``has_baseline=False``; they never count as "changed".

"Default" for a logged decision: the logged rule is the candidate's default
rule when the log names a rule (the endpoint kit's log does), else its target
equals the default target (``default=`` argument, else the candidate's default). Peak calls per hour are
counted in clock hours of UTC, which are the same hours as local time in any
whole-hour timezone.
"""

from __future__ import annotations

import html
import os
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..core._caller import caller_stacklevel
from ..core.errors import ValidationError
from ..core.models import TARGET_TYPES, parse_id
from ..core.wording import plural
from .matrix import MatrixError, MatrixProblem, _explicit_default, directory_index
from .ruleset import RuleSet, TimezoneMismatchWarning

__all__ = [
    "Comparison",
    "ReplaySummary",
    "compare",
    "load_capacity",
    "logged_decisions",
    "replay",
    "target_names",
]

_DECISION_COLUMNS = ("target_id", "target_type", "rule", "is_default")
_MS_PER_HOUR = 3_600_000


def target_names(directory: Iterable[Any] | None = None, *rule_sets: Any) -> dict[tuple[int, str], str]:
    """``{(target_id, target_type): name}`` from ``directory``, else from the directories the
    rule sets were loaded with; empty when nothing names the targets (they show as ``type id``)."""
    if directory is not None:
        return directory_index(directory)
    names: dict[tuple[int, str], str] = {}
    for rules in rule_sets:
        names.update(getattr(rules, "target_names", None) or {})
    return names


def replay(calls: pd.DataFrame, rules: RuleSet) -> pd.DataFrame:
    """Every call's decision under ``rules`` (vectorised): ``call_id``, ``date_started``,
    ``target_id``, ``target_type``, ``rule``, ``is_default``; index aligned with ``calls``."""
    decisions = rules.decide_all(calls)
    out = calls[["call_id", "date_started"]].copy()
    for col in _DECISION_COLUMNS:
        out[col] = decisions[col]
    return out


def logged_decisions(
    calls: pd.DataFrame, *, default: Any = None, default_rule: str | None = None
) -> pd.DataFrame:
    """The decisions recorded in the log, in :func:`replay`'s shape.

    ``target_id`` is missing where nothing was logged. ``is_default``: where the
    log names the rule, whether it is ``default_rule``; elsewhere whether the
    target equals ``default`` (``(target_id, target_type)``); unknown (missing)
    without them."""
    for col in ("logged_target_id", "logged_target_type"):
        if col not in calls.columns:
            raise ValidationError(
                "the calls carry no logged decisions (read an endpoint log, or compare against a rule set)",
                field=col,
            )
    out = calls[["call_id", "date_started"]].copy()
    out["target_id"] = calls["logged_target_id"].astype("Int64")
    out["target_type"] = pd.Categorical(
        calls["logged_target_type"].astype(object), categories=list(TARGET_TYPES)
    )
    rule = calls["logged_rule"] if "logged_rule" in calls.columns else pd.Series(pd.NA, index=calls.index)
    out["rule"] = pd.Categorical(rule.astype(object))
    is_default = pd.Series(pd.array([pd.NA] * len(out), dtype="boolean"), index=out.index)
    if default is not None:
        d = _explicit_default(default)
        same = (out["target_id"] == d.target_id) & (out["target_type"].astype(object) == d.target_type)
        is_default = same.astype("boolean")
    if default_rule is not None:
        named = rule.notna().to_numpy()
        is_default[named] = (rule[named].astype(object) == default_rule).to_numpy()
    is_default[out["target_id"].isna().to_numpy()] = pd.NA
    out["is_default"] = is_default
    return out


def load_capacity(source: str | os.PathLike | pd.DataFrame) -> pd.DataFrame:
    """A capacity table: ``target_id``, ``target_type``, ``max_calls_per_hour`` (other columns kept).

    Raises :class:`~dialpad_nb.rules.matrix.MatrixError` naming the row and column at fault."""
    frame = (
        source.copy()
        if isinstance(source, pd.DataFrame)
        else pd.read_csv(source, dtype=str, keep_default_na=False)
    )
    problems = [
        MatrixProblem(None, c, "column is missing (required: target_id, target_type, max_calls_per_hour)")
        for c in ("target_id", "target_type", "max_calls_per_hour")
        if c not in frame.columns
    ]
    if problems:
        raise MatrixError(problems)
    ids, caps = [], []
    for pos, rec in enumerate(frame.to_dict("records")):
        row = pos + 1
        try:
            ids.append(
                parse_id(
                    rec["target_id"] if isinstance(rec["target_id"], int) else str(rec["target_id"]).strip()
                )
            )
        except ValidationError:
            problems.append(MatrixProblem(row, "target_id", f"{rec['target_id']!r} is not an integer id"))
            ids.append(0)
        if str(rec["target_type"]).strip() not in TARGET_TYPES:
            problems.append(MatrixProblem(row, "target_type", f"{rec['target_type']!r} is not a target type"))
        text = str(rec["max_calls_per_hour"]).strip()
        if not text.isdigit():
            problems.append(
                MatrixProblem(row, "max_calls_per_hour", f"{text!r} is not a whole number of calls")
            )
            caps.append(0)
        else:
            caps.append(int(text))
    if problems:
        raise MatrixError(problems)
    frame["target_id"] = np.asarray(ids, dtype=np.int64)
    frame["target_type"] = frame["target_type"].astype(str).str.strip()
    frame["max_calls_per_hour"] = np.asarray(caps, dtype=np.int64)
    return frame.reset_index(drop=True)


# --------------------------------------------------------------------------- compare


@dataclass
class ReplaySummary:
    """The headline numbers of a comparison; renders as HTML in a notebook."""

    baseline: str
    candidate: str
    calls: int
    with_baseline: int
    no_baseline: int
    changed: int
    default_share_before: float | None
    default_share_after: float
    volume: pd.DataFrame = field(repr=False)
    peaks: pd.DataFrame = field(repr=False)
    never_hit: list[str] = field(default_factory=list)
    timezone: str = "UTC"
    """Where hours and days were read (the candidate's timezone, or ``compare(timezone=...)``)."""
    notes: tuple[str, ...] = ()
    """What a reader must know to trust the numbers (timezones read implicitly or differing)."""

    @property
    def changed_share(self) -> float:
        return self.changed / self.with_baseline if self.with_baseline else 0.0

    @property
    def over_capacity(self) -> list[str]:
        """Targets whose peak hour under the candidate exceeds their capacity."""
        if "over_after" not in self.peaks.columns:
            return []
        return list(self.peaks.index[self.peaks["over_after"].fillna(False).astype(bool)])

    def per_target(self) -> pd.DataFrame:
        """Volume and peak hour per target, before and after, with capacity flags; busiest first."""
        table = self.volume.join(self.peaks.drop(columns=["target_type"]), how="outer")
        table = table.loc[self.volume.index.append(table.index.difference(self.volume.index))]
        if "capacity" in table.columns:
            for side in ("before", "after"):
                table[f"over_{side}"] = table[f"over_{side}"].map({True: "over", False: ""}).fillna("")
        return table

    def headline(self) -> dict[str, str]:
        before = "n/a" if self.default_share_before is None else f"{self.default_share_before:.1%}"
        return {
            "calls replayed": f"{self.calls:,}",
            "with a baseline decision": f"{self.with_baseline:,}",
            "without a baseline decision": f"{self.no_baseline:,}",
            "calls whose target changes": f"{self.changed:,} ({self.changed_share:.1%})",
            "share to the default, before → after": f"{before} → {self.default_share_after:.1%}",
            "targets over capacity (candidate)": ", ".join(self.over_capacity) or "none",
            "rules never hit (candidate)": ", ".join(self.never_hit) or "none",
            "hours and days read in": self.timezone,
        }

    def __str__(self) -> str:
        before = "n/a" if self.default_share_before is None else f"{self.default_share_before:.1%}"
        never = f"{plural(len(self.never_hit), 'rule')} never hit"
        if not self.with_baseline:
            how = (
                "the log records no decisions (these are Dialpad's routing requests, not an endpoint "
                "kit's log), so there is nothing to compare with: pass baseline=<the current RuleSet, "
                "e.g. load_matrix('routing_current.csv', timezone=...)>, or read an endpoint kit log, "
                "whose records carry the decisions made"
                if self.baseline == "logged decisions"
                else "so there is nothing to compare with: pass a baseline that decides these calls"
            )
            return (
                f"{self.candidate} vs {self.baseline}: none of the {plural(self.calls, 'call')} has a baseline "
                f"decision; {how}. Under the candidate alone: {self.default_share_after:.1%} to the default; "
                f"{never}"
            )
        return (
            f"{self.candidate} vs {self.baseline}: {self.changed:,} of {plural(self.with_baseline, 'call')} "
            f"change target ({self.changed_share:.1%}); to default {before} → {self.default_share_after:.1%}; "
            f"{plural(self.no_baseline, 'call')} without a baseline; {never}; "
            f"{plural(len(self.over_capacity), 'target')} over capacity"
        )

    def per_target_display(self) -> pd.DataFrame:
        """The per-target table as people read it: plain column names, counts with thousands
        separators, "over" where the candidate's peak hour exceeds the capacity, no NaN."""
        table = self.peaks.join(self.volume[["before", "after", "change"]], how="outer")
        table = table.sort_values(["after", "before"], ascending=False, kind="stable")
        out = pd.DataFrame(index=pd.Index([str(i) for i in table.index], name="target"))
        out["type"] = table["target_type"].astype(object).fillna("").to_numpy()
        for col, label in (("before", "calls (baseline)"), ("after", "calls (candidate)")):
            out[label] = [f"{int(v):,}" for v in table[col].fillna(0)]
        out["change"] = [f"{int(v):+,}" if v else "0" for v in table["change"].fillna(0)]
        out["peak/h (baseline)"] = [f"{int(v):,}" for v in table["peak_before"].fillna(0)]
        out["peak/h (candidate)"] = [f"{int(v):,}" for v in table["peak_after"].fillna(0)]
        if "capacity" in table.columns:
            out["capacity/h"] = [("" if pd.isna(v) else f"{int(v):,}") for v in table["capacity"]]
            out["over capacity"] = [
                "over" if (not pd.isna(v) and bool(v)) else "" for v in table["over_after"].astype(object)
            ]
        return out

    def _repr_html_(self) -> str:
        head = "".join(
            f"<tr><th style='text-align:left'>{html.escape(k)}</th><td style='text-align:left'>{html.escape(v)}</td></tr>"
            for k, v in self.headline().items()
        )
        caption = f"Replay: {html.escape(self.candidate)} vs {html.escape(self.baseline)}"
        notes = "".join(f"<li>{html.escape(n)}</li>" for n in self.notes)
        notes_html = f"<ul class='dpnb-notes' style='color:#8a5a00'>{notes}</ul>" if notes else ""
        per_target = self.per_target_display().reset_index().to_html(index=False, escape=True)
        return (
            f"<div><table><caption>{caption}</caption>{head}</table>{notes_html}"
            f"<p>Per target (calls; peak/h = most calls in one clock hour):</p>{per_target}</div>"
        )


class Comparison:
    """Baseline vs candidate over the same calls. Displays as its summary."""

    def __init__(
        self,
        decisions: pd.DataFrame,
        *,
        summary: ReplaySummary,
        rule_hits: pd.DataFrame,
        baseline_rule_hits: pd.DataFrame | None,
        timezone: str,
    ) -> None:
        self.decisions = decisions
        """Per call: ``call_id``, ``date_started`` (UTC), ``date_started_local`` (in ``timezone``, the
        rule set's: what its time conditions read); ``before_*``/``after_*`` target id, type, name,
        rule, default; ``has_baseline``, ``changed``."""
        self.summary = summary
        self.rule_hits = rule_hits
        """Candidate: calls per rule (every rule, zeros included), in rule order; ``share_pct`` is
        the percent of the calls, rounded to 0.1."""
        self.baseline_rule_hits = baseline_rule_hits
        self.timezone = timezone

    @property
    def changes(self) -> pd.DataFrame:
        """The calls whose target changed (baseline known)."""
        return self.decisions.loc[self.decisions["changed"].to_numpy()]

    @property
    def no_baseline(self) -> pd.DataFrame:
        """Calls without a baseline decision (counted, not dropped)."""
        return self.decisions.loc[~self.decisions["has_baseline"].to_numpy()]

    @property
    def never_hit(self) -> list[str]:
        return list(self.summary.never_hit)

    @property
    def volume(self) -> pd.DataFrame:
        return self.summary.volume

    @property
    def peaks(self) -> pd.DataFrame:
        return self.summary.peaks

    @property
    def flows(self) -> pd.DataFrame:
        """Changed calls counted by (before target, after target), largest first."""
        ch = self.changes
        if ch.empty:
            return pd.DataFrame(columns=["from", "to", "calls"])
        out = (
            ch.groupby([ch["before_name"].astype(str), ch["after_name"].astype(str)], observed=True)
            .size()
            .rename("calls")
            .reset_index()
        )
        out.columns = ["from", "to", "calls"]
        return out.sort_values(["calls", "from", "to"], ascending=[False, True, True], ignore_index=True)

    def __repr__(self) -> str:
        return f"Comparison({self.summary})"

    def _repr_html_(self) -> str:
        return self.summary._repr_html_()


def compare(
    calls: pd.DataFrame | str | os.PathLike,
    candidate: RuleSet | pd.DataFrame,
    baseline: str | RuleSet | pd.DataFrame = "logged",
    *,
    capacity: pd.DataFrame | str | os.PathLike | None = None,
    directory: Iterable[Any] | None = None,
    default: Any = None,
    timezone: str | None = None,
) -> Comparison:
    """Compare a candidate rule set (or its :func:`replay` decisions) with a baseline.

    ``capacity``: a table for :func:`load_capacity` (path or DataFrame).
    ``directory``: entries naming targets (default: the directories the rule sets were loaded
    with; targets nobody names show as ``type id``).
    ``default``: the default target for logged decisions (default: the candidate's).
    ``calls`` may also be the path of a dataset written by :func:`~dialpad_nb.calls.dataset.ingest`
    (read whole; :func:`~dialpad_nb.rules.streamed.stream_compare` reads it chunk by chunk)."""
    if isinstance(calls, (str, os.PathLike)):
        from ..calls.dataset import is_dataset
        from ..calls.read import read_calls

        if not is_dataset(calls):
            raise ValidationError(f"{os.fspath(calls)!r} is not a dataset (see ingest)", field="calls")
        calls = read_calls(calls).calls
    names = target_names(directory, candidate, baseline)
    cand = _side(candidate, calls, label="candidate")
    if default is None and cand.default is not None:
        default = cand.default
    base = _side(baseline, calls, label="baseline", default=default, default_rule=cand.default_rule)
    after, before = cand.decisions, base.decisions
    tz = timezone or cand.timezone or "UTC"
    notes = _timezone_notes(cand, base)

    per_call = calls[["call_id", "date_started"]].copy()
    # the rule set's local time beside UTC: what a time rule ("Mon-Fri 09:00-17:00") was checked against
    per_call["date_started_local"] = _local_times(per_call["date_started"], tz)
    for side, frame in (("before", before), ("after", after)):
        per_call[f"{side}_target_id"] = frame["target_id"].astype("Int64").to_numpy()
        per_call[f"{side}_target_type"] = pd.Categorical(
            frame["target_type"].astype(object), categories=list(TARGET_TYPES)
        )
        per_call[f"{side}_name"] = _labels(
            per_call[f"{side}_target_id"], per_call[f"{side}_target_type"], names
        )
        per_call[f"{side}_rule"] = pd.Categorical(frame["rule"].to_numpy()) if len(frame) else frame["rule"]
        per_call[f"{side}_default"] = frame["is_default"].astype("boolean").to_numpy()
    has_baseline = per_call["before_target_id"].notna().to_numpy()
    same = (
        per_call["before_target_id"].to_numpy(dtype=np.int64, na_value=0)
        == per_call["after_target_id"].to_numpy(dtype=np.int64, na_value=0)
    ) & (
        per_call["before_target_type"].cat.codes.to_numpy()
        == per_call["after_target_type"].cat.codes.to_numpy()
    )
    per_call["has_baseline"] = has_baseline
    per_call["changed"] = has_baseline & ~same

    hits = _rule_hits(after["rule"], cand.rule_names)
    base_hits = None
    if base.rule_names is not None or before["rule"].notna().any():
        base_hits = _rule_hits(before["rule"], base.rule_names)
    volume = _volume(per_call)
    peaks = _peaks(per_call, capacity, names)
    n_base = int(has_baseline.sum())
    before_default = per_call["before_default"][has_baseline]
    share_before = (
        None if n_base == 0 or before_default.isna().any() else float(before_default.astype(bool).mean())
    )
    summary = ReplaySummary(
        baseline=base.name,
        candidate=cand.name,
        calls=len(per_call),
        with_baseline=n_base,
        no_baseline=len(per_call) - n_base,
        changed=int(per_call["changed"].sum()),
        default_share_before=share_before,
        default_share_after=float(per_call["after_default"].astype(bool).mean()) if len(per_call) else 0.0,
        volume=volume,
        peaks=peaks,
        never_hit=list(hits.loc[hits["calls"] == 0, "rule"]),
        timezone=tz,
        notes=notes,
    )
    return Comparison(per_call, summary=summary, rule_hits=hits, baseline_rule_hits=base_hits, timezone=tz)


@dataclass(frozen=True)
class _Side:
    """One side of a comparison, whatever it was given as: its decisions and what names it."""

    decisions: pd.DataFrame
    name: str
    rule_names: list[str] | None = None
    timezone: str | None = None
    default: tuple[int, str] | None = None
    default_rule: str | None = None
    implicit_utc: bool = False
    reads_time: bool = False


def _timezone_notes(cand: _Side, base: _Side) -> tuple[str, ...]:
    """What the reader must be told about where each side read its hours (and a warning when the
    two sides read them in different timezones)."""
    notes = [
        f"{side.name}: hours/days rules are read in UTC because no timezone was given "
        "(load it with timezone='Area/City', e.g. 'America/Los_Angeles', or fill the tz column)"
        for side in (cand, base)
        if side.implicit_utc
    ]
    if (
        cand.timezone
        and base.timezone
        and cand.timezone != base.timezone
        and cand.reads_time
        and base.reads_time  # a side without hours/days rules reads no clock: its timezone is moot
    ):
        text = (
            f"{cand.name} reads hours/days in {cand.timezone} but {base.name} in {base.timezone}: "
            "the same '09:00-17:00' picks different calls on each side, so some changes are the clock, "
            "not the rules; load both in the office's timezone"
        )
        warnings.warn(text, TimezoneMismatchWarning, stacklevel=caller_stacklevel())
        notes.append(text)
    return tuple(notes)


def _side(
    given: str | RuleSet | pd.DataFrame,
    calls: pd.DataFrame,
    *,
    label: str,
    default: Any = None,
    default_rule: str | None = None,
) -> _Side:
    """Decisions of a rule set (replayed), of the log (``"logged"``) or given as a frame."""
    if isinstance(given, RuleSet):
        d = given.default
        side = _Side(
            replay(calls, given),
            given.name,
            given.rule_names,
            given.timezone,
            (d.target_id, d.target_type),
            d.name,
            given.implicit_utc,
            "date_started" in given.fields,
        )
    elif isinstance(given, str):
        if given != "logged":
            raise ValidationError(f"{given!r}: use 'logged', a RuleSet or a decisions DataFrame", field=label)
        side = _Side(logged_decisions(calls, default=default, default_rule=default_rule), "logged decisions")
    else:
        side = _Side(given, label)
    missing = [c for c in _DECISION_COLUMNS if c not in side.decisions.columns]
    if missing or len(side.decisions) != len(calls):
        raise ValidationError(
            f"decisions must have {', '.join(_DECISION_COLUMNS)} for each of the {len(calls)} calls",
            field=label,
        )
    return side


def _labels(ids: pd.Series, types: pd.Series, names: Mapping[tuple[int, str], str]) -> pd.Categorical:
    """Target names per call, computed once per distinct (id, type)."""
    id_codes, id_uniques = pd.factorize(ids, use_na_sentinel=True)
    type_codes = types.cat.codes.to_numpy().astype(np.int64)
    n_types = len(TARGET_TYPES)
    combined = np.where((id_codes >= 0) & (type_codes >= 0), id_codes * n_types + type_codes, -1)
    codes, uniques = pd.factorize(combined, use_na_sentinel=False)
    labels: list[str | None] = []
    for key in uniques:
        if key < 0:
            labels.append(None)
            continue
        tid, ttype = int(id_uniques[key // n_types]), TARGET_TYPES[key % n_types]
        labels.append(names.get((tid, ttype), f"{ttype} {tid}"))
    # equal names for different targets cannot happen in a directory index keyed by (id, type)
    # unless two targets share a name; keep them apart by suffixing the id
    seen: dict[str, int] = {}
    for i, (label, key) in enumerate(zip(labels, uniques, strict=True)):
        if label is None:
            continue
        if label in seen and seen[label] != key:
            labels[i] = f"{label} ({int(id_uniques[key // n_types])})"
        seen.setdefault(label, key)
    cat_names = pd.Index([lb for lb in dict.fromkeys(labels) if lb is not None], dtype=object)
    lookup = np.array([cat_names.get_loc(lb) if lb is not None else -1 for lb in labels], dtype=np.int64)
    return pd.Categorical.from_codes(lookup[codes], categories=cat_names)


def _local_times(times: pd.Series, tz: str) -> pd.Series:
    try:
        return times.dt.tz_convert(tz)
    except (KeyError, ValueError) as exc:  # zoneinfo's ZoneInfoNotFoundError is a KeyError
        raise ValidationError(f"{tz!r} is not a known timezone ({exc})", field="timezone") from None


def _rule_hits(rule: pd.Series, order: list[str] | None) -> pd.DataFrame:
    counts = pd.Series(rule.astype(object)).value_counts(dropna=True)
    return _hits_table(counts.to_dict(), order)


def _hits_table(counts: Mapping[Any, int], order: list[str] | None) -> pd.DataFrame:
    """Calls per rule (``counts``) as the rule-hits table: every rule of ``order`` (else the
    rules counted, sorted), zeros included."""
    names = order if order is not None else sorted(counts)
    calls = np.array([int(counts.get(n, 0)) for n in names], dtype=np.int64)
    total = calls.sum()
    share_pct = np.round(calls * 100.0 / total, 1) if total else calls * 0.0
    return pd.DataFrame({"rule": names, "calls": calls, "share_pct": share_pct})


def _volume(per_call: pd.DataFrame) -> pd.DataFrame:
    parts = {}
    types = {}
    for side in ("before", "after"):
        grouped = per_call.groupby(per_call[f"{side}_name"], observed=True)
        parts[side] = grouped.size()
        types.update(grouped[f"{side}_target_type"].first().astype(object).to_dict())
    return _volume_table(parts, types)


def _volume_table(parts: Mapping[str, pd.Series], types: Mapping[Any, Any]) -> pd.DataFrame:
    """The volume table from calls per target name on each side (``before``, ``after``)."""
    table = pd.DataFrame(parts).fillna(0).astype(np.int64)
    table.insert(0, "target_type", pd.Series(types))
    table["change"] = table["after"] - table["before"]
    table.index.name = "target"
    return table.sort_values(["after", "before"], ascending=False, kind="stable")


def _peaks(
    per_call: pd.DataFrame,
    capacity: pd.DataFrame | str | os.PathLike | None,
    names: Mapping[tuple[int, str], str],
) -> pd.DataFrame:
    parts = {}
    for side in ("before", "after"):
        counts = _hour_counts(per_call, side)
        parts[f"peak_{side}"] = counts.groupby(level=0).max() if len(counts) else pd.Series(dtype=np.int64)
    vol_types = {}
    for side in ("before", "after"):
        vol_types.update(
            per_call.groupby(per_call[f"{side}_name"], observed=True)[f"{side}_target_type"]
            .first()
            .astype(object)
            .to_dict()
        )
    return _peaks_table(parts, capacity, names, vol_types)


def _hour_counts(per_call: pd.DataFrame, side: str) -> pd.Series:
    """Calls per (target name, UTC clock hour) on one side."""
    ms = per_call["date_started"].astype("datetime64[ms, UTC]").astype("int64").to_numpy()
    hour = ms // _MS_PER_HOUR
    label = per_call[f"{side}_name"]
    if not isinstance(label.dtype, pd.CategoricalDtype):
        label = label.astype("category")
    codes = label.cat.codes.to_numpy().astype(np.int64)
    ok = codes >= 0
    if not ok.any():
        empty = pd.MultiIndex.from_arrays([np.array([], dtype=object), np.array([], dtype=np.int64)])
        return pd.Series([], index=empty, dtype=np.int64)
    # one integer per (name, hour): counted with numpy, not a groupby over strings
    h = hour[ok]
    h0 = int(h.min())
    span = int(h.max()) - h0 + 1
    keys, counts = np.unique(codes[ok] * span + (h - h0), return_counts=True)
    names = np.asarray(label.cat.categories.astype(str), dtype=object)[keys // span]
    index = pd.MultiIndex.from_arrays([names, keys % span + h0])
    return pd.Series(counts.astype(np.int64), index=index)


def _peaks_table(
    parts: Mapping[str, pd.Series],
    capacity: pd.DataFrame | str | os.PathLike | None,
    names: Mapping[tuple[int, str], str],
    vol_types: Mapping[Any, Any],
) -> pd.DataFrame:
    """The peaks table from the busiest hour per target name on each side (``peak_before``,
    ``peak_after``) and each name's target type."""
    table = pd.DataFrame(parts).fillna(0).astype(np.int64)
    table.index.name = "target"
    if capacity is not None:
        cap = load_capacity(capacity)
        cap_by_name = {
            names.get(
                (int(r["target_id"]), str(r["target_type"])), f"{r['target_type']} {r['target_id']}"
            ): int(r["max_calls_per_hour"])
            for r in cap.to_dict("records")
        }
        table["capacity"] = pd.array([cap_by_name.get(n) for n in table.index], dtype="Int64")
        table["over_before"] = (table["peak_before"] > table["capacity"]).astype("boolean")
        table["over_after"] = (table["peak_after"] > table["capacity"]).astype("boolean")
    table.insert(0, "target_type", pd.Series(vol_types))
    return table.sort_values(["peak_after", "peak_before"], ascending=False, kind="stable")
