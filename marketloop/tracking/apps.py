from django.apps import AppConfig


class TrackingConfig(AppConfig):
    name = "marketloop.tracking"
    label = "tracking"
    verbose_name = "Tracking"

    def ready(self) -> None:
        from marketloop.tracking import handlers

        handlers.subscribe()
