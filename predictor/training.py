"""Training: validate a CSV, evaluate honestly, fit, and publish the result as a new model version.

No request code here; `manage.py train_model` is a thin wrapper around `train()`. CSVs are read
in chunks of CHUNK_ROWS lines and kept as compact arrays, so a million-row file needs tens of
megabytes, not a text copy of the whole file.
"""

import hashlib
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sklearn
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone
from sklearn.base import clone
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from tqdm import tqdm

from . import artifacts, csv_checks
from .features import FEATURES, TARGET_COLUMN
from .models import LABELLED, ModelVersion, Prediction

logger = logging.getLogger(__name__)

DEFAULT_TRAINING_DATA = Path(__file__).resolve().parent / "data" / "animals.csv"
DEFAULT_ALGORITHM = "GaussianNB"
RANDOM_STATE = 0  # fixed, so that a retrain on the same rows gives the same folds and model
MAX_FOLDS = 5
CHUNK_ROWS = 100_000
PROGRESS_DELAY_SECONDS = 1.0  # a progress bar appears only for work that takes longer than this


@dataclass(frozen=True)
class Algorithm:
    make_classifier: Callable[[], Any]
    # Distance- and gradient-based classifiers need centimetres and kilograms on one scale.
    scaled: bool


ALGORITHMS: dict[str, Algorithm] = {
    "GaussianNB": Algorithm(GaussianNB, scaled=False),
    "LogisticRegression": Algorithm(lambda: LogisticRegression(random_state=RANDOM_STATE), scaled=True),
    "KNeighborsClassifier": Algorithm(lambda: KNeighborsClassifier(n_neighbors=5), scaled=True),
    "RandomForestClassifier": Algorithm(lambda: RandomForestClassifier(random_state=RANDOM_STATE), scaled=False),
}


class TrainingDataError(ValueError):
    """The training CSV cannot be used; the message names the file and the row or column at fault."""


@dataclass(frozen=True)
class TrainingData:
    name: str
    sha256: str
    features: np.ndarray
    labels: np.ndarray

    @property
    def rows(self) -> int:
        return len(self.labels)

    @property
    def class_counts(self) -> dict[str, int]:
        labels, counts = np.unique(self.labels, return_counts=True)
        return {str(label): int(count) for label, count in zip(labels, counts, strict=True)}


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


def load_training_data(path: Path, *, show_progress: bool = False, chunk_rows: int = CHUNK_ROWS) -> TrainingData:
    """Read and check a `Height,Weight,Species` CSV; raise TrainingDataError on the first problem."""
    name = str(path)
    path = Path(path)
    try:
        sha256, lines, has_content = _fingerprint(path)
    except FileNotFoundError:
        raise TrainingDataError(f"{name}: no such file") from None
    except OSError as error:
        raise TrainingDataError(f"{name}: cannot be read ({error.strerror})") from None
    if not has_content:
        raise TrainingDataError(f"{name}: the file is empty")

    feature_parts: list[np.ndarray] = []
    label_parts: list[np.ndarray] = []
    try:
        progress = tqdm(
            total=max(lines - 1, 0),
            desc=f"Reading {path.name}",
            unit=" lines",
            unit_scale=True,
            delay=PROGRESS_DELAY_SECONDS,
            disable=not show_progress,
        )
        # Strings first, so that each bad cell can be reported as written; keeping blank lines
        # keeps the frame's index (which runs on across chunks) in step with the file's lines.
        chunks = pd.read_csv(path, chunksize=chunk_rows, **csv_checks.READ_OPTIONS)
        with progress, chunks:
            for chunk in chunks:
                try:
                    csv_checks.check_index(chunk)
                except csv_checks.CellError as error:
                    raise TrainingDataError(f"{name}: {error}") from None
                features, labels = _check_chunk(chunk, name)
                feature_parts.append(features)
                label_parts.append(labels)
                progress.update(len(chunk))
    except TrainingDataError:
        raise
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as error:
        reason = str(error).strip().splitlines()[0]
        raise TrainingDataError(f"{name}: not a readable CSV file ({reason})") from None
    rows = sum(len(labels) for labels in label_parts)
    if rows == 0:
        raise TrainingDataError(f"{name}: no data rows below the header")
    data = TrainingData(
        name=name,
        sha256=sha256,
        features=np.concatenate(feature_parts),
        labels=np.concatenate(label_parts),
    )
    _check_classes(data)
    return data


_NO_FEEDBACK = TrainingData(
    name="labelled predictions", sha256="", features=np.empty((0, len(FEATURES))), labels=np.array([], dtype=str)
)


def load_feedback() -> TrainingData:
    """Every labelled prediction as a training row: its inputs and the species staff recorded."""
    fields = [feature.field for feature in FEATURES]
    # In time order, the order of the partial index on labelled rows: in id order SQLite reads the
    # whole history to find them.
    rows = (
        Prediction.objects.filter(LABELLED)
        .order_by("created_at", "pk")
        .values_list(*fields, "actual_species")
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
) -> TrainingResult:
    """Train on a CSV (plus labelled predictions if asked) and record a new model version.

    With ``activate``, the new version replaces the active one only if it is at least as accurate
    as the active version's algorithm on the same rows and folds, or with ``force``.
    """
    if algorithm not in ALGORITHMS:
        raise TrainingDataError(f"unknown algorithm {algorithm!r}; choose one of {', '.join(ALGORITHMS)}")
    data = load_training_data(data_path, show_progress=show_progress)
    feedback = load_feedback() if include_feedback else _NO_FEEDBACK
    features = np.concatenate([data.features, feedback.features]) if feedback.rows else data.features
    labels = np.concatenate([data.labels, feedback.labels]) if feedback.rows else data.labels
    combined = TrainingData(name=data.name, sha256=data.sha256, features=features, labels=labels)

    folds = max(2, min(MAX_FOLDS, min(combined.class_counts.values())))
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=RANDOM_STATE)
    splits = list(splitter.split(features, labels))
    pipeline = build_pipeline(algorithm)
    cv_accuracy = _cross_validate(pipeline, combined, splits, algorithm=algorithm, show_progress=show_progress)
    gate = None
    if activate:
        gate = _gate(cv_accuracy, combined, splits, force=force, show_progress=show_progress)
    with _refusing_unfit_rows(data.name, algorithm):
        pipeline.fit(features, labels)

    content = artifacts.serialize(pipeline, feature_columns=tuple(feature.column for feature in FEATURES))
    artifact_name, artifact_sha256 = artifacts.save(content)
    try:
        version = _record_version(
            activate=gate is not None and (gate.passed or gate.forced),
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
        )
    except BaseException:
        artifacts.delete(artifact_name)  # no row points at it, so nobody will ever read it
        raise
    _save_picture(version, pipeline, combined)
    return TrainingResult(version=version, data=data, feedback=feedback, gate=gate)


def activate_version(version_number: int) -> ModelVersion:
    """Make an existing version the active one; running servers switch within one check interval."""
    with transaction.atomic():
        version = ModelVersion.objects.select_for_update().get(version=version_number)
        ModelVersion.objects.active().exclude(pk=version.pk).update(is_active=False)
        if not version.is_active:
            version.is_active = True
            version.activated_at = timezone.now()
            version.save(update_fields=["is_active", "activated_at"])
    return version


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
        raise TrainingDataError(f"{name}: {algorithm} cannot be trained on these rows ({reason})") from None


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


def _save_picture(version: ModelVersion, pipeline: Pipeline, data: TrainingData) -> None:
    # The picture is a report: a failure to draw it is logged and never loses the trained model.
    from .training_picture import render_png  # matplotlib is imported by training only, never by web requests

    try:
        title = f"v{version.version} · {version.algorithm} · cross-validated accuracy {version.cv_accuracy:.1%}"
        content = render_png(pipeline, data.features, data.labels, title=title)
        version.picture_name = artifacts.save_picture(content, artifact_name=version.artifact_name)
    except Exception:
        logger.exception("Could not draw the training picture of model v%s.", version.version)
        return
    version.save(update_fields=["picture_name"])


def _record_version(*, activate: bool, **fields: Any) -> ModelVersion:
    # Two concurrent runs can pick the same next number or both activate; the unique constraints
    # turn that into an IntegrityError, and a retry sees the other run's committed row.
    attempts = 5
    for attempt in range(attempts):
        try:
            with transaction.atomic():
                latest = ModelVersion.objects.aggregate(latest=Max("version"))["latest"] or 0
                if activate:
                    ModelVersion.objects.active().update(is_active=False)
                return ModelVersion.objects.create(
                    version=latest + 1, is_active=activate, activated_at=timezone.now() if activate else None, **fields
                )
        except IntegrityError:
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


def _fingerprint(path: Path) -> tuple[str, int, bool]:
    """The file's sha256, its line count (for the progress bar), and whether it holds anything but whitespace."""
    digest = hashlib.sha256()
    lines = 0
    has_content = False
    with path.open("rb") as source:
        while block := source.read(1 << 20):
            digest.update(block)
            lines += block.count(b"\n")
            has_content = has_content or bool(block.strip())
    return digest.hexdigest(), lines, has_content


def _progress(items: list, *, desc: str, show_progress: bool) -> Any:
    return tqdm(items, desc=desc, unit="fold", delay=PROGRESS_DELAY_SECONDS, disable=not show_progress)


def _check_chunk(chunk: pd.DataFrame, name: str) -> tuple[np.ndarray, np.ndarray]:
    chunk.columns = [str(column).strip() for column in chunk.columns]
    expected = [feature.column for feature in FEATURES] + [TARGET_COLUMN]
    missing = [column for column in expected if column not in chunk.columns]
    if missing:
        raise TrainingDataError(
            f"{name}: missing column {', '.join(missing)} (the header must name {','.join(expected)})"
        )
    frame = chunk[expected].apply(lambda column: column.str.strip())
    frame = frame[(frame != "").any(axis=1)]  # wholly blank lines carry no row
    try:
        columns = [csv_checks.measurements(frame[feature.column], feature) for feature in FEATURES]
    except csv_checks.CellError as error:
        raise TrainingDataError(f"{name}: {error}") from None
    labels = frame[TARGET_COLUMN]
    blank = labels == ""
    if blank.any():
        raise TrainingDataError(
            f"{name}: line {csv_checks.line_number(labels.index[blank][0])}, column {TARGET_COLUMN}: empty value"
        )
    return np.column_stack(columns).reshape(-1, len(FEATURES)), labels.to_numpy(dtype=str)


def _check_classes(data: TrainingData) -> None:
    counts = data.class_counts
    if len(counts) < 2:
        raise TrainingDataError(
            f"{data.name}: column {TARGET_COLUMN} has only one species ({next(iter(counts))!r}); "
            "at least two are needed to learn anything"
        )
    for label, count in counts.items():
        if count < 2:
            raise TrainingDataError(
                f"{data.name}: column {TARGET_COLUMN}: species {label!r} has only {count} row; "
                "each species needs at least 2 for cross-validation"
            )


def _json_safe(parameters: dict[str, Any]) -> dict[str, Any]:
    return {
        key: value if value is None or isinstance(value, bool | int | float | str) else repr(value)
        for key, value in parameters.items()
    }
