"""Parse a Prometheus text exposition (what ``GET /metrics`` answers) into plain numbers."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pandas as pd
from prometheus_client.parser import text_string_to_metric_families

from dialpad_nb.core.endpoint_log import fallback_reason


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """``{(sample name, sorted labels): value}`` of every sample in the exposition."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def by_label(text: str, name: str, label: str) -> dict[str, float]:
    """``{label value: value}`` of one labelled counter (``pid`` labels summed)."""
    out: Counter[str] = Counter()
    for (sample, labels), value in samples(text).items():
        if sample == name:
            out[dict(labels)[label]] += value
    return dict(out)


def value(text: str, name: str, **labels: str) -> float:
    return samples(text)[(name, tuple(sorted(labels.items())))]


def log_counts(frame: pd.DataFrame) -> dict[str, Any]:
    """What the metrics should say, counted from ``read_log(...).frame``."""
    reasons = Counter(
        r
        for r in (
            fallback_reason(o, f if isinstance(f, bool) else None, None if pd.isna(e) else e)
            for o, f, e in zip(frame["outcome"], frame["fallback"], frame["error"], strict=True)
        )
        if r is not None
    )
    ok = frame[frame["outcome"] == "ok"]
    return {
        "requests": dict(Counter(frame["outcome"])),
        "fallbacks": dict(reasons),
        "rule_hits": dict(Counter(ok["rule"].dropna())),
        "count": len(frame),
    }


def nonzero(counts: dict[str, float]) -> dict[str, float]:
    return {k: v for k, v in counts.items() if v}
