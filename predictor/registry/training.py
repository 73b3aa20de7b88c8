"""Training: evaluate honestly, fit, and publish the result as a new model version.

No request code here; `manage.py train_model` is a thin wrapper around `train()`, and a
retraining started from the models page is a background job (predictor.jobs) whose runner,
`run_job()`, calls the same `train()`. Reading and checking the CSV is training_data's job,
recording and activating the version is versions'.
"""

import functools
import hashlib
import logging
import math
import re
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.files.base import File
from django.core.files.storage import storages
from django.db import IntegrityError
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from predictor import jobs
from predictor.models import LABELLED, Job, MLModel, ModelVersion, Prediction
from predictor.models.registry import conformal_rank
from predictor.ops import audit, permissions
from predictor.registry import artifacts, training_data, versions
from predictor.registry.training_data import DEFAULT_TRAINING_DATA, TrainingData, TrainingDataError
from predictor.schema.features import ANIMALS_SCHEMA, ANIMALS_SLUG
from predictor.schema.inputs import ModelSchema

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

logger = logging.getLogger(__name__)

DEFAULT_ALGORITHM = "GaussianNB"
RANDOM_STATE = 0  # fixed, so that a retrain on the same rows gives the same folds and model
MAX_FOLDS = 5
MAX_PICTURE_INPUTS = 4  # six panels at most
SLUG = re.compile(r"[a-z][a-z0-9-]{0,49}")  # a model's name in addresses and commands: iris, house-prices
GATE_ATTEMPTS = 3  # comparisons with the active version, when others keep activating theirs meanwhile
DEFAULT_CONFIDENCE = 0.9  # the share of answers whose prediction set holds the true class (--confidence)


@dataclass(frozen=True)
class Algorithm:
    make_classifier: Callable[[], Any]
    # Distance- and gradient-based classifiers need centimetres and kilograms on one scale.
    scaled: bool


# scikit-learn is imported when a training asks for it, here and below: every process imports
# this module at start-up (its job kind registers itself), and scikit-learn with the scipy it
# brings was a second of every command's start (docs/performance.md, command start).
def _gaussian_nb() -> Any:
    from sklearn.naive_bayes import GaussianNB

    return GaussianNB()


def _logistic_regression() -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(random_state=RANDOM_STATE)


def _k_neighbors() -> Any:
    from sklearn.neighbors import KNeighborsClassifier

    return KNeighborsClassifier(n_neighbors=5)


def _random_forest() -> Any:
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(random_state=RANDOM_STATE)


ALGORITHMS: dict[str, Algorithm] = {
    "GaussianNB": Algorithm(_gaussian_nb, scaled=False),
    "LogisticRegression": Algorithm(_logistic_regression, scaled=True),
    "KNeighborsClassifier": Algorithm(_k_neighbors, scaled=True),
    "RandomForestClassifier": Algorithm(_random_forest, scaled=False),
}


def chance_margin_rows(*, rows: int, chance_accuracy: float) -> int:
    """How many rows more than the majority-class guess a new version must classify correctly.

    A model no better than guessing still gets some folds right by luck: its number of correct
    rows varies like a binomial count, with a standard deviation of sqrt(n·p·(1-p)) rows for n
    rows and a guess right on a share p of them. One standard deviation (rounded up, at least one
    row) refuses a lead that ordinary noise gives a coin flip, yet keeps the shipped 10 rows
    trainable: GaussianNB gets 7 of them right against the guess's 5, a lead of 2 rows where
    the deviation is 1.6. Two deviations would ask 9 of 10, refusing any model on so few rows
    that misses more than one animal. The margin shrinks as a share as rows grow: 2 of 14 rows
    (14.3 points), 16 of 1,000 (1.6 points).
    """
    return max(1, math.ceil(math.sqrt(rows * chance_accuracy * (1 - chance_accuracy))))


def beats_chance(*, accuracy: float, chance_accuracy: float, rows: int) -> bool:
    """Whether ``accuracy`` on ``rows`` beats the majority-class guess by the margin above."""
    margin = chance_margin_rows(rows=rows, chance_accuracy=chance_accuracy) / rows
    # Accuracies are means of fold scores: allow for the float rounding of an exact tie.
    return accuracy >= chance_accuracy + margin - 1e-9


@dataclass(frozen=True)
class Gate:
    """Whether a new version may go live, and why: it must beat guessing, and the active version.

    Every figure is a cross-validation on the new version's rows and folds (``rows`` of them).
    """

    cv_accuracy: float
    rows: int
    chance_cv_accuracy: float
    baseline: ModelVersion | None = None
    baseline_cv_accuracy: float | None = None
    forced: bool = False

    @property
    def beats_chance(self) -> bool:
        return beats_chance(accuracy=self.cv_accuracy, chance_accuracy=self.chance_cv_accuracy, rows=self.rows)

    @property
    def beats_baseline(self) -> bool:
        return self.baseline_cv_accuracy is None or self.cv_accuracy >= self.baseline_cv_accuracy

    @property
    def passed(self) -> bool:
        return self.beats_chance and self.beats_baseline

    @property
    def reason(self) -> str:
        figures = {
            "accuracy": f"{self.cv_accuracy:.1%}",
            "rows": f"{self.rows:,}",
            "chance": f"{self.chance_cv_accuracy:.1%}",
            "margin": chance_margin_rows(rows=self.rows, chance_accuracy=self.chance_cv_accuracy),
            "baseline": self.baseline.version if self.baseline else "",
            "algorithm": self.baseline.algorithm if self.baseline else "",
            "baseline_accuracy": f"{self.baseline_cv_accuracy:.1%}" if self.baseline_cv_accuracy is not None else "",
        }
        if self.beats_chance:
            chance = gettext(
                "its cross-validated accuracy %(accuracy)s on these %(rows)s rows beats the majority-class "
                "guess's %(chance)s on the same rows and folds by at least %(margin)s rows"
            )
        else:
            chance = gettext(
                "it is no better than guessing: its cross-validated accuracy %(accuracy)s on these %(rows)s rows "
                "does not beat the majority-class guess's %(chance)s on the same rows and folds by the "
                "%(margin)s rows chance alone gives"
            )
        if self.baseline is None:
            active = gettext("no version was active to compare with")
        elif self.baseline_cv_accuracy is None:
            active = gettext("active v%(baseline)s's %(algorithm)s cannot be trained on these rows")
        elif self.beats_baseline:
            active = gettext(
                "active v%(baseline)s's algorithm (%(algorithm)s), trained and cross-validated on the same rows "
                "and folds, scores %(baseline_accuracy)s: the new version is at least as good"
            )
        else:
            active = gettext(
                "active v%(baseline)s's algorithm (%(algorithm)s), trained and cross-validated on the same rows "
                "and folds, scores %(baseline_accuracy)s: the new version is below it"
            )
        if self.passed:
            return f"{chance % figures}; {active % figures}"
        refusals = [] if self.beats_chance else [chance % figures]
        if not self.beats_baseline:
            refusals.append(active % figures)
        refused = gettext("; ").join(refusals)
        if self.forced:
            return gettext("activated with --force, overriding the gate: %(refused)s") % {"refused": refused}
        return gettext("not activated: %(refused)s; use --force to activate it anyway") % {"refused": refused}


class NewClassesRefused(TrainingDataError):
    """The rows bring species the active version does not know, and no one confirmed them."""

    def __init__(self, name: str, *, species: list[str], active: ModelVersion) -> None:
        self.species, self.active = species, active
        super().__init__(
            gettext(
                "%(name)s: the data brings species active v%(version)s does not know: %(species)s; "
                "pass --new-class to train on them"
            )
            % {"name": name, "version": active.version, "species": ", ".join(species)}
        )


@dataclass
class _Steps:
    """A training's progress in steps (reading, each fold of each cross-validation, fitting, recording)."""

    report: Callable[[int, int], None] | None
    total: int
    done: int = 0

    def advance(self, steps: int = 1) -> None:
        self.done = min(self.done + steps, self.total)
        if self.report is not None:
            self.report(self.done, self.total)

    def expect(self, total: int) -> None:
        self.total = max(total, self.done)
        self.advance(0)

    def finish(self) -> None:
        # The estimate may count folds that were skipped: an active algorithm that cannot train on these rows.
        self.total = self.done = max(self.done + 1, 1)
        self.advance(0)


@dataclass(frozen=True)
class TrainingResult:
    version: ModelVersion
    data: TrainingData
    feedback: TrainingData
    gate: Gate | None  # None when activation was not asked for
    new_classes: tuple[str, ...] = ()  # species the active version did not know (confirmed with allow_new_classes)
    picture_error: str = ""  # why the training picture could not be drawn; the model is kept either way


def build_pipeline(
    algorithm: str, parameters: dict[str, Any] | None = None, schema: ModelSchema = ANIMALS_SCHEMA
) -> "Pipeline":
    """A fresh, unfitted pipeline for ``algorithm`` over ``schema``'s inputs, with the classifier's ``parameters``.

    Numbers reach the classifier as they are (scaled where the algorithm needs it); categories
    one-hot encoded by a ColumnTransformer, an unseen value encoded as none of them (the form and
    the API refuse one before it gets here; the batch's cell check too).
    """
    choice = ALGORITHMS[algorithm]
    classifier = choice.make_classifier()
    if parameters:
        # Only plain values round-trip through JSON (others were stored as their repr).
        defaults = classifier.get_params()
        plain = {
            key: value
            for key, value in parameters.items()
            if key in defaults and (defaults[key] is None or isinstance(defaults[key], bool | int | float | str))
        }
        classifier.set_params(**plain)
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    if all(item.is_number for item in schema.inputs):
        steps = [("scaler", StandardScaler())] if choice.scaled else []
        return Pipeline([*steps, ("classifier", classifier)])
    from sklearn.compose import ColumnTransformer
    from sklearn.preprocessing import OneHotEncoder

    positions = {kind: [i for i, item in enumerate(schema.inputs) if item.is_number == kind] for kind in (True, False)}
    encoder = OneHotEncoder(
        categories=[list(schema.inputs[i].categories) for i in positions[False]],
        handle_unknown="ignore",
        sparse_output=False,  # GaussianNB takes dense rows only
    )
    columns = [("categories", encoder, positions[False])]
    if positions[True]:
        columns.insert(0, ("numbers", StandardScaler() if choice.scaled else "passthrough", positions[True]))
    return Pipeline([("inputs", ColumnTransformer(columns)), ("classifier", classifier)])


def load_feedback(model: MLModel | None = None, schema: ModelSchema = ANIMALS_SCHEMA) -> TrainingData:
    """Every labelled prediction of ``model`` as a training row: its inputs and the class staff recorded."""
    model = model or MLModel.objects.default()
    # In time order, the order of the partial index on labelled rows: in id order SQLite reads the
    # whole history to find them.
    rows = (
        Prediction.with_unpublished.filter(LABELLED, model=model)  # labelled, so published: see model_metrics
        .order_by("created_at", "pk")
        .values_list("inputs", "actual_species")
        .iterator(chunk_size=10_000)
    )
    names = schema.names
    numbers_only = all(item.is_number for item in schema.inputs)
    feature_rows, labels = [], []
    for inputs, species in rows:
        if all(name in inputs for name in names):  # a row asked with other inputs than these cannot teach them
            feature_rows.append([inputs[name] for name in names])
            labels.append(species)
    features = np.array(feature_rows, dtype=float if numbers_only else object).reshape(-1, len(names))
    label_array = np.array(labels, dtype=str)
    digest = hashlib.sha256(features.tobytes())
    digest.update("\n".join(labels).encode())
    return TrainingData(
        name="labelled predictions",
        sha256=digest.hexdigest() if labels else "",
        features=features,
        labels=label_array,
    )


def train(
    *,
    model: str = ANIMALS_SLUG,
    data_path: Path = DEFAULT_TRAINING_DATA,
    target: str = "",
    schema_path: Path | None = None,
    algorithm: str = DEFAULT_ALGORITHM,
    activate: bool = True,
    include_feedback: bool = False,
    force: bool = False,
    allow_new_classes: bool = False,
    confidence: float | None = None,
    show_progress: bool = False,
    report_progress: Callable[[int, int], None] | None = None,
    user: AbstractBaseUser | None = None,
    job_id: uuid.UUID | None = None,
) -> TrainingResult:
    """Train ``model`` on a CSV (plus labelled predictions if asked) and record a new version of it.

    The animals model reads its shipped schema; any other model's inputs are every column of its CSV
    but ``target`` (the target of its active version when not given), described by the schema file
    at ``schema_path`` if given (predictor.registry.csv_schema). A model trained for the first time
    is created with its first version, never before: a refused file leaves nothing behind.

    With ``activate``, the new version replaces the active one only if it beats the majority-class
    guess by a margin (``chance_margin_rows``) and is at least as accurate as the active version's
    algorithm, both on the same rows and folds; or with ``force``. Rows with a species the active
    version does not know are refused (NewClassesRefused) unless ``allow_new_classes``.
    ``report_progress(done, total)`` is told of every step (a retraining job's Progress.report).
    ``user`` is who asked, for the audit trail; None is the command line. ``job_id``: the
    retraining job running it, recorded with the version (one version per job at most).
    The version answers prediction sets that hold the true class on ``confidence`` of answers
    (calibrate_sets); by default the level of the model's active version, so that a retraining from
    the models page keeps it, else DEFAULT_CONFIDENCE.
    """
    if algorithm not in ALGORITHMS:
        message = gettext("unknown algorithm %(algorithm)r; choose one of %(known)s")
        raise TrainingDataError(message % {"algorithm": algorithm, "known": ", ".join(ALGORITHMS)})
    if confidence is not None and not 0 < confidence < 1:  # NaN too
        message = gettext(
            "--confidence %(level)s is not a confidence level: give a number between 0 and 1, such as 0.9"
        )
        raise TrainingDataError(message % {"level": confidence})
    # Reading, up to three cross-validations (the new version, the guess, the active algorithm), the
    # calibration's, fitting, recording and drawing: an estimate until the rows say how many folds there are.
    steps = _Steps(report_progress, total=1 + 4 * MAX_FOLDS + 3)
    steps.advance(0)
    ml_model = MLModel.objects.default() if model == ANIMALS_SLUG else MLModel.objects.filter(slug=model).first()
    active = ModelVersion.objects.filter(model=ml_model).active().first() if ml_model else None
    schema = _schema_for(model, data_path, target=target, schema_path=schema_path, active=active)
    if confidence is None:
        confidence = (active.confidence_level if active else None) or DEFAULT_CONFIDENCE
    data = training_data.load_training_data(data_path, schema=schema, show_progress=show_progress)
    feedback = (
        load_feedback(ml_model, schema)
        if include_feedback and ml_model
        else training_data.empty("labelled predictions", schema)
    )
    combined = data.plus(feedback)
    features, labels = combined.features, combined.labels
    new_classes = _new_classes(combined, name=data.name, allowed=allow_new_classes, active=active)

    folds = max(2, min(MAX_FOLDS, min(combined.class_counts.values())))
    cross_validations = 3 if activate and active is not None else 2 if activate else 1
    steps.expect(1 + (cross_validations + 1) * folds + 3)
    steps.advance()
    from sklearn.model_selection import StratifiedKFold  # as the classifiers above: when training

    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=RANDOM_STATE)
    splits = list(splitter.split(features, labels))
    pipeline = build_pipeline(algorithm, schema=schema)
    cv_accuracy = _cross_validate(
        pipeline, combined, splits, algorithm=algorithm, show_progress=show_progress, steps=steps
    )
    with _refusing_unfit_rows(data.name, algorithm):
        calibration = calibrate_sets(pipeline, features, labels, splitter=splitter, confidence_level=confidence)
    steps.advance(folds)
    with _refusing_unfit_rows(data.name, algorithm):
        pipeline.fit(features, labels)
    steps.advance()

    content = artifacts.serialize(pipeline, feature_columns=schema.columns)
    artifact_name, artifact_sha256 = artifacts.save(content)
    created = ml_model is None
    try:
        if created:
            ml_model, created = MLModel.objects.get_or_create(
                slug=model, defaults={"name": model.replace("-", " ").capitalize()}
            )
        for attempt in range(GATE_ATTEMPTS):
            gate = (
                _gate(
                    cv_accuracy,
                    combined,
                    splits,
                    model=ml_model,
                    schema=schema,
                    force=force,
                    show_progress=show_progress,
                    steps=steps,
                )
                if activate
                else None
            )
            try:
                version = versions.record_version(
                    model=ml_model,
                    schema=schema.to_json(),
                    activate=gate is not None and (gate.passed or gate.forced),
                    compared_with=gate.baseline.pk if gate and gate.baseline else None,
                    algorithm=algorithm,
                    parameters=_json_safe(pipeline.named_steps["classifier"].get_params()),
                    training_data_name=Path(data.name).name,
                    training_data_sha256=data.sha256,
                    training_rows=combined.rows,
                    rows_from_csv=data.rows,
                    rows_from_feedback=feedback.rows,
                    feedback_sha256=feedback.sha256,
                    training_stats=_training_stats(features, schema),
                    class_counts=combined.class_counts,
                    cv_accuracy=cv_accuracy,
                    cv_folds=folds,
                    sklearn_version=artifacts.SKLEARN_VERSION,
                    artifact_name=artifact_name,
                    artifact_sha256=artifact_sha256,
                    baseline_version=gate.baseline.version if gate and gate.baseline else None,
                    baseline_cv_accuracy=gate.baseline_cv_accuracy if gate else None,
                    chance_cv_accuracy=gate.chance_cv_accuracy if gate else None,
                    confidence_level=calibration.confidence_level,
                    set_threshold=calibration.threshold,
                    calibration_rows=calibration.rows,
                    training_job_id=job_id,
                )
                break
            except versions.ActiveVersionChanged:
                # Another run activated its version while this one was judged: judge against that one.
                if attempt == GATE_ATTEMPTS - 1:
                    raise
                logger.info("The active model changed during training; comparing with the new one.")
    except BaseException:
        artifacts.delete(artifact_name)  # no row points at it, so nobody will ever read it
        if created:  # a new model exists only with a version
            MLModel.objects.filter(pk=ml_model.pk, versions__isnull=True).delete()
        raise
    audit.record(
        action=audit.Action.RETRAIN,
        user=user,
        target=version,
        version=version.version,
        activated=version.is_active,
        algorithm=algorithm,
        training_rows=combined.rows,
        gate=gate.reason if gate else None,
        new_classes=list(new_classes),
    )
    steps.advance()
    picture_error = _save_picture(version, pipeline, combined, schema)
    steps.finish()
    return TrainingResult(
        version=version,
        data=data,
        feedback=feedback,
        gate=gate,
        new_classes=new_classes,
        picture_error=picture_error,
    )


@dataclass(frozen=True)
class SetCalibration:
    """What a version needs to answer prediction sets: a class is in the set when 1 - its probability ≤ threshold."""

    confidence_level: float
    threshold: float
    rows: int  # how many rows the threshold was calibrated on


def calibrate_sets(
    pipeline: "Pipeline", features: np.ndarray, labels: np.ndarray, *, splitter: Any, confidence_level: float
) -> SetCalibration:
    """Cross-conformal calibration (LAC scores) of the sets the fitted ``pipeline`` will answer, on every row.

    Cross-conformal, not split: a split would keep rows out of the served model, and the animals
    have ten. mapie's CrossConformalClassifier fits a copy of the pipeline per fold of ``splitter``
    (the accuracy's folds) and scores each row by the fold that left it out: 1 - the probability
    given its true class. The threshold is the ceil((n+1)·level)-th smallest of those n scores
    (conformal_rank), the quantile mapie takes, but applied to the served model's probabilities,
    so an answer's set costs a comparison per class. Taken here rather than from mapie's
    predict_set because mapie 1.6 refuses that when 1/(1-level) reaches the row count (95% on
    ten rows), where the honest answer is that every class is needed; its cross-conformal sets
    would also score each answer once per fold. With too few rows for the level, the threshold is
    1: every class is in every set.
    """
    from mapie.classification import CrossConformalClassifier  # scikit-learn's kin: only when training
    from sklearn.base import clone

    conformal = CrossConformalClassifier(
        clone(pipeline), confidence_level=confidence_level, conformity_score="lac", cv=splitter
    )
    conformal.fit_conformalize(features, labels)
    scores = np.sort(np.asarray(conformal.conformity_scores, dtype=float).ravel())
    rows = len(scores)
    rank = conformal_rank(rows=rows, level=confidence_level)
    threshold = 1.0 if rank > rows else min(1.0, float(scores[rank - 1]))
    return SetCalibration(confidence_level=confidence_level, threshold=threshold, rows=rows)


def _new_classes(data: TrainingData, *, name: str, allowed: bool, active: ModelVersion | None) -> tuple[str, ...]:
    """The classes of ``data`` the ``active`` version does not know; NewClassesRefused unless ``allowed``."""
    if active is None:
        return ()  # the first version: every species is new, and none needs confirming
    new = tuple(sorted(set(data.class_counts) - set(active.class_counts)))
    if new and not allowed:
        raise NewClassesRefused(name, species=list(new), active=active)
    return new


# Where a retraining job's uploaded CSV is kept until the job is finished (the batch uploads' storage).
TRAINING_UPLOADS_STORAGE = "batch_uploads"


def start_job(
    *,
    user: AbstractBaseUser | None,
    algorithm: str,
    include_feedback: bool,
    force: bool,
    allow_new_classes: bool = False,
    upload: File | None = None,
) -> Job:
    """Queue a retraining on the shipped CSV, or on ``upload`` (kept until the job is finished)."""
    arguments = {
        "algorithm": algorithm,
        "include_feedback": include_feedback,
        "force": force,
        "allow_new_classes": allow_new_classes,
    }
    if upload is not None:
        name = storages[TRAINING_UPLOADS_STORAGE].save(f"training-{uuid.uuid4()}.csv", upload)
        arguments |= {"upload_name": name, "data_name": Path(upload.name or "upload.csv").name}
    return jobs.start(Job.Kind.RETRAIN, user=user, arguments=arguments)


def run_job(progress: jobs.Progress, arguments: dict[str, Any]) -> dict[str, Any]:
    """The job: train as `train_model` does, and report the version and the gate's decision."""
    job = Job.objects.select_related("created_by").get(pk=progress.job_id)
    # A retried job whose first attempt recorded its version before its worker died: that one counts.
    earlier = ModelVersion.objects.filter(training_job_id=job.pk).first()
    if earlier is not None:
        return version_outcome(earlier)
    with tempfile.TemporaryDirectory(prefix="mlsite-training-") as folder:
        data_path = DEFAULT_TRAINING_DATA
        if upload_name := arguments.get("upload_name"):
            # A local copy: the storage may be remote, and training reads a file from disk.
            data_path = Path(folder) / Path(arguments.get("data_name") or "upload.csv").name
            try:
                with storages[TRAINING_UPLOADS_STORAGE].open(upload_name, "rb") as source, data_path.open("wb") as copy:
                    for piece in iter(lambda: source.read(1 << 20), b""):
                        copy.write(piece)
            except FileNotFoundError:
                raise jobs.JobError(gettext("The uploaded training data is no longer kept; upload it again.")) from None
        try:
            result = train(
                data_path=data_path,
                algorithm=arguments["algorithm"],
                include_feedback=arguments["include_feedback"],
                force=arguments["force"],
                allow_new_classes=arguments.get("allow_new_classes", False),
                report_progress=progress.report,
                user=job.created_by,
                job_id=job.pk,
            )
        except NewClassesRefused as error:
            message = gettext(
                "The training data brings species active v%(version)s does not know: %(species)s. "
                "Tick “%(confirm)s” and start again to train on them."
            )
            figures = {"version": error.active.version, "species": gettext(", ").join(error.species)}
            raise jobs.JobError(message % (figures | {"confirm": NEW_CLASS_CONFIRMATION})) from None
        except TrainingDataError as error:
            reason = str(error).replace(f"{folder}/", "")
            raise jobs.JobError(gettext("The training data was refused: %(reason)s") % {"reason": reason}) from None
        except IntegrityError:
            # Another attempt at this job recorded its version first (a worker taken for dead finished).
            earlier = ModelVersion.objects.filter(training_job_id=job.pk).first()
            if earlier is None:
                raise
            return version_outcome(earlier)
    return version_outcome(result.version) | {
        "picture_error": result.picture_error,
        "new_classes": list(result.new_classes),
    }


def version_outcome(version: ModelVersion) -> dict[str, Any]:
    """A retraining job's outcome: the version and the gate's figures (the page words the decision)."""
    return {
        "version": version.version,
        "algorithm": version.algorithm,
        "activated": version.is_active,
        "cv_accuracy": version.cv_accuracy,
        "training_rows": version.training_rows,
        "baseline_version": version.baseline_version,
        "baseline_cv_accuracy": version.baseline_cv_accuracy,
        "chance_cv_accuracy": version.chance_cv_accuracy,
    }


# The retrain form's confirmation for species the active version does not know (--new-class).
NEW_CLASS_CONFIRMATION = _("Train on species the active version does not know")


def gate_decision(outcome: dict[str, Any]) -> str:
    """The gate's decision on a retraining job's version, in words for its page: a verdict, then its figures."""
    rows, chance = outcome["training_rows"], outcome.get("chance_cv_accuracy")  # None: a job from before the floor
    figures = {
        "version": outcome["version"],
        "accuracy": f"{outcome['cv_accuracy']:.1%}",
        "rows": f"{rows:,}",
        "chance": f"{chance:.1%}" if chance is not None else "",
        "margin": chance_margin_rows(rows=rows, chance_accuracy=chance) if chance is not None else "",
        "baseline": outcome["baseline_version"],
        "baseline_accuracy": f"{outcome['baseline_cv_accuracy']:.1%}"
        if outcome["baseline_cv_accuracy"] is not None
        else "",
    }
    above_chance = chance is None or beats_chance(accuracy=outcome["cv_accuracy"], chance_accuracy=chance, rows=rows)
    above_baseline = (
        outcome["baseline_cv_accuracy"] is None or outcome["cv_accuracy"] >= outcome["baseline_cv_accuracy"]
    )
    if not outcome["activated"]:
        if outcome["baseline_version"] is None:
            verdict = gettext("v%(version)s was recorded but not made active.")
        else:
            verdict = gettext("Active v%(baseline)s was kept; the new v%(version)s was recorded but not made active.")
    elif above_chance and above_baseline:
        verdict = gettext("v%(version)s is now active.")
    else:
        verdict = gettext("v%(version)s is now active, as asked, although the gate would have refused it.")
    sentences = [verdict]  # each filled in with the figures below
    if chance is not None and above_chance:
        sentences.append(
            gettext(
                "Its cross-validated accuracy %(accuracy)s on %(rows)s rows beats the majority-class guess's "
                "%(chance)s on the same rows and folds by at least %(margin)s rows."
            )
        )
    elif chance is not None:
        sentences.append(
            gettext(
                "It is no better than guessing: its cross-validated accuracy %(accuracy)s on %(rows)s rows does not "
                "beat the majority-class guess's %(chance)s on the same rows and folds by the %(margin)s rows "
                "chance alone gives."
            )
        )
    if outcome["baseline_version"] is None:
        sentences.append(gettext("No version was active to compare it with."))
    elif outcome["baseline_cv_accuracy"] is None:
        sentences.append(gettext("Active v%(baseline)s's algorithm cannot be trained on these rows."))
    elif above_baseline:
        sentences.append(
            gettext(
                "Active v%(baseline)s's algorithm, trained and cross-validated on the same %(rows)s rows and folds, "
                "scores %(baseline_accuracy)s; the new version's %(accuracy)s is at least that."
            )
        )
    else:
        sentences.append(
            gettext(
                "Active v%(baseline)s's algorithm, trained and cross-validated on the same %(rows)s rows and folds, "
                "scores %(baseline_accuracy)s; the new version's %(accuracy)s is below it."
            )
        )
    if new_classes := outcome.get("new_classes"):
        figures["species"] = gettext(", ").join(new_classes)
        sentences.append(gettext("It brings species active v%(baseline)s did not know: %(species)s."))
    # Sentences follow each other with a space in English, with none after a Chinese full stop.
    return functools.reduce(
        lambda text, sentence: gettext("%(text)s %(sentence)s") % {"text": text, "sentence": sentence},
        (sentence % figures for sentence in sentences),
    )


def clean_up_job(job: Job, *, succeeded: bool) -> None:
    """After a retraining job, either way: its uploaded CSV is no longer needed."""
    if name := job.arguments.get("upload_name"):
        storages[TRAINING_UPLOADS_STORAGE].delete(name)


def _cross_validate(
    pipeline: "Pipeline", data: TrainingData, splits: list, *, algorithm: str, show_progress: bool, steps: _Steps
) -> float:
    """Mean accuracy over the given folds (the same folds for every candidate, so scores compare)."""
    from sklearn.base import clone

    scores = []
    for train_rows, test_rows in _progress(splits, desc=f"Cross-validating {algorithm}", show_progress=show_progress):
        fold = clone(pipeline)
        with _refusing_unfit_rows(data.name, algorithm):
            fold.fit(data.features[train_rows], data.labels[train_rows])
            scores.append(fold.score(data.features[test_rows], data.labels[test_rows]))
        steps.advance()
    return float(np.mean(scores))


@contextmanager
def _refusing_unfit_rows(name: str, algorithm: str) -> Iterator[None]:
    # Some classifiers need more rows than a small file gives a fold (k-nearest neighbours needs k).
    try:
        yield
    except ValueError as error:
        reason = str(error).strip().splitlines()[0]
        message = gettext("%(name)s: %(algorithm)s cannot be trained on these rows (%(reason)s)")
        raise TrainingDataError(message % {"name": name, "algorithm": algorithm, "reason": reason}) from None


def _gate(
    cv_accuracy: float,
    data: TrainingData,
    splits: list,
    *,
    model: MLModel,
    schema: ModelSchema,
    force: bool,
    show_progress: bool,
    steps: _Steps,
) -> Gate:
    # The floor: always guessing the most frequent species of each training fold, on the same folds.
    from sklearn.dummy import DummyClassifier  # as the classifiers above: when training
    from sklearn.pipeline import Pipeline

    chance_accuracy = _cross_validate(
        Pipeline([("classifier", DummyClassifier(strategy="most_frequent"))]),
        data,
        splits,
        algorithm="the majority-class guess",
        show_progress=show_progress,
        steps=steps,
    )
    judged = {"cv_accuracy": cv_accuracy, "rows": data.rows, "chance_cv_accuracy": chance_accuracy, "forced": force}
    # The honest comparison: the active version's algorithm and parameters, cross-validated on
    # exactly the new version's rows and folds (its own recorded score came from other rows).
    baseline = ModelVersion.objects.filter(model=model).active().first()
    if baseline is None or baseline.algorithm not in ALGORITHMS:
        return Gate(**judged)
    try:
        baseline_accuracy = _cross_validate(
            build_pipeline(baseline.algorithm, baseline.parameters, schema),
            data,
            splits,
            algorithm=f"{baseline.algorithm} (active v{baseline.version})",
            show_progress=show_progress,
            steps=steps,
        )
    except TrainingDataError:
        return Gate(**judged, baseline=baseline)
    return Gate(**judged, baseline=baseline, baseline_cv_accuracy=baseline_accuracy)


def _schema_for(
    model: str, data_path: Path, *, target: str, schema_path: Path | None, active: ModelVersion | None
) -> ModelSchema:
    """The inputs ``model`` is trained on: the animals' shipped schema, else read from its CSV (csv_schema)."""
    from predictor.registry import csv_schema
    from predictor.schema import schema_file

    if model == ANIMALS_SLUG and not target and schema_path is None:
        return ANIMALS_SCHEMA
    if not SLUG.fullmatch(model):
        message = gettext(
            "%(model)r is not a model name: use lower-case letters, digits and hyphens, starting with a letter "
            "(at most 50), such as iris"
        )
        raise TrainingDataError(message % {"model": model})
    target = target or (active.input_schema.target if active else "")
    if not target:
        message = gettext("%(model)s is a new model: say which column it learns to predict with --target")
        raise TrainingDataError(message % {"model": model})
    words = None
    if schema_path is not None:
        try:
            words = schema_file.read(schema_path)
        except schema_file.SchemaFileError as error:
            raise TrainingDataError(str(error)) from None
    return csv_schema.infer_schema(data_path, target=target, words=words)


def _training_stats(features: np.ndarray, schema: ModelSchema) -> dict[str, dict[str, float]]:
    """Per number input, its mean and range over every training row (drift and the out-of-range warning)."""
    stats = {}
    for column, item in enumerate(schema.inputs):
        if item.is_number:
            values = features[:, column].astype(float)
            stats[item.name] = {"mean": float(values.mean()), "min": float(values.min()), "max": float(values.max())}
    return stats


def _save_picture(version: ModelVersion, pipeline: "Pipeline", data: TrainingData, schema: ModelSchema) -> str:
    """Draw and store the version's picture; return why it failed, or "".

    The picture is a report: a failure to draw it is logged and reported, and never loses the model.
    A model with a category input, or with a single input, has no picture (its page says nothing of
    one); nor one with more than MAX_PICTURE_INPUTS: wine's 13 inputs would be 78 panels, minutes
    to draw and nothing a reader takes in.
    """
    if not 2 <= len(schema.inputs) <= MAX_PICTURE_INPUTS or not all(item.is_number for item in schema.inputs):
        return ""
    from predictor.registry.training_picture import (
        render_png,  # matplotlib is imported by training only, never by web requests
    )

    try:
        # No words to translate (training_picture's docstring): the page beside it gives the accuracy.
        title = f"v{version.version} · {version.algorithm}"
        for scheme in ("dark", "light"):  # the light one's name is the one recorded
            content = render_png(pipeline, data.features, data.labels, inputs=schema.inputs, title=title, scheme=scheme)
            version.picture_name = artifacts.save_picture(content, artifact_name=version.artifact_name, scheme=scheme)
    except Exception as error:
        logger.exception("Could not draw the training picture of model v%s.", version.version)
        return f"{type(error).__name__}: {error}"
    version.save(update_fields=["picture_name"])
    return ""


def _progress(items: list, *, desc: str, show_progress: bool) -> Any:
    from tqdm import tqdm  # a terminal's progress bar, for the command line only

    return tqdm(items, desc=desc, unit="fold", delay=training_data.PROGRESS_DELAY_SECONDS, disable=not show_progress)


def _json_safe(parameters: dict[str, Any]) -> dict[str, Any]:
    return {
        key: value if value is None or isinstance(value, bool | int | float | str) else repr(value)
        for key, value in parameters.items()
    }


jobs.register(
    Job.Kind.RETRAIN,
    jobs.Kind(run=run_job, clean_up=clean_up_job, view_permission=permissions.VIEW_MODELS),
)
