from django.apps import AppConfig


class LeadsConfig(AppConfig):
    name = "marketloop.leads"
    label = "leads"
    verbose_name = "Leads"

    def ready(self) -> None:
        from marketloop.leads import handlers

        handlers.subscribe()
