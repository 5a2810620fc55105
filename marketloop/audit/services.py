"""Recording audit entries. Every business write in every context calls `record`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.db import models

from marketloop.audit.models import AuditEntry
from marketloop.bulk import copy_insert


def object_type(obj: models.Model | type[models.Model]) -> str:
    return obj._meta.label_lower


def _plain(value: Any) -> Any:
    if isinstance(value, models.Model):
        return str(value)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def snapshot(obj: models.Model, fields: Iterable[str]) -> dict[str, Any]:
    """Field values as shown to people (a related row by its name)."""
    return {name: _plain(getattr(obj, name)) for name in fields}


def diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, list[Any]]:
    names = list(after) + [name for name in before if name not in after]
    return {
        name: [before.get(name), after.get(name)]
        for name in names
        if before.get(name) != after.get(name)
    }


def record(*, actor: Any, obj: models.Model, action: str, changes: dict[str, list[Any]],
           reason: str = "") -> AuditEntry:
    return AuditEntry.objects.create(
        actor=actor if getattr(actor, "pk", None) else None,
        action=action, object_type=object_type(obj), object_id=obj.pk,
        changes=changes, reason=reason,
    )


def entry(*, actor: Any, obj: models.Model, action: str, changes: dict[str, list[Any]],
          reason: str = "") -> AuditEntry:
    """An unsaved entry, for bulk writes (imports, re-routing)."""
    return AuditEntry(
        actor=actor if getattr(actor, "pk", None) else None,
        action=action, object_type=object_type(obj), object_id=obj.pk,
        changes=changes, reason=reason,
    )


def record_many(entries: list[AuditEntry]) -> None:
    copy_insert(entries)
