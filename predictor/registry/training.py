"""Training: evaluate honestly, fit, and publish the result as a new model version.

No request code here; `manage.py train_model` is a thin wrapper around `train()`, and a
retraining started from the models page is a background job (predictor.jobs) whose runner,
`run_job()`, calls the same `train()`. Reading and checking the CSV is training_data's job,
recording and activating the version is versions'.
"""

import hashlib
import logging
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import sklearn
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.files.base import File
from django.core.files.storage import storages
from django.db import IntegrityError
from django.utils.translation import gettext
from sklearn.base import clone
from sklearn.naive_bayes import GaussianNB
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from predictor import jobs
from predictor.models import LABELLED, Job, ModelVersion, Prediction
from predictor.ops import audit, permissions
from predictor.registry import artifacts, training_data, versions
from predictor.registry.training_data import DEFAULT_TRAINING_DATA, TrainingData, TrainingDataError
from predictor.schema.features import FEATURE_FIELDS, FEATURES

logger = logging.getLogger(__name__)

DEFAULT_ALGORITHM = "GaussianNB"
RANDOM_STATE = 0  # fixed, so that a retrain on the same rows gives the same folds and model
MAX_FOLDS = 5
GATE_ATTEMPTS = 3  # comparisons with the active version, when others keep activating theirs meanwhile


@dataclass(frozen=True)
class Algorithm:
    make_classifier: Callable[[], Any]
    # Distance- and gradient-based classifiers need centimetres and kilograms on one scale.
    scaled: bool


# The other classifiers are imported when a training asks for them: every process imports this
# module at start-up (its job kind registers itself), and their modules more than doubled the
# scikit-learn a command loads before it can do anything.
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
    "GaussianNB": Algorithm(GaussianNB, scaled=False),
    "LogisticRegression": Algorithm(_logistic_regression, scaled=True),
    "KNeighborsClassifier": Algorithm(_k_neighbors, scaled=True),
    "RandomForestClassifier": Algorithm(_random_forest, scaled=False),
}


@dataclass(frozen=True)
class Gate:
    """Whether a new version may replace the active one, and why."""

    cv_accuracy: float
    baseline: ModelVersion | None = None
    baseline_cv_accuracy: float | None = None
    forced: bool = False

    @property
    def passed(self) -> bool:
        return self.baseline_cv_accuracy is None or self.cv_accuracy >= self.baseline_cv_accuracy

    @property
    def reason(self) -> str:
        if self.baseline is None:
            return "no version was active to compare with"
        if self.baseline_cv_accuracy is None:
            return f"active v{self.baseline.version}'s {self.baseline.algorithm} cannot be trained on these rows"
        comparison = (
            f"its cross-validated accuracy {self.cv_accuracy:.1%} is "
            f"{'at least' if self.passed else 'below'} active v{self.baseline.version}'s "
            f"({self.baseline.algorithm}) {self.baseline_cv_accuracy:.1%} on the same rows and folds"
        )
        if self.passed:
            return comparison
        if self.forced:
            return f"activated with --force although {comparison}"
        return f"not activated: {comparison}; use --force to activate it anyway"


@dataclass(frozen=True)
class TrainingResult:
    version: ModelVersion
    data: TrainingData
    feedback: TrainingData
    gate: Gate | None  # None when activation was not asked for
    picture_error: str = ""  # why the training picture could not be drawn; the model is kept either way


def build_pipeline(algorithm: str, parameters: dict[str, Any] | None = None) -> Pipeline:
    """A fresh, unfitted pipeline for ``algorithm``, with the classifier's recorded ``parameters`` if given."""
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
    steps = [("scaler", StandardScaler())] if choice.scaled else []
    return Pipeline([*steps, ("classifier", classifier)])


def load_feedback() -> TrainingData:
    """Every labelled prediction as a training row: its inputs and the species staff recorded."""
    # In time order, the order of the partial index on labelled rows: in id order SQLite reads the
    # whole history to find them.
    rows = (
        Prediction.with_unpublished.filter(LABELLED)  # labelled, so published: see model_metrics.labelled_pairs
        .order_by("created_at", "pk")
        .values_list(*FEATURE_FIELDS, "actual_species")
        .iterator(chunk_size=10_000)
    )
    feature_rows, labels = [], []
    for *values, species in rows:
        feature_rows.append(values)
        labels.append(species)
    features = np.array(feature_rows, dtype=float).reshape(-1, len(FEATURES))
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
    data_path: Path = DEFAULT_TRAINING_DATA,
    algorithm: str = DEFAULT_ALGORITHM,
    activate: bool = True,
    include_feedback: bool = False,
    force: bool = False,
    show_progress: bool = False,
    user: AbstractBaseUser | None = None,
    job_id: uuid.UUID | None = None,
) -> TrainingResult:
    """Train on a CSV (plus labelled predictions if asked) and record a new model version.

    With ``activate``, the new version replaces the active one only if it is at least as accurate
    as the active version's algorithm on the same rows and folds, or with ``force``. ``user`` is
    who asked, for the audit trail; None is the command line. ``job_id``: the retraining job
    running it, recorded with the version (one version per job at most).
    """
    if algorithm not in ALGORITHMS:
        message = gettext("unknown algorithm %(algorithm)r; choose one of %(known)s")
        raise TrainingDataError(message % {"algorithm": algorithm, "known": ", ".join(ALGORITHMS)})
    data = training_data.load_training_data(data_path, show_progress=show_progress)
    feedback = load_feedback() if include_feedback else training_data.empty("labelled predictions")
    combined = data.plus(feedback)
    features, labels = combined.features, combined.labels

    folds = max(2, min(MAX_FOLDS, min(combined.class_counts.values())))
    from sklearn.model_selection import StratifiedKFold  # as the classifiers above: when training

    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=RANDOM_STATE)
    splits = list(splitter.split(features, labels))
    pipeline = build_pipeline(algorithm)
    cv_accuracy = _cross_validate(pipeline, combined, splits, algorithm=algorithm, show_progress=show_progress)
    with _refusing_unfit_rows(data.name, algorithm):
        pipeline.fit(features, labels)

    content = artifacts.serialize(pipeline, feature_columns=tuple(feature.column for feature in FEATURES))
    artifact_name, artifact_sha256 = artifacts.save(content)
    try:
        for attempt in range(GATE_ATTEMPTS):
            gate = _gate(cv_accuracy, combined, splits, force=force, show_progress=show_progress) if activate else None
            try:
                version = versions.record_version(
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
                    training_stats=_training_stats(features),
                    class_counts=combined.class_counts,
                    cv_accuracy=cv_accuracy,
                    cv_folds=folds,
                    sklearn_version=sklearn.__version__,
                    artifact_name=artifact_name,
                    artifact_sha256=artifact_sha256,
                    baseline_version=gate.baseline.version if gate and gate.baseline else None,
                    baseline_cv_accuracy=gate.baseline_cv_accuracy if gate else None,
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
    )
    picture_error = _save_picture(version, pipeline, combined)
    return TrainingResult(version=version, data=data, feedback=feedback, gate=gate, picture_error=picture_error)


# Where a retraining job's uploaded CSV is kept until the job is finished (the batch uploads' storage).
TRAINING_UPLOADS_STORAGE = "batch_uploads"


def start_job(
    *,
    user: AbstractBaseUser | None,
    algorithm: str,
    include_feedback: bool,
    force: bool,
    upload: File | None = None,
) -> Job:
    """Queue a retraining on the shipped CSV, or on ``upload`` (kept until the job is finished)."""
    arguments = {"algorithm": algorithm, "include_feedback": include_feedback, "force": force}
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
                user=job.created_by,
                job_id=job.pk,
            )
        except TrainingDataError as error:
            reason = str(error).replace(f"{folder}/", "")
            raise jobs.JobError(gettext("The training data was refused: %(reason)s") % {"reason": reason}) from None
        except IntegrityError:
            # Another attempt at this job recorded its version first (a worker taken for dead finished).
            earlier = ModelVersion.objects.filter(training_job_id=job.pk).first()
            if earlier is None:
                raise
            return version_outcome(earlier)
    return version_outcome(result.version) | {"picture_error": result.picture_error}


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
    }


def gate_decision(outcome: dict[str, Any]) -> str:
    """The gate's decision on a retraining job's version, in words for its page."""
    figures = {
        "version": outcome["version"],
        "accuracy": f"{outcome['cv_accuracy']:.1%}",
        "baseline": outcome["baseline_version"],
        "baseline_accuracy": f"{outcome['baseline_cv_accuracy']:.1%}"
        if outcome["baseline_cv_accuracy"] is not None
        else "",
    }
    if outcome["baseline_version"] is None:
        return gettext("v%(version)s is now active: no version was active to compare it with.") % figures
    if outcome["baseline_cv_accuracy"] is None:
        message = gettext(
            "v%(version)s is now active: active v%(baseline)s's algorithm cannot be trained on these rows."
        )
        return message % figures
    if not outcome["activated"]:
        message = gettext(
            "Active v%(baseline)s was kept: the new v%(version)s's cross-validated accuracy %(accuracy)s is below "
            "v%(baseline)s's %(baseline_accuracy)s on the same rows and folds."
        )
        return message % figures
    if outcome["cv_accuracy"] < outcome["baseline_cv_accuracy"]:
        message = gettext(
            "v%(version)s is now active, as asked, although its cross-validated accuracy %(accuracy)s is below "
            "v%(baseline)s's %(baseline_accuracy)s on the same rows and folds."
        )
        return message % figures
    message = gettext(
        "v%(version)s is now active: its cross-validated accuracy %(accuracy)s is at least v%(baseline)s's "
        "%(baseline_accuracy)s on the same rows and folds."
    )
    return message % figures


def clean_up_job(job: Job, *, succeeded: bool) -> None:
    """After a retraining job, either way: its uploaded CSV is no longer needed."""
    if name := job.arguments.get("upload_name"):
        storages[TRAINING_UPLOADS_STORAGE].delete(name)


def _cross_validate(
    pipeline: Pipeline, data: TrainingData, splits: list, *, algorithm: str, show_progress: bool
) -> float:
    """Mean accuracy over the given folds (the same folds for every candidate, so scores compare)."""
    scores = []
    for train_rows, test_rows in _progress(splits, desc=f"Cross-validating {algorithm}", show_progress=show_progress):
        fold = clone(pipeline)
        with _refusing_unfit_rows(data.name, algorithm):
            fold.fit(data.features[train_rows], data.labels[train_rows])
            scores.append(fold.score(data.features[test_rows], data.labels[test_rows]))
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


def _gate(cv_accuracy: float, data: TrainingData, splits: list, *, force: bool, show_progress: bool) -> Gate:
    # The honest comparison: the active version's algorithm and parameters, cross-validated on
    # exactly the new version's rows and folds (its own recorded score came from other rows).
    baseline = ModelVersion.objects.active().first()
    if baseline is None or baseline.algorithm not in ALGORITHMS:
        return Gate(cv_accuracy=cv_accuracy, forced=force)
    try:
        baseline_accuracy = _cross_validate(
            build_pipeline(baseline.algorithm, baseline.parameters),
            data,
            splits,
            algorithm=f"{baseline.algorithm} (active v{baseline.version})",
            show_progress=show_progress,
        )
    except TrainingDataError:
        return Gate(cv_accuracy=cv_accuracy, baseline=baseline, forced=force)
    return Gate(cv_accuracy=cv_accuracy, baseline=baseline, baseline_cv_accuracy=baseline_accuracy, forced=force)


def _training_stats(features: np.ndarray) -> dict[str, dict[str, float]]:
    return {
        feature.field: {
            "mean": float(features[:, column].mean()),
            "min": float(features[:, column].min()),
            "max": float(features[:, column].max()),
        }
        for column, feature in enumerate(FEATURES)
    }


def _save_picture(version: ModelVersion, pipeline: Pipeline, data: TrainingData) -> str:
    """Draw and store the version's picture; return why it failed, or "".

    The picture is a report: a failure to draw it is logged and reported, and never loses the model.
    """
    from predictor.registry.training_picture import (
        render_png,  # matplotlib is imported by training only, never by web requests
    )

    try:
        # No words to translate (training_picture's docstring): the page beside it gives the accuracy.
        title = f"v{version.version} · {version.algorithm}"
        for scheme in ("dark", "light"):  # the light one's name is the one recorded
            content = render_png(pipeline, data.features, data.labels, title=title, scheme=scheme)
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
