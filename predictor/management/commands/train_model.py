from pathlib import Path

from django.core.management.base import CommandError
from django.utils.translation import gettext

from predictor.management.language import TranslatedCommand
from predictor.models import ModelVersion
from predictor.registry import artifacts, training
from predictor.schema.features import ANIMALS_SLUG, FEATURES, TARGET_COLUMN

COLUMNS = ",".join([*(feature.column for feature in FEATURES), TARGET_COLUMN])


class Command(TranslatedCommand):
    help = (
        f"Train a model on a CSV ({COLUMNS} for the shipped animals model; any columns for a model of your own, "
        "see docs/models.md), plus labelled predictions with --include-feedback, and record it as a new version "
        "of that model, active unless the gate refuses it."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--model",
            default=ANIMALS_SLUG,
            help="The model to train, created on its first training, such as iris (default: %(default)s).",
        )
        parser.add_argument(
            "--data",
            type=Path,
            default=None,
            help=f"The training CSV (default: the shipped animals.csv, columns {COLUMNS}).",
        )
        parser.add_argument(
            "--target",
            default="",
            help="The column to learn to predict; every other column is an input (default: the active version's).",
        )
        parser.add_argument(
            "--schema",
            type=Path,
            default=None,
            help="A TOML file with the inputs' labels, units, bounds and hints, in each language (docs/models.md).",
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
            "--confidence",
            type=float,
            default=None,
            help=(
                "The confidence level of the version's prediction sets: the share of answers whose set holds "
                f"the true class, between 0 and 1 (default: the active version's, else {training.DEFAULT_CONFIDENCE})."
            ),
        )
        parser.add_argument(
            "--if-none-active",
            action="store_true",
            help="Do nothing when a version is already active (used by `make run` on first start).",
        )

    def handle(
        self,
        *args,
        model: str,
        data: Path | None,
        target: str,
        schema: Path | None,
        algorithm: str,
        include_feedback: bool,
        no_activate: bool,
        force: bool,
        new_class: bool,
        confidence: float | None,
        if_none_active: bool,
        **options,
    ):
        if if_none_active and (active := ModelVersion.objects.active().filter(model__slug=model).first()):
            self.stdout.write(gettext("Model v%(version)s is active; not retraining.") % {"version": active.version})
            return
        if data is None and model != ANIMALS_SLUG:
            raise CommandError(gettext("Name the training CSV of %(model)s with --data.") % {"model": model})
        try:
            result = training.train(
                model=model,
                data_path=data or training.DEFAULT_TRAINING_DATA,
                target=target,
                schema_path=schema,
                algorithm=algorithm,
                activate=not no_activate,
                include_feedback=include_feedback,
                force=force,
                allow_new_classes=new_class,
                confidence=confidence,
                show_progress=self.stderr.isatty(),
            )
        except (training.TrainingDataError, artifacts.ArtifactError) as error:
            # Bad data, or an artifact store that refused the write: one line, and the active model stays.
            raise CommandError(str(error)) from None
        version, gate = result.version, result.gate
        counts = gettext(", ").join(f"{label} {count}" for label, count in version.class_counts.items())
        sources = gettext("from %(data)s") % {"data": result.data.name}
        if include_feedback:
            sources = gettext("(%(csv_rows)s from %(data)s, %(feedback_rows)s labelled predictions)") % {
                "csv_rows": version.rows_from_csv,
                "data": result.data.name,
                "feedback_rows": version.rows_from_feedback,
            }
        state = gettext("active") if version.is_active else gettext("recorded, not active")
        style = self.style.SUCCESS if version.is_active or no_activate else self.style.WARNING
        figures = {
            "version": version.version,
            "algorithm": version.algorithm,
            "state": state,
            "rows": version.training_rows,
            "sources": sources,
            "counts": counts,
            "accuracy": version.cv_accuracy_summary,
            "folds": version.cv_folds,
            "artifact": version.artifact_name,
            "sha256": version.artifact_sha256[:12],
        }
        lines = [
            style(
                gettext("Trained model v%(version)s (%(algorithm)s, %(state)s).") % figures
                if model == ANIMALS_SLUG
                else gettext("Trained %(model)s v%(version)s (%(algorithm)s, %(state)s).") % {**figures, "model": model}
            ),
            gettext("  rows: %(rows)s %(sources)s (%(counts)s)") % figures,
            gettext("  accuracy: %(accuracy)s (%(folds)s-fold stratified)") % figures,
            gettext("  artifact: %(artifact)s (sha256 %(sha256)s…)") % figures,
            gettext("  prediction sets: %(level)s confidence, cross-conformal on %(calibration_rows)s rows")
            % {"level": version.confidence_percent, "calibration_rows": version.calibration_rows},
        ]
        if result.new_classes:
            active = f"v{gate.baseline.version}" if gate and gate.baseline else gettext("the active version")
            lines.append(
                gettext("  new species: %(species)s (not known to %(active)s; --new-class)")
                % {"species": ", ".join(result.new_classes), "active": active}
            )
        if gate is not None:
            lines.append(gettext("  gate: %(reason)s") % {"reason": gate.reason})
        if version.picture_name:
            lines.append(gettext("  training picture: %(name)s") % {"name": version.picture_name})
        if result.picture_error:
            message = gettext("  training picture: not drawn (%(error)s)")
            lines.append(self.style.WARNING(message % {"error": result.picture_error}))
        self.stdout.write("\n".join(lines))
