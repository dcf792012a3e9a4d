"""What the shadows would have done on live calls: mismatches with the control, Scientist-style.

:func:`shadow_report` reads an endpoint log (or what :func:`~dialpad_nb.calls.read_experiment`
read from one) and compares every shadow's result with the control's own, request by request
(:func:`~dialpad_nb.core.endpoint_log.shadow_verdict`, the same comparison ``/metrics`` counts):

* ``summary`` — per shadow: requests it saw; of those, how many could be compared (both gave a
  target), matches and mismatches, the mismatch rate with its Wilson interval; and the ones
  that could not be compared: the shadow timed out, failed, had no free thread, or the control
  itself failed;
* ``over_time`` — the mismatch rate per shadow per period (``freq``) in ``timezone``;
* ``rules`` — which control rule met which shadow rule, with counts;
* ``flows`` — control target → shadow target (by name), with counts;
* ``samples`` — a seeded sample of mismatches with the call's context (when, who called which
  line, contact type, both answers by name and rule);
* ``durations`` — each shadow's time to answer (p50, p99, max: real timings, they vary by run).

A mismatch is not an error: it is where the candidate would route differently. Read the
``rules`` and ``flows`` tables to see whether it is the change you meant.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..calls.endpoint_log import LogSource
from ..calls.experiment_log import ExperimentRead, read_experiment
from .intervals import wilson_interval

__all__ = ["ShadowReport", "shadow_report"]

NameOf = Callable[[int, str], str]


@dataclass(frozen=True)
class ShadowReport:
    """:func:`shadow_report`'s tables (see the module docstring)."""

    summary: pd.DataFrame
    over_time: pd.DataFrame
    rules: pd.DataFrame
    flows: pd.DataFrame
    samples: pd.DataFrame
    durations: pd.DataFrame
    timezone: str
    freq: str
    read: ExperimentRead = field(repr=False)

    @property
    def rejects(self) -> pd.DataFrame:
        """Log lines that could not be read (the one rejects frame: line and reason)."""
        return self.read.rejects

    @property
    def headline(self) -> str:
        parts = []
        for rec in self.summary.to_dict("records"):
            if rec["compared"]:
                parts.append(
                    f"{rec['shadow']}: {rec['mismatch']:,} of {rec['compared']:,} compared calls differ "
                    f"({rec['mismatch_rate']:.1%}, 95% CI {rec['ci_low']:.1%}-{rec['ci_high']:.1%})"
                )
            else:
                parts.append(f"{rec['shadow']}: nothing to compare")
        return "; ".join(parts) or "no shadow results in this log"

    def __repr__(self) -> str:
        return f"ShadowReport({self.read.summary})\n{self.headline}\n{self.summary.to_string(index=False)}"

    def _repr_html_(self) -> str:
        table = self.summary.to_html(index=False, float_format=lambda v: f"{v:.3f}")
        return (
            f"<p><b>Shadow report</b> — {html.escape(self.read.summary)}</p>"
            f"<p>{html.escape(self.headline)}</p>{table}"
            "<p style='color:#555'>compared: both the control and the shadow gave a target; mismatch rate with "
            "its 95% Wilson interval. Timeouts, errors and busy are the shadow's own failures (never sent).</p>"
        )


def shadow_report(
    source: LogSource | ExperimentRead,
    *,
    timezone: str = "UTC",
    freq: str = "1h",
    name_of: NameOf | None = None,
    samples: int = 10,
    seed: int = 0,
) -> ShadowReport:
    """Compare every shadow with the control on the requests of an endpoint log (module
    docstring). ``source``: a log (path, ``EndpointLog``, records) or a
    :class:`~dialpad_nb.calls.ExperimentRead`; corrupt lines are in ``.rejects``. ``name_of(id,
    type)`` names targets (e.g. ``client.targets().name_of``); ``samples`` mismatches per shadow
    are drawn with ``seed``."""
    read = source if isinstance(source, ExperimentRead) else read_experiment(source)
    shadows = read.shadows
    joined = shadows.merge(read.frame, on=["source", "line"], how="left", suffixes=("", "_req"))
    name = _namer(name_of)
    names = list(dict.fromkeys(shadows["shadow"].astype(str)))
    return ShadowReport(
        summary=_summary(shadows, names),
        over_time=_over_time(shadows, names, timezone, freq),
        rules=_rules(joined),
        flows=_flows(joined, name),
        samples=_samples(joined, name, timezone, samples, seed),
        durations=_durations(shadows, names),
        timezone=timezone,
        freq=freq,
        read=read,
    )


def _namer(name_of: NameOf | None) -> Callable[[Any, Any], str]:
    def name(tid: Any, ttype: Any) -> str:
        if pd.isna(tid):
            return "(none)"
        if name_of is not None:
            return str(name_of(int(tid), str(ttype)))
        return f"{ttype} {int(tid)}"

    return name


_VERDICT_COLUMNS = ("match", "mismatch", "timeout", "error", "busy", "control_failed")


def _summary(shadows: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    rows = []
    for shadow in names:
        verdicts = shadows.loc[shadows["shadow"] == shadow, "verdict"].astype(str).value_counts()
        counts = {v: int(verdicts.get(v, 0)) for v in _VERDICT_COLUMNS}
        compared = counts["match"] + counts["mismatch"]
        low, high = wilson_interval(counts["mismatch"], compared)
        rows.append(
            {
                "shadow": shadow,
                "requests": int(verdicts.sum()),
                "compared": compared,
                "match": counts["match"],
                "mismatch": counts["mismatch"],
                "mismatch_rate": counts["mismatch"] / compared if compared else np.nan,
                "ci_low": low,
                "ci_high": high,
                **{k: counts[k] for k in ("timeout", "error", "busy", "control_failed")},
            }
        )
    columns = ["shadow", "requests", "compared", "match", "mismatch", "mismatch_rate", "ci_low", "ci_high",
               "timeout", "error", "busy", "control_failed"]  # fmt: skip
    return pd.DataFrame(rows, columns=columns).astype({"shadow": "string"})


def _local(times: pd.Series, timezone: str) -> pd.Series:
    """Wall-clock times in ``timezone`` (naive: the column's name says the zone)."""
    return times.dt.tz_convert(timezone).dt.tz_localize(None)


def _over_time(shadows: pd.DataFrame, names: list[str], timezone: str, freq: str) -> pd.DataFrame:
    start = f"start ({timezone})"
    if not len(shadows):
        return pd.DataFrame(
            columns=["shadow", start, "compared", "mismatch", "mismatch_rate", "ci_low", "ci_high"]
        )
    frame = pd.DataFrame(
        {
            "shadow": shadows["shadow"].astype(str),
            start: _local(shadows["time"], timezone).dt.floor(freq),
            "compared": shadows["verdict"].isin(["match", "mismatch"]).astype(int),
            "mismatch": (shadows["verdict"] == "mismatch").astype(int),
        }
    )
    out = frame.groupby(["shadow", start], sort=False).sum().reset_index()
    out["shadow"] = pd.Categorical(out["shadow"], categories=names)
    out = out.sort_values(["shadow", start], ignore_index=True)
    out["shadow"] = out["shadow"].astype(str).astype("string")
    out["mismatch_rate"] = np.where(
        out["compared"] > 0, out["mismatch"] / out["compared"].clip(lower=1), np.nan
    )
    bounds = [wilson_interval(int(m), int(c)) for m, c in zip(out["mismatch"], out["compared"], strict=True)]
    out["ci_low"] = [b[0] for b in bounds]
    out["ci_high"] = [b[1] for b in bounds]
    return out


def _rule_label(rule: Any, outcome: Any) -> str:
    if outcome == "no_match":
        return "(no match: fallback)"
    return "(unnamed)" if pd.isna(rule) else str(rule)


def _compared(joined: pd.DataFrame) -> pd.DataFrame:
    return joined[joined["verdict"].isin(["match", "mismatch"])]


def _rules(joined: pd.DataFrame) -> pd.DataFrame:
    rows = _compared(joined)
    columns = ["shadow", "control_rule", "shadow_rule", "calls", "mismatch"]
    if not len(rows):
        return pd.DataFrame(columns=columns)
    table = pd.DataFrame(
        {
            "shadow": rows["shadow"].astype(str),
            "control_rule": [
                _rule_label(r, o) for r, o in zip(rows["control_rule"], rows["control_outcome"], strict=True)
            ],
            "shadow_rule": [_rule_label(r, o) for r, o in zip(rows["rule"], rows["outcome"], strict=True)],
            "mismatch": (rows["verdict"] == "mismatch").to_numpy(),
        }
    )
    out = table.groupby(["shadow", "control_rule", "shadow_rule"], sort=False).agg(
        calls=("mismatch", "size"), mismatch=("mismatch", "sum")
    )
    out = out.reset_index().sort_values(
        ["shadow", "calls", "control_rule"], ascending=[True, False, True], ignore_index=True
    )
    return out[columns].astype({"calls": "int64", "mismatch": "int64"})


def _flows(joined: pd.DataFrame, name: Callable[[Any, Any], str]) -> pd.DataFrame:
    rows = _compared(joined)
    columns = ["shadow", "control_target", "shadow_target", "calls", "changed"]
    if not len(rows):
        return pd.DataFrame(columns=columns)
    table = pd.DataFrame(
        {
            "shadow": rows["shadow"].astype(str),
            "control_target": [
                name(t, k)
                for t, k in zip(rows["control_target_id"], rows["control_target_type"], strict=True)
            ],
            "shadow_target": [
                name(t, k) for t, k in zip(rows["target_id"], rows["target_type"], strict=True)
            ],
            "changed": (rows["verdict"] == "mismatch").to_numpy(),
        }
    )
    counts = table.groupby(["shadow", "control_target", "shadow_target", "changed"], sort=False).size()
    out = counts.rename("calls").reset_index()
    out = out.sort_values(
        ["shadow", "calls", "control_target"], ascending=[True, False, True], ignore_index=True
    )
    return out[columns]


def _samples(
    joined: pd.DataFrame, name: Callable[[Any, Any], str], timezone: str, n: int, seed: int
) -> pd.DataFrame:
    when = f"time ({timezone})"
    columns = [when, "call_id", "caller", "dialled", "contact_type", "shadow", "control_target", "control_rule",
               "shadow_target", "shadow_rule"]  # fmt: skip
    rows = joined[joined["verdict"] == "mismatch"]
    if not len(rows) or n <= 0:
        return pd.DataFrame(columns=columns)
    picked = []
    for _, group in rows.groupby("shadow", sort=False):
        k = min(n, len(group))
        picked.append(group.sample(n=k, random_state=seed).sort_values(["time", "line"]))
    sample = pd.concat(picked)
    out = pd.DataFrame(
        {
            when: sample["time"].dt.tz_convert(timezone).array,  # aware: every time says its zone
            "call_id": sample["call_id"].to_numpy(),
            "caller": sample["external_number"].to_numpy(),
            "dialled": sample["internal_number"].to_numpy(),
            "contact_type": sample["contact_type"].to_numpy(),
            "shadow": sample["shadow"].astype(str).to_numpy(),
            "control_target": [
                name(t, k)
                for t, k in zip(sample["control_target_id"], sample["control_target_type"], strict=True)
            ],
            "control_rule": [
                _rule_label(r, o)
                for r, o in zip(sample["control_rule"], sample["control_outcome"], strict=True)
            ],
            "shadow_target": [
                name(t, k) for t, k in zip(sample["target_id"], sample["target_type"], strict=True)
            ],
            "shadow_rule": [
                _rule_label(r, o) for r, o in zip(sample["rule"], sample["outcome"], strict=True)
            ],
        }
    )
    return out[columns].reset_index(drop=True)


def _durations(shadows: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    rows = []
    for shadow in names:
        d = shadows.loc[shadows["shadow"] == shadow, "duration_ms"].dropna().to_numpy()
        rows.append(
            {
                "shadow": shadow,
                "results": len(d),
                "p50_ms": float(np.percentile(d, 50)) if len(d) else np.nan,
                "p99_ms": float(np.percentile(d, 99)) if len(d) else np.nan,
                "max_ms": float(d.max()) if len(d) else np.nan,
            }
        )
    return pd.DataFrame(rows, columns=["shadow", "results", "p50_ms", "p99_ms", "max_ms"])
