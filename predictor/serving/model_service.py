"""The only module that loads trained models; views ask it for predictions.

Every served model (``animals``, ``iris``: predictor.models.MLModel) is kept and checked on its
own; ``model`` arguments are its slug, the default model's when left out. Each process keeps each
model's active version in memory and asks the database which version is active at
most once every ML_MODEL_CHECK_SECONDS (one indexed query). When another process activates a new
version, the next check loads it, after verifying the artifact's sha256; if that artifact is
missing or altered, the service logs why and keeps serving the model it already has (a process
that has none falls back to the most recently active version that still verifies). A candidate
(predictor.serving.candidates) is loaded and refreshed the same way, beside it, and gives each answer a
second opinion: a shadow scores every row, a canary answers its share of single predictions.
"""

import logging
import math
import random
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

from predictor.models import Candidate, ModelVersion
from predictor.ops import metrics
from predictor.registry import artifacts
from predictor.schema.features import ANIMALS_SLUG

from . import _closed_form
from .results import BatchResult, BatchSecondOpinion, LoadedModel, PredictionResult, SecondOpinion

logger = logging.getLogger(__name__)

# Which version answers is no secret, so the standard generator is enough (and cheap per request).
_draw = random.Random()  # nosec B311


class ModelNotReady(Exception):
    """No model can answer right now; the message says what to do about it."""


class _ProcessCache:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.model: LoadedModel | None = None
        self.checked_at: float | None = None
        self.not_ready_reason = ""
        self.refused_version_id: int | None = None
        self.trial: Trial | None = None  # the candidate, loaded, while one runs
        self.refused_candidate_id: int | None = None
        self.refused_candidate_reason = ""


@dataclass(frozen=True)
class Trial:
    model: LoadedModel  # the candidate's
    mode: str  # Candidate.Mode
    canary_percent: int


_caches: dict[str, _ProcessCache] = {}


@dataclass(frozen=True)
class ServedModel:
    slug: str
    name: str


# Which models answer, as of the last check: the home page lists them on every visit, and asking
# the database each time cost the blank form a third of its time (bench/profile_requests.py).
_served: dict[str, Any] = {"checked_at": None, "models": ()}


def clear_cache() -> None:
    """Forget every loaded model, so the next call loads each active one afresh."""
    _caches.clear()
    _served["checked_at"] = None


def served_models() -> tuple[ServedModel, ...]:
    """Every model with an active version, by name, as of the last check (at most ML_MODEL_CHECK_SECONDS old)."""
    checked_at = _served["checked_at"]
    if checked_at is None or time.monotonic() - checked_at >= settings.ML_MODEL_CHECK_SECONDS:
        active = ModelVersion.objects.active().order_by("model__name", "model__slug")
        rows = active.values_list("model__slug", "model__name")
        _served["models"] = tuple(ServedModel(slug=slug, name=name) for slug, name in rows)
        _served["checked_at"] = time.monotonic()
    return _served["models"]


def _cache_of(model: str) -> _ProcessCache:
    cache = _caches.get(model)
    if cache is None:
        cache = _caches.setdefault(model, _ProcessCache())
    return cache


@receiver(setting_changed)
def _clear_cache_when_settings_change(*, setting: str, **kwargs: Any) -> None:
    if setting in {"STORAGES", "ML_MODEL_CHECK_SECONDS"}:
        clear_cache()


def active_model(model: str = ANIMALS_SLUG) -> LoadedModel:
    """The version of ``model`` to answer with; raises ModelNotReady when there is none."""
    return _serving(model)[0]


def _serving(model: str = ANIMALS_SLUG) -> tuple[LoadedModel, "Trial | None"]:
    """The active version of ``model`` and the candidate beside it (None when none runs), as of the last check."""
    cache = _cache_of(model)
    if _check_due(cache):
        with cache.lock:
            if _check_due(cache):
                _refresh(cache, model)
                _refresh_trial(cache)
    if cache.model is None:
        raise ModelNotReady(cache.not_ready_reason)
    return cache.model, cache.trial


def refused_activation(model: str = ANIMALS_SLUG) -> str:
    """Why the active version is not the one answering, or "" when it is (as of the last check)."""
    cache = _cache_of(model)
    return cache.not_ready_reason if cache.refused_version_id is not None else ""


def refused_candidate(model: str = ANIMALS_SLUG) -> str:
    """Why the running candidate is left out (its artifact cannot be loaded), or "" (as of the last check)."""
    cache = _cache_of(model)
    return cache.refused_candidate_reason if cache.refused_candidate_id is not None else ""


def predict(inputs: Mapping[str, Any], model: str = ANIMALS_SLUG) -> PredictionResult:
    """The answer for one row; ``inputs`` is keyed by input name, checked against the schema beforehand.

    While a candidate runs, the other version's answer comes with it as ``second_opinion``.
    """
    active, trial = _serving_for_predictions(model)
    row = active.row_of(inputs)
    if trial is None:
        return _answer(active, row)
    if trial.mode == Candidate.Mode.CANARY and canary_answers(trial.canary_percent):
        answering, second = trial.model, active
    else:
        answering, second = active, trial.model
    probabilities = second.probabilities_of(row)
    best = max(range(len(probabilities)), key=probabilities.__getitem__)
    opinion = SecondOpinion(model=second, species=second.classes[best], probability=probabilities[best])
    return _answer(answering, row, second_opinion=opinion)


def _answer(model: LoadedModel, row: list[Any], second_opinion: SecondOpinion | None = None) -> PredictionResult:
    probabilities = model.probabilities_of(row)
    best = max(range(len(probabilities)), key=probabilities.__getitem__)
    return PredictionResult(
        inputs=dict(zip(model.schema.names, row, strict=True)),
        species=model.classes[best],
        probability=probabilities[best],
        probabilities=dict(zip(model.classes, probabilities, strict=True)),
        model=model,
        outside_training_range=model.is_outside_training_range(row),
        second_opinion=second_opinion,
        prediction_set=model.set_of(probabilities),
    )


def predict_many(features: np.ndarray, model: str = ANIMALS_SLUG) -> BatchResult:
    """Predict every row of a (rows, inputs) array, columns in the schema's order, in one call.

    The active version answers every row; a candidate, shadow or canary, scores them all beside it
    (predictor.serving.candidates says why a batch is never a canary's).
    """
    serving, trial = _serving_for_predictions(model)
    features = np.asarray(features, dtype=serving.dtype)
    model = serving
    species, probability, probabilities = _score(model, features)
    second_opinion = None
    if trial is not None:
        shadow_species, shadow_probability, _ = _score(trial.model, features)
        second_opinion = BatchSecondOpinion(model=trial.model, species=shadow_species, probability=shadow_probability)
    return BatchResult(
        inputs=features,
        species=species,
        probability=probability,
        probabilities=probabilities,
        model=model,
        outside_training_range=model.rows_outside_training_range(features),
        second_opinion=second_opinion,
        prediction_sets=model.sets_of(probabilities),
    )


def _score(model: LoadedModel, features: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each row's label, that label's probability, and every probability, for a (rows, features) array."""
    probabilities = model.estimator.predict_proba(features)
    best = np.argmax(probabilities, axis=1)
    return np.asarray(model.classes, dtype=object)[best], probabilities[np.arange(len(best)), best], probabilities


def _serving_for_predictions(model: str) -> tuple[LoadedModel, "Trial | None"]:
    """_serving(), counting the predictions it refuses (pages and health checks also ask, uncounted)."""
    try:
        return _serving(model)
    except ModelNotReady:
        metrics.count_not_ready()
        raise


def _check_due(cache: _ProcessCache) -> bool:
    return cache.checked_at is None or time.monotonic() - cache.checked_at >= settings.ML_MODEL_CHECK_SECONDS


def _refresh(cache: _ProcessCache, model: str) -> None:
    _load_active(cache, model)
    # Only now: a thread that saw a check due waits on the lock until the model is in place,
    # instead of finding "checked" and no model (a fresh process's first requests got 503s). A
    # database error skips this, so the next request asks again (and answers 503 meanwhile).
    cache.checked_at = time.monotonic()


def _load_active(cache: _ProcessCache, model: str) -> None:
    active_id = ModelVersion.objects.active().filter(model__slug=model).values_list("pk", flat=True).first()
    if active_id is None:
        command = "python manage.py train_model" + ("" if model == ANIMALS_SLUG else f" --model {model}")
        cache.not_ready_reason = f"No model has been trained yet. Run `{command}`."
        return
    if cache.model is not None and cache.model.version_id == active_id:
        cache.refused_version_id = None  # the active version is the one answering (again, after a rollback)
        return
    version = ModelVersion.objects.select_related("model").get(pk=active_id)
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


def _refresh_trial(cache: _ProcessCache) -> None:
    """Load the candidate beside the active model; one that is the active version or cannot be loaded is left out."""
    row = None
    if cache.model is not None:  # a candidate runs beside its own model's active version only
        candidate = Candidate.objects.filter(version__model_id=cache.model.record.model_id)
        row = candidate.values_list("version_id", "mode", "canary_percent").first()
    if row is None or row[0] == cache.model.version_id:
        cache.trial = None
        cache.refused_candidate_id = None
        return
    version_id, mode, canary_percent = row
    model = cache.trial.model if cache.trial is not None and cache.trial.model.version_id == version_id else None
    if model is None:
        version = ModelVersion.objects.select_related("model").get(pk=version_id)
        try:
            model = _load(version)
        except artifacts.ArtifactError as error:
            if cache.refused_candidate_id != version_id:
                logger.error("Not trying candidate v%s beside the active model: %s.", version.version, error)
                cache.refused_candidate_id = version_id
            cache.refused_candidate_reason = f"candidate v{version.version} cannot be loaded ({error})"
            cache.trial = None
            return
        logger.info("Trying candidate v%s as a %s.", version.version, mode)
    cache.refused_candidate_id = None
    cache.trial = Trial(model=model, mode=mode, canary_percent=canary_percent)


def _load_last_good(*, excluding: ModelVersion) -> "LoadedModel | None":
    """The most recently active version whose artifact still verifies, for a process that has none."""
    earlier = ModelVersion.objects.select_related("model").exclude(pk=excluding.pk)
    earlier = earlier.filter(model_id=excluding.model_id, activated_at__isnull=False)
    for version in earlier.order_by("-activated_at")[:5]:
        try:
            return _load(version)
        except artifacts.ArtifactError:
            continue
    return None


def canary_answers(percent: int) -> bool:
    """Whether the canary answers this request: true for ``percent`` of requests, at random."""
    return _draw.random() * 100 < percent


def check_loads(version: ModelVersion) -> None:
    """Load ``version`` as a server would, without serving it; ArtifactError says why it cannot be.

    For a candidate before it starts or is promoted (predictor.serving.candidates).
    """
    _load(version)


def _load(version: ModelVersion) -> LoadedModel:
    artifact = artifacts.load(
        version.artifact_name, expected_sha256=version.artifact_sha256, saved_with=version.sklearn_version
    )
    schema = version.input_schema
    if artifact.feature_columns != schema.columns:
        raise artifacts.ArtifactError(
            f"artifact {version.artifact_name} expects columns {artifact.feature_columns}, not {schema.columns}"
        )
    numbers = [item for item in schema.inputs if item.is_number]
    ranges = [version.training_range(item) or (-math.inf, math.inf) for item in numbers]
    dtype = float if len(numbers) == len(schema.inputs) else object
    return LoadedModel(
        record=version,
        schema=schema,
        estimator=artifact.estimator,
        classes=tuple(str(label) for label in artifact.estimator.classes_),
        probabilities_of=_closed_form.single_row_probabilities(artifact.estimator, dtype=dtype),
        number_positions=tuple(index for index, item in enumerate(schema.inputs) if item.is_number),
        training_low=tuple(low for low, _ in ranges),
        training_high=tuple(high for _, high in ranges),
        # Within mapie's tolerance (1e-8) of the threshold counts as in, as mapie's own sets do.
        set_floor=None if version.set_threshold is None else 1 - version.set_threshold - 1e-8,
        confidence_level=version.confidence_level,
    )
