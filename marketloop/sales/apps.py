from django.apps import AppConfig


class SalesConfig(AppConfig):
    name = "marketloop.sales"
    label = "sales"
    verbose_name = "Sales"
