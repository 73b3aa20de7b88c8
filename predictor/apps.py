from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PredictorConfig(AppConfig):
    name = "predictor"
    verbose_name = _("Predictions")

    def ready(self) -> None:
        from . import model_service  # noqa: F401  (connects its setting_changed receiver)
