"""The only module that loads trained models; views ask it for predictions.

Each process keeps the active model in memory and asks the database which version is active at
most once every ML_MODEL_CHECK_SECONDS (one indexed query). When another process activates a new
version, the next check loads it, after verifying the artifact's sha256; if that artifact is
missing or altered, the service logs why and keeps serving the model it already has (a process
that has none falls back to the most recently active version that still verifies). A candidate
(predictor.candidates) is loaded and refreshed the same way, beside it, and gives each answer a
second opinion: a shadow scores every row, a canary answers its share of single predictions.
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

from . import artifacts, candidates, metrics
from .features import FEATURES, as_row
from .models import Candidate, ModelVersion, one_of

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
class SecondOpinion:
    """What the version that did not answer said (the shadow, or the active one beside a canary); never shown."""

    model: LoadedModel
    species: str
    probability: float


@dataclass(frozen=True)
class BatchSecondOpinion:
    model: LoadedModel
    species: np.ndarray
    probability: np.ndarray


@dataclass(frozen=True)
class PredictionResult:
    species: str
    probability: float
    probabilities: dict[str, float]
    model: LoadedModel
    outside_training_range: bool  # a measurement lies outside what the version was trained on
    second_opinion: SecondOpinion | None = None  # only while a candidate runs


@dataclass(frozen=True)
class BatchResult:
    """Answers for many rows at once: row i of ``probabilities`` follows the order of ``model.classes``."""

    species: np.ndarray  # the predicted label of each row
    probability: np.ndarray  # the probability of that label
    probabilities: np.ndarray  # shape (rows, classes)
    model: LoadedModel
    outside_training_range: np.ndarray  # per row, as PredictionResult's
    second_opinion: BatchSecondOpinion | None = None  # only while a candidate runs

    def __len__(self) -> int:
        return len(self.species)


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
    return _serving()[0]


def _serving() -> tuple[LoadedModel, "Trial | None"]:
    """The active model and the candidate beside it (None when none runs), as of the last check."""
    cache = _cache
    if _check_due(cache):
        with cache.lock:
            if _check_due(cache):
                _refresh(cache)
                _refresh_trial(cache)
    if cache.model is None:
        raise ModelNotReady(cache.not_ready_reason)
    return cache.model, cache.trial


def refused_activation() -> str:
    """Why the active version is not the one answering, or "" when it is (as of the last check)."""
    cache = _cache
    return cache.not_ready_reason if cache.refused_version_id is not None else ""


def refused_candidate() -> str:
    """Why the running candidate is left out (its artifact cannot be loaded), or "" (as of the last check)."""
    cache = _cache
    return cache.refused_candidate_reason if cache.refused_candidate_id is not None else ""


def predict(measurements: Mapping[str, float]) -> PredictionResult:
    """The answer for one animal; ``measurements`` is keyed by feature field (features.FEATURE_FIELDS).

    While a candidate runs, the other version's answer comes with it as ``second_opinion``.
    """
    active, trial = _serving_for_predictions()
    row = as_row(measurements)
    if trial is None:
        return _answer(active, row)
    if trial.mode == Candidate.Mode.CANARY and candidates.canary_answers(trial.canary_percent):
        answering, second = trial.model, active
    else:
        answering, second = active, trial.model
    probabilities = second.probabilities_of(row)
    best = max(range(len(probabilities)), key=probabilities.__getitem__)
    opinion = SecondOpinion(model=second, species=second.classes[best], probability=probabilities[best])
    return _answer(answering, row, second_opinion=opinion)


def _answer(model: LoadedModel, row: list[float], second_opinion: SecondOpinion | None = None) -> PredictionResult:
    probabilities = model.probabilities_of(row)
    best = max(range(len(probabilities)), key=probabilities.__getitem__)
    return PredictionResult(
        species=model.classes[best],
        probability=probabilities[best],
        probabilities=dict(zip(model.classes, probabilities, strict=True)),
        model=model,
        outside_training_range=model.is_outside_training_range(row),
        second_opinion=second_opinion,
    )


def predict_many(features: np.ndarray) -> BatchResult:
    """Predict every row of a (rows, features) array, columns in FEATURES order, in one call.

    The active version answers every row; a candidate, shadow or canary, scores them all beside it
    (predictor.candidates says why a batch is never a canary's).
    """
    model, trial = _serving_for_predictions()
    features = np.asarray(features, dtype=float)
    species, probability, probabilities = _score(model, features)
    second_opinion = None
    if trial is not None:
        shadow_species, shadow_probability, _ = _score(trial.model, features)
        second_opinion = BatchSecondOpinion(model=trial.model, species=shadow_species, probability=shadow_probability)
    return BatchResult(
        species=species,
        probability=probability,
        probabilities=probabilities,
        model=model,
        outside_training_range=model.rows_outside_training_range(features),
        second_opinion=second_opinion,
    )


def _score(model: LoadedModel, features: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each row's label, that label's probability, and every probability, for a (rows, features) array."""
    probabilities = model.estimator.predict_proba(features)
    best = np.argmax(probabilities, axis=1)
    return np.asarray(model.classes, dtype=object)[best], probabilities[np.arange(len(best)), best], probabilities


def _serving_for_predictions() -> tuple[LoadedModel, "Trial | None"]:
    """_serving(), counting the predictions it refuses (pages and health checks also ask, uncounted)."""
    try:
        return _serving()
    except ModelNotReady:
        metrics.count_not_ready()
        raise


def _check_due(cache: _ProcessCache) -> bool:
    return cache.checked_at is None or time.monotonic() - cache.checked_at >= settings.ML_MODEL_CHECK_SECONDS


def _refresh(cache: _ProcessCache) -> None:
    _load_active(cache)
    # Only now: a thread that saw a check due waits on the lock until the model is in place,
    # instead of finding "checked" and no model (a fresh process's first requests got 503s). A
    # database error skips this, so the next request asks again (and answers 503 meanwhile).
    cache.checked_at = time.monotonic()


def _load_active(cache: _ProcessCache) -> None:
    active_id = ModelVersion.objects.active().values_list("pk", flat=True).first()
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


def _refresh_trial(cache: _ProcessCache) -> None:
    """Load the candidate beside the active model; one that is the active version or cannot be loaded is left out."""
    row = Candidate.objects.values_list("version_id", "mode", "canary_percent").first()
    if row is None or cache.model is None or row[0] == cache.model.version_id:
        cache.trial = None
        cache.refused_candidate_id = None
        return
    version_id, mode, canary_percent = row
    model = cache.trial.model if cache.trial is not None and cache.trial.model.version_id == version_id else None
    if model is None:
        version = ModelVersion.objects.get(pk=version_id)
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
