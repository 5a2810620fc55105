"""The demo data set's generators and its bulk loading, on an empty database."""

from __future__ import annotations

import datetime as dt

from django.db import connection

from marketloop import demo
from marketloop.crm.models import Account


def test_same_seed_same_data_other_seed_other_data():
    first = demo.generate_accounts(500, seed=7)
    assert first == demo.generate_accounts(500, seed=7)
    assert first != demo.generate_accounts(500, seed=8)
    assert list(demo.generate_contacts(first, 900, seed=7)) == list(
        demo.generate_contacts(first, 900, seed=7))
    assert demo.partner_names(7) == demo.partner_names(7)


def test_bulk_mode_rebuilds_every_index_and_foreign_key(db):
    def schema() -> list[tuple[str, str]]:
        with connection.cursor() as cursor:
            cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename IN "
                           "('crm_account', 'crm_contact', 'crm_consent') UNION ALL "
                           "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                           "WHERE conrelid::regclass::text IN "
                           "('crm_account', 'crm_contact', 'crm_consent') ORDER BY 1, 2")
            return cursor.fetchall()

    before = schema()
    result = demo.build_demo(accounts=120, contacts=100, bulk=True, progress=lambda _m: None)
    assert result.created and Account.objects.count() == 120
    assert schema() == before


def test_copy_lines_round_trip_through_postgresql(db):
    row = (7, 'tab\there, new\nline, back\\slash, "quote"', None, True,
           ["华为", 'a"b', "x,y", "{}", "NULL", "\\"],
           dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone(dt.timedelta(hours=8))))
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE copy_probe (i bigint, t text, n text, b boolean, "
                       "a varchar(4)[], d timestamptz)")
        with cursor.cursor.copy("COPY copy_probe FROM STDIN") as copy:
            copy.write(demo.copy_line(row).encode())
        cursor.execute("SELECT i, t, n, b, a, d FROM copy_probe")
        assert cursor.fetchone() == row
