from datetime import UTC, datetime, timedelta, timezone

import pytest

from dialpad_nb.core.clock import SimulatedClock, SystemClock, ms_to_datetime, parse_time_ms


def test_parse_time_accepts_ms_iso_and_datetimes():
    assert parse_time_ms(1_700_000_000_000) == 1_700_000_000_000
    assert parse_time_ms("1700000000000") == 1_700_000_000_000
    assert parse_time_ms("2026-01-05T09:00:00Z") == 1_767_603_600_000
    assert parse_time_ms("2026-01-05T01:00:00-08:00") == 1_767_603_600_000
    # naive = UTC
    assert parse_time_ms(datetime(2026, 1, 5, 9)) == 1_767_603_600_000
    aware = datetime(2026, 1, 5, 10, tzinfo=timezone(timedelta(hours=1)))
    assert parse_time_ms(aware) == 1_767_603_600_000


@pytest.mark.parametrize("bad", ["yesterday", "", "2026-13-01", float("nan"), float("inf")])
def test_parse_time_rejects_text_naming_it(bad):
    with pytest.raises(ValueError, match="not a time"):
        parse_time_ms(bad)


def test_parse_time_rejects_bool_and_other_types():
    with pytest.raises(TypeError):
        parse_time_ms(True)
    with pytest.raises(TypeError):
        parse_time_ms([1])


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
