"""Dialpad's auto-disable rule over a whole attempts log, vectorised.

:class:`dialpad_nb.core.policy.RouterHealthState` applies the rule one call at a
time (the sandbox uses it live). This module computes the same thing for a
log of any size: at every attempt, whether a request was made, the errors in
the sliding window after it, whether it disabled the router — under Dialpad's
numbers or under what-if ones (threshold, window, deadline). It is
property-tested to equal ``RouterHealthState`` driven attempt by attempt.

How it is fast: disabling depends on history, so the rule is sequential, but
only at *episodes*. Between two PATCHes the router is either disabled (every
call skipped) or enabled; while enabled, the window count at each error is a
``searchsorted`` over error times, and the first error whose count exceeds the
threshold is the disabling one — everything after it until the next PATCH
that re-enables is skipped. So the Python loop runs over PATCHes, not calls.

PATCH events (``patches``): a DataFrame with ``PATCH_COLUMNS`` —
``time``, ``router_id`` (missing = every router), ``enabled`` (True / False /
missing = unchanged) and ``reset_error_count``. **Convention:** a PATCH at time
``T`` takes effect after every attempt at times ``<= T`` (so a router disabled
by a call at ``T`` and re-enabled at the same millisecond takes the next call).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..core.errors import ValidationError
from ..core.models import is_missing
from ..core.policy import DIALPAD, ERROR_OUTCOMES, Policy
from .attempts import OUTCOME_DTYPE

__all__ = [
    "PATCH_COLUMNS",
    "RouterWindow",
    "apply_deadline",
    "compare_policies",
    "error_count_curve",
    "infer_patches",
    "make_patches",
    "simulate",
    "simulate_router",
    "window_summary",
    "what_if",
]

PATCH_COLUMNS: tuple[str, ...] = ("time", "router_id", "enabled", "reset_error_count")

_EMPTY_I64 = np.empty(0, dtype=np.int64)


@dataclass(frozen=True)
class RouterWindow:
    """The rule applied to one router's attempts (arrays aligned with the input)."""

    requested: np.ndarray
    """bool: a request was made (False while the router was disabled)."""
    error_count: np.ndarray
    """int64: errors in the window after the attempt."""
    disabled_now: np.ndarray
    """bool: this attempt's error disabled the router."""
    enabled_after: np.ndarray
    """bool: the router was enabled after this attempt (before any later PATCH)."""


def _patch_arrays(patches: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(time ms int64, enabled int8 [1 / 0 / -1 unchanged], reset bool), sorted by time."""
    if patches is None:
        return _EMPTY_I64, np.empty(0, np.int8), np.empty(0, bool)
    if isinstance(patches, pd.DataFrame):
        frame = patches
    else:
        rows = [
            dict(zip(("time", "enabled", "reset_error_count"), p, strict=True)) if isinstance(p, tuple) else p
            for p in patches
        ]
        if not rows:
            return _EMPTY_I64, np.empty(0, np.int8), np.empty(0, bool)
        times = np.array([int(r["time"]) for r in rows], dtype=np.int64)
        en = np.array([-1 if r.get("enabled") is None else int(bool(r["enabled"])) for r in rows], np.int8)
        reset = np.array([bool(r.get("reset_error_count")) for r in rows], dtype=bool)
        order = np.argsort(times, kind="stable")
        return times[order], en[order], reset[order]
    if len(frame) == 0:
        return _EMPTY_I64, np.empty(0, np.int8), np.empty(0, bool)
    times = _time_ms_array(frame["time"])
    enabled = (
        frame["enabled"].astype("boolean") if "enabled" in frame else pd.Series(pd.NA, index=frame.index)
    )
    en = np.where(enabled.isna().to_numpy(), -1, enabled.fillna(False).to_numpy(dtype=bool).astype(np.int8))
    reset = (
        frame["reset_error_count"].astype("boolean").fillna(False).to_numpy(dtype=bool)
        if "reset_error_count" in frame
        else np.zeros(len(frame), bool)
    )
    order = np.argsort(times, kind="stable")
    return times[order], en[order].astype(np.int8), reset[order]


def _time_ms_array(values: Any) -> np.ndarray:
    series = pd.Series(values)
    if pd.api.types.is_datetime64_any_dtype(series):
        if series.dt.tz is None:
            series = series.dt.tz_localize("UTC")
        return series.dt.tz_convert("UTC").astype("datetime64[ms, UTC]").astype("int64").to_numpy()
    return series.astype("int64").to_numpy()


def simulate_router(
    times_ms: Iterable[int] | np.ndarray,
    errors: Iterable[bool] | np.ndarray,
    *,
    policy: Policy = DIALPAD,
    patches: Any = None,
) -> RouterWindow:
    """Apply the auto-disable rule to one router's attempts.

    ``times_ms`` (non-decreasing int ms) and ``errors`` (the call *would* be an
    error if a request were made) are aligned. ``patches``: PATCH events
    (DataFrame with ``PATCH_COLUMNS`` minus ``router_id``, or ``(time, enabled,
    reset)`` tuples). The router starts enabled with no errors."""
    t = np.asarray(times_ms, dtype=np.int64)
    err = np.asarray(errors, dtype=bool)
    if t.shape != err.shape or t.ndim != 1:
        raise ValidationError("times_ms and errors must be 1-d and the same length", field="errors")
    n = t.size
    if n > 1 and bool(np.any(t[1:] < t[:-1])):
        raise ValidationError("must be non-decreasing (sort the attempts by time)", field="times_ms")
    w = policy.window_ms
    threshold = policy.error_threshold
    ev_t, ev_en, ev_reset = _patch_arrays(patches)
    bounds = np.searchsorted(t, ev_t, side="right")

    requested = np.ones(n, dtype=bool)
    disabled_now = np.zeros(n, dtype=bool)
    enabled_after = np.ones(n, dtype=bool)
    err_idx = np.flatnonzero(err)
    counted: list[np.ndarray] = []
    held = _EMPTY_I64  # times of counted errors since the last reset (trimmed lazily)
    reset_starts: list[int] = []
    enabled = True
    start = 0
    for k in range(ev_t.size + 1):
        end = int(bounds[k]) if k < ev_t.size else n
        if end > start:
            if not enabled:
                requested[start:end] = False
                enabled_after[start:end] = False
            else:
                lo, hi = np.searchsorted(err_idx, (start, end))
                cand = err_idx[lo:hi]
                if cand.size:
                    cand_t = t[cand]
                    held = held[held > t[start] - w]
                    both = np.concatenate((held, cand_t))
                    left = np.searchsorted(both, cand_t - w, side="right")
                    count = np.arange(held.size + 1, held.size + cand.size + 1) - left
                    over = np.flatnonzero(count > threshold)
                    if over.size:
                        first = int(over[0])
                        d = int(cand[first])
                        disabled_now[d] = True
                        requested[d + 1 : end] = False
                        enabled_after[d:end] = False
                        enabled = False
                        cand = cand[: first + 1]
                    counted.append(cand)
                    held = np.concatenate((held, t[cand]))
        if k < ev_t.size:
            if ev_reset[k]:
                held = _EMPTY_I64
                reset_starts.append(end)
            if ev_en[k] == 1:
                enabled = True
            elif ev_en[k] == 0:
                enabled = False
        start = end

    cpos = np.concatenate(counted) if counted else _EMPTY_I64
    counted_mask = np.zeros(n, dtype=bool)
    counted_mask[cpos] = True
    before = np.zeros(n + 1, dtype=np.int64)  # before[i]: counted errors at positions < i
    np.cumsum(counted_mask, out=before[1:])
    upper = before[1:]  # counted errors at positions <= i
    lower = np.searchsorted(t[cpos], t - w, side="right")  # ... that are a window old or more
    if reset_starts:
        marks = np.zeros(n, dtype=np.int64)
        starts = np.asarray([r for r in reset_starts if r < n], dtype=np.int64)
        marks[starts] = starts
        first_pos = np.maximum.accumulate(marks)  # the last reset's first position at or before i
        lower = np.maximum(lower, before[first_pos])
    error_count = np.maximum(upper - lower, 0).astype(np.int64)
    return RouterWindow(requested, error_count, disabled_now, enabled_after)


def make_patches(rows: Iterable[Mapping[str, Any] | tuple] = ()) -> pd.DataFrame:
    """A PATCH-events DataFrame from dicts (``time``, ``router_id``, ``enabled``,
    ``reset_error_count``) or ``(time, router_id, enabled, reset_error_count)``
    tuples; times as ms, ISO text or datetimes."""
    from ..core.clock import to_ms

    records = []
    for row in rows:
        rec = dict(zip(PATCH_COLUMNS, row, strict=False)) if isinstance(row, tuple) else dict(row)
        unknown = set(rec) - set(PATCH_COLUMNS)
        if unknown:
            raise ValidationError(f"patch {row!r}: unknown field(s) {sorted(unknown)}", field="patches")
        if "time" not in rec:
            raise ValidationError(f"patch {row!r}: time is required", field="patches")
        time = rec["time"]
        rec["time"] = to_ms(time)
        records.append(rec)
    frame = pd.DataFrame(records, columns=list(PATCH_COLUMNS))
    return pd.DataFrame(
        {
            "time": pd.Series(frame["time"], dtype="int64").astype("datetime64[ms, UTC]"),
            "router_id": pd.Series(frame["router_id"], dtype=object).astype("Int64"),
            "enabled": pd.Series(frame["enabled"], dtype=object).astype("boolean"),
            "reset_error_count": pd.Series(frame["reset_error_count"], dtype=object)
            .astype("boolean")
            .fillna(False)
            .astype(bool),
        }
    )


def apply_deadline(attempts: pd.DataFrame, deadline_s: float) -> pd.Series:
    """Outcomes as they would be with an endpoint deadline of ``deadline_s``.

    A request whose latency exceeds the deadline becomes ``timeout``; an
    answer within it keeps its outcome. A recorded ``timeout`` stays a timeout
    even under a longer deadline: the answer never came, so when it would have
    come is unknown."""
    outcome = attempts["outcome"].astype(OUTCOME_DTYPE)
    over = attempts["latency_ms"].to_numpy(dtype=float) > deadline_s * 1000
    return outcome.where(~over, "timeout")


def _router_codes(attempts: pd.DataFrame) -> tuple[np.ndarray, pd.Index]:
    codes, uniques = pd.factorize(attempts["router_id"], use_na_sentinel=False)
    return codes, pd.Index(uniques)


def simulate(attempts: pd.DataFrame, *, policy: Policy = DIALPAD, patches: Any = None) -> pd.DataFrame:
    """The rule over a whole attempts log, per router, under ``policy``.

    Returns a copy of ``attempts`` (same rows and order) where ``outcome``,
    ``is_error`` and ``error_count`` are what would happen under ``policy``,
    plus ``recorded_outcome``, ``recorded_error_count``, ``requested``,
    ``disabled_now`` and ``enabled_after``.

    * latencies over ``policy.deadline_s`` become ``timeout`` (:func:`apply_deadline`);
    * calls while the router is disabled become ``skipped_disabled`` (they cannot error);
    * a call that was recorded ``skipped_disabled`` but would now be requested
      has an unknown outcome: ``outcome`` is missing (NaN) and it counts as no error.
    """
    missing = [c for c in ("time", "router_id", "latency_ms", "outcome") if c not in attempts]
    if missing:
        raise ValidationError(
            f"missing column(s) {missing}; expected the ATTEMPT_COLUMNS shape", field="attempts"
        )
    n = len(attempts)
    would_be = apply_deadline(attempts, policy.deadline_s)
    recorded_skip = (attempts["outcome"] == "skipped_disabled").to_numpy(dtype=bool)
    errors = would_be.isin(list(ERROR_OUTCOMES)).to_numpy(dtype=bool) & ~recorded_skip
    times = _time_ms_array(attempts["time"])
    codes, routers = _router_codes(attempts)
    if n > 1 and bool(np.all(times[1:] >= times[:-1])):
        small = codes.astype(np.int16) if len(routers) < 2**15 else codes
        order = np.argsort(small, kind="stable")  # already in time order: a stable split by router
    else:
        order = np.lexsort((times, codes))
    sorted_codes = codes[order]
    splits = np.flatnonzero(np.diff(sorted_codes)) + 1
    requested = np.empty(n, bool)
    count = np.empty(n, np.int64)
    disabled = np.empty(n, bool)
    enabled_after = np.empty(n, bool)
    patch_frame = None if patches is None else _as_patch_frame(patches)
    for idx in np.split(order, splits) if n else []:
        router = routers[codes[idx[0]]]
        mine = _patches_for(patch_frame, router)
        res = simulate_router(times[idx], errors[idx], policy=policy, patches=mine)
        requested[idx] = res.requested
        count[idx] = res.error_count
        disabled[idx] = res.disabled_now
        enabled_after[idx] = res.enabled_after

    out = attempts.copy()
    out["recorded_outcome"] = attempts["outcome"].astype(OUTCOME_DTYPE)
    if "error_count" in attempts:
        out["recorded_error_count"] = attempts["error_count"].astype("Int64")
    outcome = would_be.copy()
    outcome[~requested] = "skipped_disabled"
    outcome[requested & recorded_skip] = np.nan
    out["outcome"] = outcome.astype(OUTCOME_DTYPE)
    out["is_error"] = errors & requested
    out["latency_ms"] = attempts["latency_ms"].where(requested)
    if "is_default" in attempts:
        out["is_default"] = attempts["is_default"].astype("boolean").mask(~requested | out["is_error"], True)
    out["error_count"] = pd.array(count, dtype="Int64")
    out["requested"] = requested
    out["disabled_now"] = disabled
    out["enabled_after"] = enabled_after
    return out


def _as_patch_frame(patches: Any) -> pd.DataFrame:
    return patches if isinstance(patches, pd.DataFrame) else make_patches(patches)


def _patches_for(patches: pd.DataFrame | None, router: Any) -> pd.DataFrame | None:
    if patches is None or len(patches) == 0:
        return None
    rid = patches["router_id"] if "router_id" in patches else pd.Series(pd.NA, index=patches.index)
    if is_missing(router):
        mask = rid.isna()
    else:
        mask = rid.isna() | (rid.astype("Int64") == router).fillna(False)
    return patches[mask.to_numpy(dtype=bool)]


def window_summary(sim: pd.DataFrame) -> pd.DataFrame:
    """Per router: attempts, requests, errors, disables, skipped calls, calls
    with an unknown outcome, the largest window count and the first disable."""
    frame = sim.assign(
        unknown=sim["outcome"].isna(),
        skipped=sim["outcome"] == "skipped_disabled",
        router=sim["router_id"],
    )
    first_disable = frame["time"].where(frame["disabled_now"])
    grouped = frame.assign(first_disable=first_disable).groupby("router", dropna=False, sort=True)
    summary = grouped.agg(
        attempts=("time", "size"),
        requests=("requested", "sum"),
        errors=("is_error", "sum"),
        disables=("disabled_now", "sum"),
        skipped=("skipped", "sum"),
        unknown=("unknown", "sum"),
        max_error_count=("error_count", "max"),
        first_disable=("first_disable", "min"),
    )
    summary.index.name = "router_id"
    return summary.astype(
        {c: "int64" for c in ("attempts", "requests", "errors", "disables", "skipped", "unknown")}
    )


def compare_policies(
    attempts: pd.DataFrame, policies: Mapping[str, Policy], *, patches: Any = None
) -> pd.DataFrame:
    """One row per (policy label, router): the :func:`window_summary` under each
    policy, with the policy's deadline, threshold and window beside it."""
    parts = []
    for label, policy in policies.items():
        summary = window_summary(simulate(attempts, policy=policy, patches=patches))
        summary.insert(0, "window_min", policy.window_s / 60)
        summary.insert(0, "threshold", policy.error_threshold)
        summary.insert(0, "deadline_s", policy.deadline_s)
        summary.insert(0, "policy", label)
        parts.append(summary.reset_index())
    return pd.concat(parts, ignore_index=True).set_index(["policy", "router_id"])


def what_if(
    attempts: pd.DataFrame,
    *,
    patches: Any = None,
    deadline_s: float | None = None,
    error_threshold: int | None = None,
    window_s: float | None = None,
    base: Policy = DIALPAD,
) -> pd.DataFrame:
    """Dialpad's numbers against changed ones, e.g. ``what_if(log, deadline_s=3)``:
    "with a 3 s budget, how many errors, how many disables?"."""
    changes = {
        k: v
        for k, v in {
            "deadline_s": deadline_s,
            "error_threshold": error_threshold,
            "window_s": window_s,
        }.items()
        if v is not None
    }
    return compare_policies(attempts, {"dialpad": base, "what-if": base.replace(**changes)}, patches=patches)


def infer_patches(attempts: pd.DataFrame, *, policy: Policy = DIALPAD) -> pd.DataFrame:
    """PATCH events implied by a recorded log.

    * **re-enable**: the router was disabled after a call (a ``skipped_disabled``
      call, or — when the log has ``error_count`` — an error whose recorded count
      exceeds ``policy.error_threshold``) and the next call was requested;
    * **reset**: a call's recorded ``error_count`` is below what the window
      would still hold (errors expire, they do not vanish), so the count was
      reset before it — with or without a re-enable.

    Each inferred PATCH is timed at the call before the change (it applies after
    that call). The log only says that the PATCH happened between the two calls;
    and a reset while the window was empty leaves no trace."""
    rows: list[dict[str, Any]] = []
    for router, group in attempts.groupby("router_id", dropna=False, sort=True):
        group = group.sort_values("time", kind="stable")
        n = len(group)
        times = _time_ms_array(group["time"])
        skipped = (group["outcome"] == "skipped_disabled").to_numpy(dtype=bool)
        errs = group["outcome"].isin(list(ERROR_OUTCOMES)).to_numpy(dtype=bool)
        has_count = "error_count" in group and bool(group["error_count"].notna().any())
        disabled_after = skipped.copy()
        resets = np.zeros(n, dtype=bool)
        if has_count:
            recorded = group["error_count"].astype("Int64")
            known = recorded.notna().to_numpy(dtype=bool)
            rec = recorded.fillna(0).to_numpy(dtype=np.int64)
            disabled_after |= errs & known & (rec > policy.error_threshold)
            before = np.zeros(n + 1, dtype=np.int64)
            np.cumsum(errs, out=before[1:])
            upper = before[1:]
            lower_t = np.searchsorted(times[errs], times - policy.window_ms, side="right")
            from_pos = 0
            while True:
                expected = upper - np.maximum(lower_t, before[from_pos])
                bad = np.flatnonzero(known & (rec < expected))
                bad = bad[bad >= max(from_pos, 1)]
                if bad.size == 0:
                    break
                from_pos = int(bad[0])
                resets[from_pos] = True
        reenable = np.zeros(n, dtype=bool)
        reenable[1:] = disabled_after[:-1] & ~skipped[1:]
        rid = None if is_missing(router) else int(router)  # type: ignore[arg-type]  # an id
        for i in np.flatnonzero(reenable | resets):
            rows.append(
                {
                    "time": int(times[i - 1]),
                    "router_id": rid,
                    "enabled": True if reenable[i] else None,
                    "reset_error_count": bool(resets[i]),
                }
            )
    return make_patches(rows)


def error_count_curve(
    sim: pd.DataFrame, *, router_id: Any = None, policy: Policy = DIALPAD, patches: Any = None
) -> pd.DataFrame:
    """The window count of one router as a step function of time.

    ``sim`` is :func:`simulate`'s output (its ``is_error`` rows are the counted
    errors) and ``patches`` the same PATCHes given to it. Returns ``time`` and
    ``error_count`` at every change: each attempt, each error turning a window
    old, and 1 ms after each reset. Between two rows the count is constant (plot
    it as a ``post`` step). At an attempt's time it equals that attempt's
    ``error_count`` (the last one, when several share the millisecond)."""
    rid = sim["router_id"]
    if router_id is None:
        mine = sim[rid.isna().to_numpy(dtype=bool)] if rid.isna().any() else sim
    else:
        mine = sim[(rid == router_id).fillna(False).to_numpy(dtype=bool)]
    times = np.sort(_time_ms_array(mine["time"]))
    errors = np.sort(_time_ms_array(mine["time"][mine["is_error"].to_numpy(dtype=bool)]))
    mine_patches = _patches_for(None if patches is None else _as_patch_frame(patches), router_id)
    ev_t, _, ev_reset = _patch_arrays(mine_patches)
    resets = ev_t[ev_reset]
    w = policy.window_ms
    points = np.unique(np.concatenate((times, errors + w, resets + 1)))
    upper = np.searchsorted(errors, points, side="right")
    lower = np.searchsorted(errors, points - w, side="right")
    if resets.size:
        which = np.searchsorted(resets, points - 1, side="right") - 1  # last reset at or before point - 1
        reset_at = np.where(which >= 0, resets[np.maximum(which, 0)], np.iinfo(np.int64).min)
        lower = np.maximum(lower, np.searchsorted(errors, reset_at, side="right"))
    count = np.maximum(upper - lower, 0)
    return pd.DataFrame(
        {
            "time": pd.Series(points, dtype="int64").astype("datetime64[ms, UTC]"),
            "error_count": count.astype("int64"),
        }
    )
