from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "marketloop.audit"
    label = "audit"
