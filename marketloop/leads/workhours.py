"""Working hours for hand-off deadlines: Monday to Friday, 09:00–18:00 China Standard Time,
without China's public holidays and with the weekend days the State Council makes working
days in exchange (调休), as published in the `chinesecalendar` package. For years the package
does not cover yet (it raises NotImplementedError), plain weekdays count."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar

ZONE = ZoneInfo("Asia/Shanghai")
DAY_START = time(9, 0)
DAY_END = time(18, 0)
MAX_DAYS = 3660  # no real calendar runs out of working days for ten years


def is_working_day(day: date) -> bool:
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        return day.weekday() < 5


def _open(day: date) -> datetime:
    return datetime.combine(day, DAY_START, tzinfo=ZONE)


def _close(day: date) -> datetime:
    return datetime.combine(day, DAY_END, tzinfo=ZONE)


def next_working_moment(moment: datetime) -> datetime:
    """`moment` if it falls within working hours, else the start of the next working day."""
    local = moment.astimezone(ZONE)
    day = local.date()
    if is_working_day(day) and local < _close(day):
        return max(local, _open(day))
    for _step in range(MAX_DAYS):
        day += timedelta(days=1)
        if is_working_day(day):
            return _open(day)
    raise ValueError("no working day within ten years")


def add_working_hours(start: datetime, hours: float) -> datetime:
    """The moment `hours` working hours after `start` (China Standard Time)."""
    if hours < 0:
        raise ValueError("hours must not be negative")
    current = next_working_moment(start)
    remaining = timedelta(hours=hours)
    for _step in range(MAX_DAYS):
        left_today = _close(current.date()) - current
        if remaining <= left_today:
            return current + remaining
        remaining -= left_today
        current = next_working_moment(_close(current.date()))
    raise ValueError("no working day within ten years")


def working_hours_between(start: datetime, end: datetime) -> float:
    """Working hours from `start` to `end` (negative when `end` is earlier)."""
    if end < start:
        return -working_hours_between(end, start)
    total = timedelta()
    current = next_working_moment(start)
    for _step in range(MAX_DAYS):
        if current >= end:
            break
        close = _close(current.date())
        total += min(close, end) - current
        current = next_working_moment(close)
    return total.total_seconds() / 3600
