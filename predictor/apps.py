from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PredictorConfig(AppConfig):
    name = "predictor"
    verbose_name = _("Predictions")

    def ready(self) -> None:
        # Imported once the models are: the job kinds register themselves with predictor.jobs
        # (batch uploads, retraining), the model service connects its setting_changed receiver,
        # and the jobs' counts join /metrics. Every process (web, worker, command) needs all three.
        from predictor.history import batch  # noqa: F401
        from predictor.jobs import collector
        from predictor.ops import metrics
        from predictor.registry import training  # noqa: F401
        from predictor.serving import model_service  # noqa: F401

        metrics.register_scrape_collector(collector.JobsCollector())
