from django.apps import AppConfig


class PredictorConfig(AppConfig):
    name = "predictor"
    verbose_name = "Predictions"

    def ready(self) -> None:
        from . import model_service  # noqa: F401  (connects its setting_changed receiver)
