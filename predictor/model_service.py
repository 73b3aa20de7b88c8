"""The only module that loads trained models; views ask it for predictions.

Each process keeps the active model in memory and asks the database which version is active at
most once every ML_MODEL_CHECK_SECONDS (one indexed query). When another process activates a new
version, the next check loads it, after verifying the artifact's sha256; if that artifact is
missing or altered, the service logs why and keeps serving the model it already has (a process
that has none falls back to the most recently active version that still verifies).
"""

import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from sklearn.naive_bayes import GaussianNB
from sklearn.pipeline import Pipeline

from . import artifacts, metrics
from .features import FEATURES, as_row
from .models import ModelVersion, one_of

logger = logging.getLogger(__name__)


class ModelNotReady(Exception):
    """No model can answer right now; the message says what to do about it."""


@dataclass(frozen=True)
class LoadedModel:
    record: ModelVersion  # the row it was loaded from; stored predictions point at it
    estimator: Any
    classes: tuple[str, ...]
    # One row of features in, one probability per class out (see _single_row_probabilities).
    probabilities_of: Callable[[list[float]], list[float]]
    # Per feature, the smallest and largest value it was trained on (ModelVersion.training_range);
    # unbounded for versions recorded without training statistics.
    training_low: tuple[float, ...]
    training_high: tuple[float, ...]

    @property
    def version_id(self) -> int:
        return self.record.pk

    @property
    def version(self) -> int:
        return self.record.version

    def is_outside_training_range(self, row: list[float]) -> bool:
        """Whether a measurement of one row lies outside what this version was trained on."""
        return any(
            not low <= value <= high
            for value, low, high in zip(row, self.training_low, self.training_high, strict=True)
        )

    def rows_outside_training_range(self, features: np.ndarray) -> np.ndarray:
        """is_outside_training_range for each row of a (rows, features) array."""
        return ((features < self.training_low) | (features > self.training_high)).any(axis=1)

    @property
    def species_choice(self) -> str:
        """The species it can answer, for page copy: "Cat or Dog", "Cat, Dog or Horse"."""
        return one_of(self.classes)


@dataclass(frozen=True)
class PredictionResult:
    species: str
    probability: float
    probabilities: dict[str, float]
    model: LoadedModel
    outside_training_range: bool  # a measurement lies outside what the version was trained on


@dataclass(frozen=True)
class BatchResult:
    """Answers for many rows at once: row i of ``probabilities`` follows the order of ``model.classes``."""

    species: np.ndarray  # the predicted label of each row
    probability: np.ndarray  # the probability of that label
    probabilities: np.ndarray  # shape (rows, classes)
    model: LoadedModel
    outside_training_range: np.ndarray  # per row, as PredictionResult's

    def __len__(self) -> int:
        return len(self.species)


class _ProcessCache:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.model: LoadedModel | None = None
        self.checked_at: float | None = None
        self.not_ready_reason = ""
        self.refused_version_id: int | None = None


_cache = _ProcessCache()


def clear_cache() -> None:
    """Forget the loaded model, so the next call loads the active one afresh."""
    global _cache
    _cache = _ProcessCache()


@receiver(setting_changed)
def _clear_cache_when_settings_change(*, setting: str, **kwargs: Any) -> None:
    if setting in {"STORAGES", "ML_MODEL_CHECK_SECONDS"}:
        clear_cache()


def active_model() -> LoadedModel:
    """The model to answer with; raises ModelNotReady when there is none."""
    cache = _cache
    if not _check_due(cache):
        if cache.model is None:
            raise ModelNotReady(cache.not_ready_reason)
        return cache.model
    with cache.lock:
        if _check_due(cache):
            _refresh(cache)
        if cache.model is None:
            raise ModelNotReady(cache.not_ready_reason)
        return cache.model


def refused_activation() -> str:
    """Why the active version is not the one answering, or "" when it is (as of the last check)."""
    cache = _cache
    return cache.not_ready_reason if cache.refused_version_id is not None else ""


def predict(measurements: Mapping[str, float]) -> PredictionResult:
    """The answer for one animal; ``measurements`` is keyed by feature field (features.FEATURE_FIELDS)."""
    model = _model_to_predict_with()
    row = as_row(measurements)
    probabilities = model.probabilities_of(row)
    best = max(range(len(probabilities)), key=probabilities.__getitem__)
    return PredictionResult(
        species=model.classes[best],
        probability=probabilities[best],
        probabilities=dict(zip(model.classes, probabilities, strict=True)),
        model=model,
        outside_training_range=model.is_outside_training_range(row),
    )


def predict_many(features: np.ndarray) -> BatchResult:
    """Predict every row of a (rows, features) array, columns in FEATURES order, in one call."""
    model = _model_to_predict_with()
    features = np.asarray(features, dtype=float)
    probabilities = model.estimator.predict_proba(features)
    best = np.argmax(probabilities, axis=1)
    return BatchResult(
        species=np.asarray(model.classes, dtype=object)[best],
        probability=probabilities[np.arange(len(best)), best],
        probabilities=probabilities,
        model=model,
        outside_training_range=model.rows_outside_training_range(features),
    )


def _model_to_predict_with() -> LoadedModel:
    """active_model(), counting the predictions it refuses (pages and health checks also ask, uncounted)."""
    try:
        return active_model()
    except ModelNotReady:
        metrics.count_not_ready()
        raise


def _check_due(cache: _ProcessCache) -> bool:
    return cache.checked_at is None or time.monotonic() - cache.checked_at >= settings.ML_MODEL_CHECK_SECONDS


def _refresh(cache: _ProcessCache) -> None:
    active_id = ModelVersion.objects.active().values_list("pk", flat=True).first()
    cache.checked_at = time.monotonic()
    if active_id is None:
        cache.not_ready_reason = "No model has been trained yet. Run `python manage.py train_model`."
        return
    if cache.model is not None and cache.model.version_id == active_id:
        cache.refused_version_id = None  # the active version is the one answering (again, after a rollback)
        return
    version = ModelVersion.objects.get(pk=active_id)
    try:
        cache.model = _load(version)
    except artifacts.ArtifactError as error:
        if cache.model is None:
            cache.model = _load_last_good(excluding=version)
        fallback = f"serving v{cache.model.version} instead" if cache.model else "no model is ready"
        if cache.refused_version_id != version.pk:
            logger.error("Refusing model v%s: %s; %s.", version.version, error, fallback)
            metrics.count_artifact_refused()
            cache.refused_version_id = version.pk
        cache.not_ready_reason = (
            f"The active model v{version.version} cannot be loaded ({error}). "
            "Retrain with `python manage.py train_model` or activate another version."
        )
        return
    cache.refused_version_id = None
    logger.info("Serving model v%s.", version.version)
    metrics.count_reload()


def _load_last_good(*, excluding: ModelVersion) -> "LoadedModel | None":
    """The most recently active version whose artifact still verifies, for a process that has none."""
    candidates = ModelVersion.objects.exclude(pk=excluding.pk).filter(activated_at__isnull=False)
    for version in candidates.order_by("-activated_at")[:5]:
        try:
            return _load(version)
        except artifacts.ArtifactError:
            continue
    return None


def _load(version: ModelVersion) -> LoadedModel:
    artifact = artifacts.load(
        version.artifact_name, expected_sha256=version.artifact_sha256, saved_with=version.sklearn_version
    )
    expected_columns = tuple(feature.column for feature in FEATURES)
    if artifact.feature_columns != expected_columns:
        raise artifacts.ArtifactError(
            f"artifact {version.artifact_name} expects columns {artifact.feature_columns}, not {expected_columns}"
        )
    ranges = [version.training_range(feature) or (-math.inf, math.inf) for feature in FEATURES]
    return LoadedModel(
        record=version,
        estimator=artifact.estimator,
        classes=tuple(str(label) for label in artifact.estimator.classes_),
        probabilities_of=_single_row_probabilities(artifact.estimator),
        training_low=tuple(low for low, _ in ranges),
        training_high=tuple(high for _, high in ranges),
    )


def _single_row_probabilities(estimator: Any) -> Callable[[list[float]], list[float]]:
    """How to score one row quickly.

    scikit-learn's input validation costs far more than the arithmetic for a single row, and a
    form submission scores one row. For the default GaussianNB we evaluate its closed form on
    plain floats (tests check it against predict_proba); anything else goes through
    predict_proba.
    """
    steps = [step for _, step in estimator.steps] if isinstance(estimator, Pipeline) else [estimator]
    if len(steps) != 1 or type(steps[0]) is not GaussianNB:
        return lambda row: estimator.predict_proba(np.array([row], dtype=float))[0].tolist()
    model = steps[0]
    means, variances = model.theta_.tolist(), model.var_.tolist()
    # log prior - 1/2 sum(log 2 pi var): the part of each class's log likelihood that is input-free
    offsets = (np.log(model.class_prior_) - 0.5 * np.log(2 * np.pi * model.var_).sum(axis=1)).tolist()

    def probabilities(row: list[float]) -> list[float]:
        log_likelihoods = [
            offset - 0.5 * sum((x - mean) ** 2 / var for x, mean, var in zip(row, class_means, class_vars, strict=True))
            for offset, class_means, class_vars in zip(offsets, means, variances, strict=True)
        ]
        top = max(log_likelihoods)
        weights = [math.exp(value - top) for value in log_likelihoods]
        total = sum(weights)
        return [weight / total for weight in weights]

    return probabilities
