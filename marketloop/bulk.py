"""Bulk inserts with PostgreSQL COPY: several times faster than bulk_create for the thousands
of rows an import chunk or a re-routing run writes (Django binds bulk_create's parameters on
the client)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections, models


def _preparer(field: models.Field, conn: Any) -> Callable[[Any], Any]:
    """How COPY gets a field's value: plain values as they are (psycopg adapts them), the rest
    (JSON, arrays, auto_now dates, ...) prepared by the field as bulk_create would."""
    attname = field.attname
    auto = getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False)
    if isinstance(field, PLAIN_FIELDS) and not auto:
        return lambda obj: getattr(obj, attname)
    return lambda obj: field.get_db_prep_save(field.pre_save(obj, True), conn)


PLAIN_FIELDS = (models.CharField, models.TextField, models.IntegerField, models.BooleanField,
                models.ForeignKey, models.DateTimeField)


def copy_insert(objs: list[Any]) -> None:
    """Insert new rows of one model with COPY, setting their ids (taken from the table's
    sequence first): like bulk_create, several times faster for the thousands of rows of a
    chunk. Every concrete field is written."""
    if not objs:
        return
    meta = type(objs[0])._meta
    conn = connections[DEFAULT_DB_ALIAS]
    fields = [meta.pk, *(f for f in meta.concrete_fields if not f.primary_key)]
    prepare = [_preparer(f, conn) for f in fields]
    quote = conn.ops.quote_name
    with conn.cursor() as cursor:
        cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, %s)) "
                       "FROM generate_series(1, %s)", [meta.db_table, meta.pk.column, len(objs)])
        for obj, (pk,) in zip(objs, cursor.fetchall(), strict=True):
            obj.pk = pk
        columns = ", ".join(quote(f.column) for f in fields)
        with cursor.cursor.copy(f"COPY {quote(meta.db_table)} ({columns}) FROM STDIN") as copy:
            for obj in objs:
                copy.write_row([p(obj) for p in prepare])
    for obj in objs:
        obj._state.adding, obj._state.db = False, conn.alias


