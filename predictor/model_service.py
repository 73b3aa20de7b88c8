"""The only module that loads trained models; views ask it for predictions.

Each process keeps the active model in memory and asks the database which version is active at
most once every ML_MODEL_CHECK_SECONDS (one indexed query). When another process activates a new
version, the next check loads it, after verifying the artifact's sha256; if that artifact is
missing or altered, the service logs why and keeps serving the model it already has.
"""

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

from . import artifacts
from .features import FEATURES
from .models import ModelVersion

logger = logging.getLogger(__name__)


class ModelNotReady(Exception):
    """No model can answer right now; the message says what to do about it."""


@dataclass(frozen=True)
class LoadedModel:
    version_id: int
    version: int
    estimator: Any
    classes: tuple[str, ...]


@dataclass(frozen=True)
class PredictionResult:
    species: str
    probability: float
    probabilities: dict[str, float]
    model: LoadedModel


@dataclass(frozen=True)
class BatchResult:
    """Answers for many rows at once: row i of ``probabilities`` follows the order of ``model.classes``."""

    species: np.ndarray  # the predicted label of each row
    probability: np.ndarray  # the probability of that label
    probabilities: np.ndarray  # shape (rows, classes)
    model: LoadedModel

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


def predict(*, height_cm: float, weight_kg: float) -> PredictionResult:
    model = active_model()
    inputs = {"height_cm": height_cm, "weight_kg": weight_kg}
    row = np.array([[inputs[feature.field] for feature in FEATURES]], dtype=float)
    probabilities = model.estimator.predict_proba(row)[0]
    best = int(np.argmax(probabilities))
    return PredictionResult(
        species=model.classes[best],
        probability=float(probabilities[best]),
        probabilities={label: float(p) for label, p in zip(model.classes, probabilities, strict=True)},
        model=model,
    )


def predict_many(features: np.ndarray) -> BatchResult:
    """Predict every row of a (rows, features) array, columns in FEATURES order, in one call."""
    model = active_model()
    probabilities = model.estimator.predict_proba(np.asarray(features, dtype=float))
    best = np.argmax(probabilities, axis=1)
    return BatchResult(
        species=np.asarray(model.classes, dtype=object)[best],
        probability=probabilities[np.arange(len(best)), best],
        probabilities=probabilities,
        model=model,
    )


def _check_due(cache: _ProcessCache) -> bool:
    return cache.checked_at is None or time.monotonic() - cache.checked_at >= settings.ML_MODEL_CHECK_SECONDS


def _refresh(cache: _ProcessCache) -> None:
    active_id = ModelVersion.objects.active().values_list("pk", flat=True).first()
    cache.checked_at = time.monotonic()
    if active_id is None:
        cache.not_ready_reason = "No model has been trained yet. Run `python manage.py train_model`."
        return
    if cache.model is not None and cache.model.version_id == active_id:
        return
    version = ModelVersion.objects.get(pk=active_id)
    try:
        cache.model = _load(version)
    except artifacts.ArtifactError as error:
        fallback = f"still serving v{cache.model.version}" if cache.model else "no model is ready"
        if cache.refused_version_id != version.pk:
            logger.error("Refusing model v%s: %s; %s.", version.version, error, fallback)
            cache.refused_version_id = version.pk
        cache.not_ready_reason = (
            f"The active model v{version.version} cannot be loaded ({error}). "
            "Retrain with `python manage.py train_model` or activate another version."
        )
        return
    cache.refused_version_id = None
    logger.info("Serving model v%s.", version.version)


def _load(version: ModelVersion) -> LoadedModel:
    artifact = artifacts.load(version.artifact_name, expected_sha256=version.artifact_sha256)
    expected_columns = tuple(feature.column for feature in FEATURES)
    if artifact.feature_columns != expected_columns:
        raise artifacts.ArtifactError(
            f"artifact {version.artifact_name} expects columns {artifact.feature_columns}, not {expected_columns}"
        )
    return LoadedModel(
        version_id=version.pk,
        version=version.version,
        estimator=artifact.estimator,
        classes=tuple(str(label) for label in artifact.estimator.classes_),
    )
