from django.apps import AppConfig


class ScoringConfig(AppConfig):
    name = "marketloop.scoring"
    label = "scoring"
    verbose_name = "Scoring"

    def ready(self) -> None:
        from marketloop.scoring import handlers

        handlers.subscribe()
