"""The vectorised auto-disable rule equals RouterHealthState, call by call."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dialpad_nb.core.policy import DIALPAD, RouterHealthState
from dialpad_nb.health.attempts import attempts_from_records
from dialpad_nb.health.window import (
    apply_deadline,
    error_count_curve,
    infer_patches,
    make_patches,
    simulate,
    simulate_router,
    what_if,
    window_summary,
)

HOUR = DIALPAD.window_ms
T0 = 1_767_600_000_000  # 2026-01-05T08:00:00Z


def reference(times, errors, patches, policy):
    """Drive the live class: attempts and patches merged, a patch after attempts at its ms."""
    items = [(t, 0, i) for i, t in enumerate(times)] + [(p[0], 1, j) for j, p in enumerate(patches)]
    items.sort(key=lambda x: (x[0], x[1], x[2]))
    state = RouterHealthState(policy)
    n = len(times)
    requested = np.zeros(n, bool)
    count = np.zeros(n, np.int64)
    disabled = np.zeros(n, bool)
    enabled_after = np.zeros(n, bool)
    for t, kind, i in items:
        if kind == 0:
            verdict = state.record(t, error=bool(errors[i]))
            requested[i] = verdict.requested
            count[i] = verdict.error_count
            disabled[i] = verdict.disabled_now
            enabled_after[i] = state.enabled
        else:
            _, enabled, reset = patches[i]
            state.patch(enabled=enabled, reset_error_count=reset)
    return requested, count, disabled, enabled_after


@st.composite
def sequences(draw):
    threshold = draw(st.integers(0, 4))
    window_ms = draw(st.sampled_from([10, 1000, HOUR]))
    policy = DIALPAD.replace(error_threshold=threshold, window_s=window_ms / 1000)
    gap = st.one_of(
        st.sampled_from([0, 1, window_ms - 1, window_ms, window_ms + 1, window_ms // 2, window_ms // 3]),
        st.integers(0, 2 * window_ms),
    )
    n = draw(st.integers(0, 60))
    times, errors, patches = [], [], []
    now = T0
    for _ in range(n):
        now += draw(gap)
        if draw(st.integers(0, 9)) == 0:
            enabled = draw(st.sampled_from([True, True, False, None]))
            patches.append((now, enabled, draw(st.booleans())))
        else:
            times.append(now)
            errors.append(draw(st.booleans() | st.just(True)))
    return policy, times, errors, patches


@settings(max_examples=300, deadline=None)
@given(sequences())
def test_simulate_router_equals_router_health_state(case):
    policy, times, errors, patches = case
    got = simulate_router(times, errors, policy=policy, patches=patches)
    want = reference(times, errors, patches, policy)
    np.testing.assert_array_equal(got.requested, want[0])
    np.testing.assert_array_equal(got.error_count, want[1])
    np.testing.assert_array_equal(got.disabled_now, want[2])
    np.testing.assert_array_equal(got.enabled_after, want[3])


def frame(rows):
    """rows: (router_id, time_ms, outcome, latency_ms)"""
    return attempts_from_records(
        [{"router_id": r, "time": t, "outcome": o, "latency_ms": lat} for r, t, o, lat in rows],
        source="test",
    )


@settings(max_examples=60, deadline=None)
@given(st.lists(sequences(), min_size=1, max_size=3))
def test_simulate_frame_equals_live_class_per_router(cases):
    policy = cases[0][0]
    rows, patch_rows, want = [], [], {}
    for router, (_, times, errors, patches) in enumerate(cases, start=1):
        for t, e in zip(times, errors, strict=True):
            rows.append((router, t, "http_status" if e else "ok", 10.0))
        patch_rows += [(t, router, en, reset) for t, en, reset in patches]
        want[router] = reference(times, errors, patches, policy)
    rows.sort(key=lambda r: r[1])  # a log interleaves routers by time (ties keep each router's order)
    attempts = frame(rows)
    sim = simulate(attempts, policy=policy, patches=make_patches(patch_rows))
    for router, (requested, count, disabled, _) in want.items():
        mine = sim[sim["router_id"] == router].sort_values("time", kind="stable")
        assert mine["requested"].tolist() == requested.tolist()
        assert mine["error_count"].astype(int).tolist() == count.tolist()
        assert mine["disabled_now"].tolist() == disabled.tolist()


def test_the_eleventh_error_in_an_hour_disables_and_later_calls_are_skipped():
    times = [T0 + i * 60_000 for i in range(13)]
    res = simulate_router(times, [True] * 13)
    assert res.error_count.tolist()[:11] == list(range(1, 12))
    assert np.flatnonzero(res.disabled_now).tolist() == [10]
    assert res.requested.tolist() == [True] * 11 + [False, False]


def test_an_error_exactly_one_hour_old_has_expired():
    # 10 errors, then the 11th exactly 60 min after the first: only 10 in the window
    times = [T0] + [T0 + 1000 * i for i in range(1, 10)] + [T0 + HOUR]
    res = simulate_router(times, [True] * 11)
    assert res.error_count[-1] == 10
    assert not res.disabled_now.any()
    res = simulate_router(times[:-1] + [T0 + HOUR - 1], [True] * 11)
    assert res.disabled_now[-1]


def test_reenable_keeps_errors_unless_reset():
    times = [T0 + i for i in range(12)]
    errors = [True] * 12
    keep = simulate_router(times, errors, patches=[(T0 + 10, True, False)])
    assert keep.disabled_now.tolist()[10:] == [True, True]  # re-enabled with 11 held: next error disables
    reset = simulate_router(times, errors, patches=[(T0 + 10, True, True)])
    assert reset.error_count.tolist()[10:] == [11, 1]
    assert not reset.disabled_now[11]


def test_patch_at_the_same_ms_as_the_disabling_call_applies_after_it():
    times = [T0 + i for i in range(11)] + [T0 + 10]
    res = simulate_router(times, [True] * 11 + [False], patches=[(T0 + 10, True, True)])
    assert res.disabled_now[10]
    assert res.requested[11] == np.False_  # same ms as the patch: still before it
    res = simulate_router(times[:-1] + [T0 + 11], [True] * 11 + [False], patches=[(T0 + 10, True, True)])
    assert res.requested[11] and res.error_count[11] == 0


def test_unsorted_times_are_refused():
    with pytest.raises(ValueError, match="non-decreasing"):
        simulate_router([2, 1], [True, True])


def test_apply_deadline_turns_slow_answers_into_timeouts_and_keeps_recorded_timeouts():
    attempts = frame(
        [
            (1, T0, "ok", 2999.0),
            (1, T0 + 1, "ok", 3001.0),
            (1, T0 + 2, "timeout", 1500.0),
            (1, T0 + 3, "skipped_disabled", np.nan),
        ]
    )
    assert apply_deadline(attempts, 3.0).tolist() == ["ok", "timeout", "timeout", "skipped_disabled"]


def test_a_shorter_deadline_makes_more_errors_and_disables():
    rows = [(7, T0 + i * 60_000, "ok", 3500.0) for i in range(12)] + [(7, T0 + 13 * 60_000, "ok", 100.0)]
    table = what_if(frame(rows), deadline_s=3.0)
    assert table.loc[("dialpad", 7), "errors"] == 0
    assert table.loc[("what-if", 7), "errors"] == 11
    assert table.loc[("what-if", 7), "disables"] == 1
    assert table.loc[("what-if", 7), "skipped"] == 2


def test_a_call_recorded_skipped_but_now_requested_has_unknown_outcome():
    rows = [(1, T0 + i, "timeout", 5000.0) for i in range(11)] + [(1, T0 + 20, "skipped_disabled", np.nan)]
    sim = simulate(frame(rows), policy=DIALPAD.replace(error_threshold=20))
    assert pd.isna(sim["outcome"].iloc[-1]) and not sim["is_error"].iloc[-1]
    assert window_summary(sim).loc[1, "unknown"] == 1


def test_simulate_keeps_row_order_and_records_the_original_outcome():
    rows = [(1, T0 + 5, "ok", 1.0), (1, T0, "timeout", 5000.0)]
    reversed_log = frame(rows).iloc[::-1]  # latest first
    sim = simulate(reversed_log)
    assert sim.index.tolist() == reversed_log.index.tolist()
    assert sim["recorded_outcome"].tolist() == ["ok", "timeout"]
    assert sim["error_count"].tolist() == [1, 1]  # the later ok call still sees the timeout


def test_patches_without_router_apply_to_every_router():
    rows = [(r, T0 + i, "http_status", 10.0) for r in (1, 2) for i in range(12)]
    sim = simulate(
        frame(rows), patches=make_patches([{"time": T0 + 10, "enabled": True, "reset_error_count": True}])
    )
    assert window_summary(sim)["skipped"].tolist() == [0, 0]


def test_infer_patches_finds_reenables_and_resets_from_recorded_counts():
    # live class records a log: 11 errors disable, 2 skipped, re-enable with reset, 1 ok
    state = RouterHealthState()
    records = []
    for i in range(14):
        if i == 13:
            state.patch(enabled=True, reset_error_count=True)
        v = state.record(T0 + i, error=i < 13)
        outcome = "skipped_disabled" if not v.requested else ("timeout" if i < 13 else "ok")
        records.append({"router_id": 3, "time": T0 + i, "outcome": outcome, "error_count": v.error_count})
    patches = infer_patches(attempts_from_records(records, source="test"))
    assert patches["reset_error_count"].tolist() == [True]
    assert patches["enabled"].tolist() == [True]
    assert patches["time"].tolist() == [pd.Timestamp(T0 + 12, unit="ms", tz="UTC")]


def test_make_patches_names_the_bad_field():
    with pytest.raises(ValueError, match="unknown field"):
        make_patches([{"time": T0, "enable": True}])


@st.composite
def recorded_logs(draw):
    """A log recorded by the live class, with re-enables / resets at random, times strictly increasing."""
    threshold = draw(st.integers(0, 3))
    window_ms = draw(st.sampled_from([10, 1000]))
    policy = DIALPAD.replace(error_threshold=threshold, window_s=window_ms / 1000)
    gap = st.one_of(
        st.sampled_from([1, window_ms - 1, window_ms, window_ms + 1]), st.integers(1, 2 * window_ms)
    )
    state = RouterHealthState(policy)
    records = []
    now = T0
    for _ in range(draw(st.integers(0, 50))):
        now += draw(gap)
        if records and draw(st.integers(0, 5)) == 0:
            state.patch(enabled=draw(st.sampled_from([True, None])), reset_error_count=draw(st.booleans()))
            continue
        error = draw(st.booleans() | st.just(True))
        v = state.record(now, error=error)
        outcome = "skipped_disabled" if not v.requested else ("timeout" if error else "ok")
        records.append({"router_id": 1, "time": now, "outcome": outcome, "error_count": v.error_count})
    return policy, attempts_from_records(records, source="test")


@settings(max_examples=120, deadline=None)
@given(recorded_logs())
def test_inferred_patches_reproduce_a_recorded_log(case):
    policy, log = case
    sim = simulate(log, policy=policy, patches=infer_patches(log, policy=policy))
    assert sim["error_count"].tolist() == log["error_count"].tolist()
    assert (sim["outcome"].astype(str) == log["outcome"].astype(str)).all()


@settings(max_examples=150, deadline=None)
@given(sequences())
def test_error_count_curve_matches_the_count_at_every_attempt_and_counts_in_between(case):
    policy, times, errors, patches = case
    log = frame([(1, t, "timeout" if e else "ok", 1.0) for t, e in zip(times, errors, strict=True)])
    table = make_patches([(t, 1, en, reset) for t, en, reset in patches])
    sim = simulate(log, policy=policy, patches=table)
    curve = error_count_curve(sim, router_id=1, policy=policy, patches=table)
    ct = curve["time"].astype("int64").to_numpy()
    value_at = lambda t: int(curve["error_count"].to_numpy()[np.searchsorted(ct, t, side="right") - 1])  # noqa: E731
    last = sim.groupby(sim["time"].astype("int64"))["error_count"].last()
    for t, count in last.items():
        assert value_at(t) == count
    # between points, the live class agrees too: replay up to a time and ask the window
    state = RouterHealthState(policy)
    items = sorted(
        [(t, 0, e) for t, e in zip(times, errors, strict=True)] + [(p[0], 1, p) for p in patches],
        key=lambda x: (x[0], x[1]),
    )
    probe_times = sorted(set(ct.tolist()) | {t + 1 for t in ct.tolist()})
    k = 0
    for q in probe_times:
        while k < len(items) and items[k][0] <= q - (1 if items[k][1] == 1 else 0) and items[k][0] <= q:
            t, kind, x = items[k]
            if kind == 0:
                state.record(t, error=x)
            else:
                state.patch(enabled=x[1], reset_error_count=x[2])
            k += 1
        if k == len(items) or items[k][0] > q:
            assert value_at(q) == state.error_count(q), q
