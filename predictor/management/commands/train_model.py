from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from predictor.models import ModelVersion
from predictor.registry import artifacts, training
from predictor.schema.features import FEATURES, TARGET_COLUMN

COLUMNS = ",".join([*(feature.column for feature in FEATURES), TARGET_COLUMN])


class Command(BaseCommand):
    help = (
        f"Train a model on a {COLUMNS} CSV (plus labelled predictions with --include-feedback) and "
        "record it as a new model version, active unless it is less accurate than the active one."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--data",
            type=Path,
            default=training.DEFAULT_TRAINING_DATA,
            help=f"CSV with the columns {COLUMNS} (default: the shipped animals.csv).",
        )
        parser.add_argument(
            "--algorithm",
            default=training.DEFAULT_ALGORITHM,
            choices=sorted(training.ALGORITHMS),
            help="scikit-learn classifier to train (default: %(default)s).",
        )
        parser.add_argument(
            "--include-feedback",
            action="store_true",
            help="Also train on every prediction staff labelled with its actual species.",
        )
        parser.add_argument(
            "--no-activate", action="store_true", help="Record the new version without making it active."
        )
        parser.add_argument(
            "--force",
            action="store_true",
            help=(
                "Activate the new version even if the gate refuses it: no better than the majority-class guess, "
                "or less accurate than the active one on the same rows."
            ),
        )
        parser.add_argument(
            "--new-class",
            action="store_true",
            help="Train on species the active version does not know (refused without it).",
        )
        parser.add_argument(
            "--if-none-active",
            action="store_true",
            help="Do nothing when a version is already active (used by `make run` on first start).",
        )

    def handle(
        self,
        *args,
        data: Path,
        algorithm: str,
        include_feedback: bool,
        no_activate: bool,
        force: bool,
        new_class: bool,
        if_none_active: bool,
        **options,
    ):
        if if_none_active and (active := ModelVersion.objects.active().first()):
            self.stdout.write(f"Model v{active.version} is active; not retraining.")
            return
        try:
            result = training.train(
                data_path=data,
                algorithm=algorithm,
                activate=not no_activate,
                include_feedback=include_feedback,
                force=force,
                allow_new_classes=new_class,
                show_progress=self.stderr.isatty(),
            )
        except (training.TrainingDataError, artifacts.ArtifactError) as error:
            # Bad data, or an artifact store that refused the write: one line, and the active model stays.
            raise CommandError(str(error)) from None
        version, gate = result.version, result.gate
        counts = ", ".join(f"{label} {count}" for label, count in version.class_counts.items())
        sources = f"from {result.data.name}"
        if include_feedback:
            sources = (
                f"({version.rows_from_csv} from {result.data.name}, {version.rows_from_feedback} labelled predictions)"
            )
        state = "active" if version.is_active else "recorded, not active"
        style = self.style.SUCCESS if version.is_active or no_activate else self.style.WARNING
        lines = [
            style(f"Trained model v{version.version} ({version.algorithm}, {state})."),
            f"  rows: {version.training_rows} {sources} ({counts})",
            f"  accuracy: {version.cv_accuracy_summary} ({version.cv_folds}-fold stratified)",
            f"  artifact: {version.artifact_name} (sha256 {version.artifact_sha256[:12]}…)",
        ]
        if result.new_classes:
            active = f"v{gate.baseline.version}" if gate and gate.baseline else "the active version"
            lines.append(f"  new species: {', '.join(result.new_classes)} (not known to {active}; --new-class)")
        if gate is not None:
            lines.append(f"  gate: {gate.reason}")
        if version.picture_name:
            lines.append(f"  training picture: {version.picture_name}")
        if result.picture_error:
            lines.append(self.style.WARNING(f"  training picture: not drawn ({result.picture_error})"))
        self.stdout.write("\n".join(lines))
