"""Confidence intervals for comparing two arms: proportions and percentiles.

* :func:`wilson_interval` — Wilson's score interval for one proportion ``k / n`` (good near 0
  and 1 and for small ``n``, unlike the normal approximation);
* :func:`newcombe_interval` — Newcombe's hybrid score interval for a difference of two
  independent proportions ``k1/n1 - k2/n2`` (method 10 of Newcombe, *Statistics in Medicine*
  1998; built from the two Wilson intervals);
* :func:`bootstrap_percentile_diff` — the percentile bootstrap of a difference of two
  percentiles (each arm resampled on its own, a seeded generator: the same numbers every run).

A difference is called *significant* when its interval excludes 0.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np

from ..core.errors import ValidationError

__all__ = ["bootstrap_percentile_diff", "newcombe_interval", "wilson_interval", "z_value"]


def z_value(confidence: float) -> float:
    """The two-sided standard normal quantile for ``confidence`` (0.95 -> 1.95996...)."""
    if not 0 < confidence < 1:
        raise ValidationError(f"must be between 0 and 1, got {confidence!r}", field="confidence")
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def wilson_interval(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson's score interval for the proportion ``k / n``; ``(nan, nan)`` when ``n`` is 0."""
    if n < 0 or not 0 <= k <= max(n, 0):
        raise ValidationError(f"need 0 <= k <= n, got k={k}, n={n}", field="k")
    if n == 0:
        return (math.nan, math.nan)
    z = z_value(confidence)
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (0.0 if k == 0 else max(0.0, centre - half), 1.0 if k == n else min(1.0, centre + half))


def newcombe_interval(k1: int, n1: int, k2: int, n2: int, confidence: float = 0.95) -> tuple[float, float]:
    """Newcombe's hybrid score interval for ``k1/n1 - k2/n2``; ``(nan, nan)`` if an arm is empty."""
    if n1 == 0 or n2 == 0:
        return (math.nan, math.nan)
    p1, p2 = k1 / n1, k2 / n2
    l1, u1 = wilson_interval(k1, n1, confidence)
    l2, u2 = wilson_interval(k2, n2, confidence)
    d = p1 - p2
    lower = d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    upper = d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return (lower, upper)


def bootstrap_percentile_diff(
    a: np.ndarray,
    b: np.ndarray,
    q: float,
    *,
    confidence: float = 0.95,
    n_boot: int = 2000,
    seed: int = 0,
) -> tuple[float, float, float]:
    """``(percentile_q(a) - percentile_q(b), lower, upper)``: the observed difference and its
    percentile-bootstrap interval (``n_boot`` resamples of each arm, generator seeded with
    ``seed``). ``q`` in [0, 100]; NaN values are dropped; ``(nan, nan, nan)`` if an arm is empty."""
    a = np.asarray(a, dtype="float64")
    b = np.asarray(b, dtype="float64")
    a, b = a[~np.isnan(a)], b[~np.isnan(b)]
    if not len(a) or not len(b):
        return (math.nan, math.nan, math.nan)
    z_value(confidence)  # validates
    rng = np.random.default_rng(seed)
    ra = np.percentile(rng.choice(a, size=(n_boot, len(a)), replace=True), q, axis=1)
    rb = np.percentile(rng.choice(b, size=(n_boot, len(b)), replace=True), q, axis=1)
    diffs = ra - rb
    alpha = (1 - confidence) / 2
    lower, upper = np.quantile(diffs, [alpha, 1 - alpha])
    return (float(np.percentile(a, q) - np.percentile(b, q)), float(lower), float(upper))
