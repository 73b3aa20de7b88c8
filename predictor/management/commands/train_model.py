from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from predictor import training
from predictor.models import ModelVersion


class Command(BaseCommand):
    help = "Train a model on a Height,Weight,Species CSV and record it as a new, active model version."

    def add_arguments(self, parser):
        parser.add_argument(
            "--data",
            type=Path,
            default=training.DEFAULT_TRAINING_DATA,
            help="CSV with the columns Height,Weight,Species (default: the shipped animals.csv).",
        )
        parser.add_argument(
            "--algorithm",
            default=training.DEFAULT_ALGORITHM,
            choices=sorted(training.ALGORITHMS),
            help="scikit-learn classifier to train (default: %(default)s).",
        )
        parser.add_argument(
            "--no-activate", action="store_true", help="Record the new version without making it active."
        )
        parser.add_argument(
            "--if-none-active",
            action="store_true",
            help="Do nothing when a version is already active (used by `make run` on first start).",
        )

    def handle(self, *args, data: Path, algorithm: str, no_activate: bool, if_none_active: bool, **options):
        if if_none_active and (active := ModelVersion.objects.active().first()):
            self.stdout.write(f"Model v{active.version} is active; not retraining.")
            return
        try:
            result = training.train(data_path=data, algorithm=algorithm, activate=not no_activate)
        except training.TrainingDataError as error:
            raise CommandError(str(error)) from None
        version, data_summary = result.version, result.data
        counts = ", ".join(f"{label} {count}" for label, count in version.class_counts.items())
        state = "active" if version.is_active else "recorded, not active"
        self.stdout.write(
            self.style.SUCCESS(f"Trained model v{version.version} ({version.algorithm}, {state}).")
            + f"\n  rows: {version.training_rows} from {data_summary.name} ({counts})"
            + f"\n  cross-validated accuracy: {version.cv_accuracy:.1%} ({version.cv_folds}-fold stratified)"
            + f"\n  artifact: {version.artifact_name} (sha256 {version.artifact_sha256[:12]}…)"
        )
