"""Reading the audit trail of one record. Callers pass a record the user can already see."""

from __future__ import annotations

from django.db import models
from django.db.models import QuerySet

from marketloop.audit.models import AuditEntry
from marketloop.audit.services import object_type


def trail_of(obj: models.Model) -> QuerySet[AuditEntry]:
    return AuditEntry.objects.filter(object_type=object_type(obj), object_id=obj.pk).select_related(
        "actor"
    )
