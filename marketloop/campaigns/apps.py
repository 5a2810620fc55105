from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    name = "marketloop.campaigns"
    label = "campaigns"
    verbose_name = "Campaigns"

    def ready(self) -> None:
        from marketloop.campaigns import handlers

        handlers.subscribe()
