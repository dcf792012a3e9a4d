import math
from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dialpad_nb.core.clock import MAX_MS, MIN_MS, SimulatedClock, SystemClock, check_ms, ms_to_datetime, to_ms
from dialpad_nb.core.errors import ValidationError


def test_parse_time_accepts_ms_iso_and_datetimes():
    assert to_ms(1_700_000_000_000) == 1_700_000_000_000
    assert to_ms("1700000000000") == 1_700_000_000_000
    assert to_ms("2026-01-05T09:00:00Z") == 1_767_603_600_000
    assert to_ms("2026-01-05T01:00:00-08:00") == 1_767_603_600_000
    # naive = UTC
    assert to_ms(datetime(2026, 1, 5, 9)) == 1_767_603_600_000
    aware = datetime(2026, 1, 5, 10, tzinfo=timezone(timedelta(hours=1)))
    assert to_ms(aware) == 1_767_603_600_000


@pytest.mark.parametrize("bad", ["yesterday", "", "2026-13-01", float("nan"), float("inf")])
def test_parse_time_rejects_text_naming_it(bad):
    with pytest.raises(ValueError, match="not a time"):
        to_ms(bad)


def test_parse_time_rejects_bool_and_other_types_naming_the_field():
    for bad in (True, None, [1], {"ms": 1}, pd.NaT, pd.NA, np.datetime64("NaT")):
        with pytest.raises(ValidationError, match="^when: "):
            to_ms(bad, field="when")


# --------------------------------------------------------------------------- one converter, one rule


def test_times_are_floored_to_the_millisecond_everywhere():
    # the three converters that used to exist answered 801 / 800 / 801 and 2 / TypeError / 1
    sub_ms = datetime(2026, 1, 5, 9, 0, 0, 999_600, tzinfo=UTC)
    assert to_ms(sub_ms) == 1_767_603_600_999
    assert to_ms(pd.Timestamp("2026-01-05T09:00:00.9996Z")) == 1_767_603_600_999
    assert to_ms("2026-01-05T09:00:00.9996Z") == 1_767_603_600_999
    assert to_ms(1.7) == 1 and to_ms(-0.5) == -1
    assert to_ms(np.datetime64("2026-01-05T09:00:00.999600")) == 1_767_603_600_999
    assert to_ms(np.int64(5)) == 5 and to_ms(np.float64(5.9)) == 5


@settings(max_examples=300, deadline=None)
@given(st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(9999, 12, 31), timezones=st.just(UTC)))
def test_the_scalar_converter_equals_pandas_vectorised_conversion(dt):
    vectorised = pd.Series([dt]).astype("datetime64[ms, UTC]").astype("int64").iloc[0]
    assert to_ms(dt) == to_ms(pd.Timestamp(dt)) == to_ms(dt.isoformat()) == vectorised


@settings(max_examples=300, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False, min_value=-1e15, max_value=1e15))
def test_floats_are_floored(value):
    assert to_ms(value) == math.floor(value)


def test_non_finite_floats_are_refused():
    for bad in (float("nan"), float("inf"), float("-inf")):
        with pytest.raises(ValidationError, match="not a time"):
            to_ms(bad)


def test_check_ms_keeps_times_to_the_years_1970_to_9999():
    assert check_ms(MIN_MS) == MIN_MS and check_ms(MAX_MS) == MAX_MS
    for bad in (MIN_MS - 1, MAX_MS + 1, 10**17):
        with pytest.raises(ValidationError, match="^at: .*1970-9999"):
            check_ms(bad, field="at")


def test_simulated_clock_only_moves_forward():
    clock = SimulatedClock("2026-01-05T09:00:00Z")
    start = clock.now_ms()
    assert clock.advance(1.5) == start + 1500
    assert clock.set(start + 10_000) == start + 10_000
    with pytest.raises(ValueError, match="monotonic"):
        clock.set(start)
    with pytest.raises(ValueError):
        clock.advance(-1)
    assert clock.advance_to_at_least(start) == start + 10_000
    assert clock.advance_to_at_least(start + 20_000) == start + 20_000


def test_ms_to_datetime_is_utc():
    assert ms_to_datetime(1_767_603_600_000) == datetime(2026, 1, 5, 9, tzinfo=UTC)


def test_system_clock_tracks_wall_time():
    before = int(datetime.now(UTC).timestamp() * 1000)
    now = SystemClock().now_ms()
    after = int(datetime.now(UTC).timestamp() * 1000)
    assert before - 1 <= now <= after + 1
