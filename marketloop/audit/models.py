"""Audit trail: who changed what on which record, before and after."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class AuditEntry(models.Model):
    at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                              on_delete=models.SET_NULL, related_name="+")
    action = models.CharField(max_length=40)  # created, updated, rerouted, imported, ...
    object_type = models.CharField(max_length=60)  # "crm.account"
    object_id = models.BigIntegerField()
    changes = models.JSONField(default=dict)  # {field: [before, after]}
    reason = models.TextField(blank=True)

    class Meta:
        indexes = [models.Index(fields=["object_type", "object_id", "-at"])]
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.object_type}#{self.object_id} {self.action}"
