from django.apps import AppConfig


class CrmConfig(AppConfig):
    name = "marketloop.crm"
    label = "crm"
    verbose_name = "Customers"
