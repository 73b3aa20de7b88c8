"""Training: validate a CSV, evaluate honestly, fit, and publish the result as a new model version.

No request code here; `manage.py train_model` is a thin wrapper around `train()`.
"""

import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sklearn
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.naive_bayes import GaussianNB
from sklearn.pipeline import Pipeline

from . import artifacts
from .features import FEATURES, TARGET_COLUMN
from .models import ModelVersion

DEFAULT_TRAINING_DATA = Path(__file__).resolve().parent / "data" / "animals.csv"
DEFAULT_ALGORITHM = "GaussianNB"
RANDOM_STATE = 0  # fixed, so that a retrain on the same rows gives the same folds and model
MAX_FOLDS = 5

ALGORITHMS: dict[str, Callable[[], Any]] = {
    "GaussianNB": GaussianNB,
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
class TrainingResult:
    version: ModelVersion
    data: TrainingData


def load_training_data(path: Path) -> TrainingData:
    """Read and check a `Height,Weight,Species` CSV; raise TrainingDataError on the first problem."""
    name = str(path)
    try:
        content = Path(path).read_bytes()
    except FileNotFoundError:
        raise TrainingDataError(f"{name}: no such file") from None
    except OSError as error:
        raise TrainingDataError(f"{name}: cannot be read ({error.strerror})") from None
    if not content.strip():
        raise TrainingDataError(f"{name}: the file is empty")
    try:
        # Strings first, so that each bad cell can be reported as written; keeping blank lines
        # keeps the frame's index in step with the file's line numbers.
        frame = pd.read_csv(io.BytesIO(content), dtype=str, keep_default_na=False, skip_blank_lines=False)
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as error:
        reason = str(error).strip().splitlines()[0]
        raise TrainingDataError(f"{name}: not a readable CSV file ({reason})") from None
    frame.columns = [str(column).strip() for column in frame.columns]
    expected = [feature.column for feature in FEATURES] + [TARGET_COLUMN]
    missing = [column for column in expected if column not in frame.columns]
    if missing:
        raise TrainingDataError(
            f"{name}: missing column {', '.join(missing)} (the header must name {','.join(expected)})"
        )
    frame = frame[expected].apply(lambda column: column.str.strip())
    frame = frame[(frame != "").any(axis=1)]  # wholly blank lines carry no row
    if frame.empty:
        raise TrainingDataError(f"{name}: no data rows below the header")

    columns = [_numeric_column(frame, feature, name) for feature in FEATURES]
    labels = frame[TARGET_COLUMN]
    blank = labels == ""
    if blank.any():
        raise TrainingDataError(f"{name}: line {_line(labels.index[blank][0])}, column {TARGET_COLUMN}: empty value")
    data = TrainingData(
        name=name,
        sha256=artifacts.sha256_hex(content),
        features=np.column_stack(columns),
        labels=labels.to_numpy(dtype=str),
    )
    _check_classes(data)
    return data


def train(
    *,
    data_path: Path = DEFAULT_TRAINING_DATA,
    algorithm: str = DEFAULT_ALGORITHM,
    activate: bool = True,
) -> TrainingResult:
    """Train on a CSV and record a new model version (active unless ``activate`` is False)."""
    if algorithm not in ALGORITHMS:
        raise TrainingDataError(f"unknown algorithm {algorithm!r}; choose one of {', '.join(ALGORITHMS)}")
    data = load_training_data(data_path)
    pipeline = Pipeline([("classifier", ALGORITHMS[algorithm]())])

    folds = max(2, min(MAX_FOLDS, min(data.class_counts.values())))
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=RANDOM_STATE)
    cv_accuracy = float(cross_val_score(pipeline, data.features, data.labels, cv=splitter).mean())
    pipeline.fit(data.features, data.labels)

    content = artifacts.serialize(pipeline, feature_columns=tuple(feature.column for feature in FEATURES))
    artifact_name, artifact_sha256 = artifacts.save(content)
    try:
        version = _record_version(
            activate=activate,
            algorithm=algorithm,
            parameters=_json_safe(pipeline.named_steps["classifier"].get_params()),
            training_data_name=Path(data.name).name,
            training_data_sha256=data.sha256,
            training_rows=data.rows,
            class_counts=data.class_counts,
            cv_accuracy=cv_accuracy,
            cv_folds=folds,
            sklearn_version=sklearn.__version__,
            artifact_name=artifact_name,
            artifact_sha256=artifact_sha256,
        )
    except BaseException:
        artifacts.delete(artifact_name)  # no row points at it, so nobody will ever read it
        raise
    return TrainingResult(version=version, data=data)


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


def _numeric_column(frame: pd.DataFrame, feature: Any, name: str) -> np.ndarray:
    raw = frame[feature.column]
    values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
    for position in np.flatnonzero(~np.isfinite(values) | (values <= 0) | (values > feature.max_value)):
        where = f"{name}: line {_line(raw.index[position])}, column {feature.column}"
        text = raw.iloc[position]
        if text == "":
            raise TrainingDataError(f"{where}: empty value")
        if np.isnan(values[position]) and text.lower() not in {"nan", "+nan", "-nan"}:
            raise TrainingDataError(f"{where}: {text[:40]!r} is not a number")
        raise TrainingDataError(f"{where}: {text[:40]!r} is not allowed: {feature.bounds_error(values[position])}")
    return values


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


def _line(index: int) -> int:
    return int(index) + 2  # line 1 is the header


def _json_safe(parameters: dict[str, Any]) -> dict[str, Any]:
    return {
        key: value if value is None or isinstance(value, bool | int | float | str) else repr(value)
        for key, value in parameters.items()
    }
