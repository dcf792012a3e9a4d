"""Every auto-disable rule of BEHAVIOUR.md, against the one live implementation in ``policy``."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dialpad_nb.core.policy import (
    DIALPAD,
    ERROR_OUTCOMES,
    OUTCOMES,
    ErrorWindow,
    Policy,
    RouterHealthState,
    is_error,
    reply_outcome,
)

T0 = 1_767_603_600_000  # 2026-01-05T09:00:00Z
MIN = 60_000
HOUR = 60 * MIN


# --------------------------------------------------------------------------- the numbers


def test_dialpad_numbers_match_behaviour_md():
    assert DIALPAD.deadline_s == 5.0
    assert DIALPAD.error_threshold == 10
    assert DIALPAD.window_s == 3600.0
    assert DIALPAD.patch_interval_s == 300.0
    assert DIALPAD.min_secret_length == 32
    assert (DIALPAD.deadline_ms, DIALPAD.window_ms, DIALPAD.patch_interval_ms) == (5000, HOUR, 5 * MIN)


def test_outcomes_and_which_are_errors():
    assert set(OUTCOMES) == {
        "ok",
        "timeout",
        "connect_error",
        "http_status",
        "invalid_response",
        "unknown_target",
        "skipped_disabled",
    }
    assert ERROR_OUTCOMES == {"timeout", "connect_error", "http_status", "invalid_response", "unknown_target"}
    assert not is_error("ok") and not is_error("skipped_disabled")
    assert all(is_error(o) for o in ERROR_OUTCOMES)


def test_is_error_rejects_an_unknown_outcome_by_name():
    with pytest.raises(ValueError, match="'teapot'"):
        is_error("teapot")


@pytest.mark.parametrize(
    "status, latency_ms, expected",
    [
        (200, 4999.0, None),
        (200, 5000.0, None),  # at the deadline is still in time
        (200, 5000.5, "timeout"),
        (503, 6000.0, "timeout"),  # late: Dialpad gave up before seeing the status
        (503, 10.0, "http_status"),
        (302, 10.0, "http_status"),
        (204, 10.0, None),
    ],
)
def test_reply_outcome_checks_the_deadline_before_the_status(status, latency_ms, expected):
    assert reply_outcome(status, latency_ms, deadline_ms=5000) == expected


@pytest.mark.parametrize(
    "field, value", [("deadline_s", 0), ("error_threshold", -1), ("window_s", 0), ("patch_interval_s", -1)]
)
def test_policy_rejects_impossible_numbers_naming_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        Policy(**{field: value})


def test_policy_replace_changes_one_number_and_keeps_dialpad():
    what_if = DIALPAD.replace(error_threshold=5)
    assert what_if.error_threshold == 5 and what_if.window_s == DIALPAD.window_s
    assert DIALPAD.error_threshold == 10


# --------------------------------------------------------------------------- the window


def test_error_counts_while_younger_than_an_hour():
    w = ErrorWindow()
    w.add(T0)
    assert w.count(T0) == 1
    assert w.count(T0 + HOUR - 1) == 1


def test_error_exactly_an_hour_old_has_expired():
    w = ErrorWindow()
    w.add(T0)
    assert w.count(T0 + HOUR) == 0


def test_window_slides_one_error_at_a_time():
    w = ErrorWindow()
    for i in range(5):
        w.add(T0 + i * 10 * MIN)  # 0, 10, 20, 30, 40 min
    assert w.count(T0 + 40 * MIN) == 5
    assert w.count(T0 + 60 * MIN) == 4  # the one at 0 min expired
    assert w.count(T0 + 70 * MIN) == 3
    assert w.count(T0 + 100 * MIN) == 0


def test_window_refuses_time_going_backwards():
    w = ErrorWindow()
    w.add(T0 + 10)
    with pytest.raises(ValueError, match="earlier"):
        w.add(T0)


def test_errors_at_the_same_millisecond_all_count():
    w = ErrorWindow()
    assert [w.add(T0) for _ in range(3)] == [1, 2, 3]


@settings(max_examples=60, deadline=None)
@given(
    gaps=st.lists(st.integers(min_value=0, max_value=2 * HOUR), min_size=1, max_size=40),
    probe=st.integers(min_value=0, max_value=3 * HOUR),
)
def test_window_count_equals_brute_force_definition(gaps, probe):
    """count(t) == #{e : t - window < e <= t}, computed naively from the same times."""
    times, t = [], T0
    for g in gaps:
        t += g
        times.append(t)
    w = ErrorWindow(times=times)
    now = times[-1] + probe
    assert w.count(now) == sum(1 for e in times if now - HOUR < e <= now)


# --------------------------------------------------------------------------- auto-disable


def _errors(state: RouterHealthState, n: int, start: int = T0, step: int = MIN):
    return [state.record(start + i * step, error=True) for i in range(n)]


def test_ten_errors_in_an_hour_keep_the_router_enabled():
    s = RouterHealthState()
    verdicts = _errors(s, 10)
    assert s.enabled
    assert [v.error_count for v in verdicts] == list(range(1, 11))
    assert not any(v.disabled_now for v in verdicts)


def test_eleventh_error_inside_the_hour_disables_the_router():
    s = RouterHealthState()
    verdicts = _errors(s, 11)
    assert not s.enabled
    last = verdicts[-1]
    assert last.requested and last.disabled_now and last.error_count == 11


def test_eleven_errors_spread_over_more_than_an_hour_do_not_disable():
    s = RouterHealthState()
    _errors(s, 11, step=6 * MIN)  # 0..60 min: the first expires exactly when the 11th arrives
    assert s.enabled
    assert s.error_count(T0 + 60 * MIN) == 10


def test_eleventh_error_one_millisecond_inside_the_hour_disables():
    s = RouterHealthState()
    _errors(s, 10, step=6 * MIN)  # 0..54 min
    v = s.record(T0 + HOUR - 1, error=True)
    assert v.disabled_now and not s.enabled


def test_successful_calls_do_not_count_or_clear_errors():
    s = RouterHealthState()
    _errors(s, 5)
    v = s.record(T0 + 10 * MIN, error=False)
    assert v.requested and v.error_count == 5 and not v.disabled_now


def test_disabled_router_makes_no_request_and_does_not_count():
    s = RouterHealthState()
    _errors(s, 11)
    v = s.record(T0 + 20 * MIN, error=True)  # the caller says "error", but no request is made
    assert not v.requested and not v.disabled_now
    assert v.error_count == 11
    assert s.error_count(T0 + 20 * MIN) == 11


def test_reenable_keeps_the_count_so_the_next_error_disables_again():
    s = RouterHealthState()
    _errors(s, 11)
    s.patch(enabled=True)
    assert s.enabled and s.error_count(T0 + 15 * MIN) == 11
    v = s.record(T0 + 15 * MIN, error=True)
    assert v.disabled_now and not s.enabled and v.error_count == 12


def test_reenable_with_ten_errors_left_in_window_disables_on_the_next_error():
    s = RouterHealthState()
    _errors(s, 11, step=3 * MIN)  # 0..30 min, disabled at 30
    s.patch(enabled=True)
    now = T0 + HOUR + 1  # the error at 0 min expired: 10 left
    assert s.error_count(now) == 10
    assert s.record(now, error=True).disabled_now


def test_reenable_after_errors_expire_starts_clean():
    s = RouterHealthState()
    _errors(s, 11)
    s.patch(enabled=True)
    now = T0 + 10 * MIN + HOUR  # all 11 (0..10 min) have expired
    v = s.record(now, error=True)
    assert v.error_count == 1 and s.enabled


def test_reset_error_count_clears_the_window():
    s = RouterHealthState()
    _errors(s, 11)
    s.patch(enabled=True, reset_error_count=True)
    assert s.enabled and s.error_count(T0 + 11 * MIN) == 0
    verdicts = _errors(s, 10, start=T0 + 11 * MIN)
    assert s.enabled and verdicts[-1].error_count == 10
    assert s.record(T0 + 30 * MIN, error=True).disabled_now


def test_reset_without_enabling_keeps_the_router_disabled():
    s = RouterHealthState()
    _errors(s, 11)
    s.patch(reset_error_count=True)
    assert not s.enabled and s.error_count(T0 + 11 * MIN) == 0


def test_patch_disable_then_calls_are_skipped():
    s = RouterHealthState()
    s.patch(enabled=False)
    v = s.record(T0, error=False)
    assert not v.requested and v.error_count == 0


def test_state_rebuilt_from_stored_error_times_matches_the_live_one():
    live = RouterHealthState()
    _errors(live, 7, step=9 * MIN)
    rebuilt = RouterHealthState(enabled=live.enabled, error_times=live.window.times())
    now = T0 + 80 * MIN
    assert rebuilt.error_count(now) == live.error_count(now)
    assert rebuilt.record(now, error=True) == live.record(now, error=True)


def test_threshold_comes_from_the_policy():
    s = RouterHealthState(DIALPAD.replace(error_threshold=2))
    verdicts = _errors(s, 3)
    assert [v.disabled_now for v in verdicts] == [False, False, True]


@settings(max_examples=60, deadline=None)
@given(
    events=st.lists(
        st.tuples(st.integers(min_value=0, max_value=20 * MIN), st.booleans()), min_size=1, max_size=60
    )
)
def test_router_disables_exactly_when_a_naive_count_first_exceeds_ten(events):
    """The live state against a brute-force reading of BEHAVIOUR.md (no re-enable)."""
    s = RouterHealthState()
    t, counted, disabled_at = T0, [], None
    for i, (gap, error) in enumerate(events):
        t += gap
        v = s.record(t, error=error)
        if disabled_at is None and error:
            counted.append(t)
            if sum(1 for e in counted if t - HOUR < e <= t) > 10:
                disabled_at = i
        assert v.disabled_now == (disabled_at == i)
        assert v.requested == (disabled_at is None or i <= disabled_at)
    assert s.enabled == (disabled_at is None)
