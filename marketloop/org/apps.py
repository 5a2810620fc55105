from django.apps import AppConfig


class OrgConfig(AppConfig):
    name = "marketloop.org"
    label = "org"
    verbose_name = "Organisation"
