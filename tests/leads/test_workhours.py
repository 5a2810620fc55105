"""Hand-off deadlines count working hours: Monday to Friday 09:00–18:00 China time, without
China's public holidays, with the weekend days made working days in exchange."""

from __future__ import annotations

from datetime import datetime

import pytest

from marketloop.leads.workhours import (
    ZONE,
    add_working_hours,
    is_working_day,
    next_working_moment,
    working_hours_between,
)


def cst(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=ZONE)


def test_friday_five_pm_plus_two_hours_is_monday_ten_am():
    # 2026-11-20 is a Friday.
    assert add_working_hours(cst(2026, 11, 20, 17), 2) == cst(2026, 11, 23, 10)


def test_hours_within_one_day_and_up_to_closing_time():
    assert add_working_hours(cst(2026, 11, 18, 9), 4) == cst(2026, 11, 18, 13)
    assert add_working_hours(cst(2026, 11, 18, 9), 9) == cst(2026, 11, 18, 18)
    assert add_working_hours(cst(2026, 11, 18, 9), 9.5) == cst(2026, 11, 19, 9, 30)


def test_the_clock_starts_at_the_next_opening_outside_working_hours():
    assert add_working_hours(cst(2026, 11, 18, 7, 30), 1) == cst(2026, 11, 18, 10)
    assert add_working_hours(cst(2026, 11, 18, 19), 1) == cst(2026, 11, 19, 10)
    assert add_working_hours(cst(2026, 11, 21, 12), 1) == cst(2026, 11, 23, 10)  # Saturday


def test_national_day_week_is_skipped():
    # 2026: 1–7 October are holidays; Wednesday 30 September is the last working day before.
    assert add_working_hours(cst(2026, 9, 30, 17), 2) == cst(2026, 10, 8, 10)
    for day in range(1, 8):
        assert not is_working_day(cst(2026, 10, day).date())


def test_saturday_10_october_2026_is_a_working_day():
    assert is_working_day(cst(2026, 10, 10).date())
    # Friday 9 October 17:00 + 2 h: one hour on Friday, one on the working Saturday.
    assert add_working_hours(cst(2026, 10, 9, 17), 2) == cst(2026, 10, 10, 10)


def test_spring_festival_is_skipped():
    # 2026: the holiday runs 15–23 February; 14 February (Saturday) is a working day.
    assert is_working_day(cst(2026, 2, 14).date())
    assert not is_working_day(cst(2026, 2, 16).date())
    assert add_working_hours(cst(2026, 2, 14, 17), 2) == cst(2026, 2, 24, 10)


def test_years_the_calendar_does_not_cover_count_plain_weekdays():
    assert is_working_day(cst(2027, 10, 1).date())  # a Friday; no holiday data for 2027
    assert not is_working_day(cst(2027, 10, 2).date())
    assert add_working_hours(cst(2027, 10, 1, 17), 2) == cst(2027, 10, 4, 10)


def test_the_result_is_the_same_moment_whatever_the_zone_of_the_start():
    from datetime import UTC

    start = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)  # 17:00 in China
    assert add_working_hours(start, 2) == cst(2026, 11, 23, 10)


def test_working_hours_between_counts_only_working_time():
    assert working_hours_between(cst(2026, 11, 20, 17), cst(2026, 11, 23, 10)) == 2
    assert working_hours_between(cst(2026, 11, 23, 10), cst(2026, 11, 20, 17)) == -2
    assert working_hours_between(cst(2026, 9, 30, 9), cst(2026, 10, 8, 9)) == 9


def test_next_working_moment_keeps_a_moment_inside_working_hours():
    assert next_working_moment(cst(2026, 11, 18, 11, 15)) == cst(2026, 11, 18, 11, 15)
    assert next_working_moment(cst(2026, 11, 18, 18)) == cst(2026, 11, 19, 9)


def test_negative_hours_are_refused():
    with pytest.raises(ValueError):
        add_working_hours(cst(2026, 11, 18, 9), -1)
