"""Monthly partitions of tracking_touchpoint, created ahead of time and on demand."""

from __future__ import annotations

from datetime import date, datetime

from django.db import connection

PARENT = "tracking_touchpoint"


def month_start(moment: datetime | date) -> date:
    return date(moment.year, moment.month, 1)


def next_month(month: date) -> date:
    return date(month.year + (month.month == 12), month.month % 12 + 1, 1)


def partition_name(month: date) -> str:
    return f"{PARENT}_{month:%Y%m}"


def ensure_partitions(months: set[date]) -> None:
    """Create the partitions for `months` that do not exist yet (idempotent). Not cached in
    the process: a partition created in a transaction that rolled back is gone again, and the
    catalogue lookup costs a fraction of a millisecond per processed slice."""
    missing = set(months)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = %s", [PARENT])
        existing = {row[0] for row in cursor.fetchall()}
        for month in sorted(missing):
            if partition_name(month) not in existing:
                cursor.execute(
                    f"CREATE TABLE IF NOT EXISTS {partition_name(month)} PARTITION OF {PARENT} "
                    f"FOR VALUES FROM ('{month:%Y-%m-%d}') TO ('{next_month(month):%Y-%m-%d}')")


def months_around(today: date, *, before: int = 1, after: int = 3) -> set[date]:
    month = month_start(today)
    for _ in range(before):
        month = date(month.year - (month.month == 1), (month.month - 2) % 12 + 1, 1)
    months = set()
    for _ in range(before + after + 1):
        months.add(month)
        month = next_month(month)
    return months
