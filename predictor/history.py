"""Writing to the prediction history: every entry point stores its answers through here."""

import uuid
from collections.abc import Mapping

import numpy as np
from django.utils import timezone

from . import fast_inserts, metrics
from .features import FEATURE_FIELDS
from .model_service import BatchResult, PredictionResult
from .models import Prediction


def record_prediction(
    *,
    result: PredictionResult,
    measurements: Mapping[str, float],
    source: str = Prediction.Source.FORM,
    submission_key: str | None = None,
) -> Prediction:
    """Store one answer and return it as stored.

    A ``submission_key`` that is already stored stores nothing and returns the row stored with it
    (predictor.answers decides what a repeated key means).
    """
    stored = fast_inserts.insert_prediction(
        {
            "created_at": timezone.now(),
            **{field: measurements[field] for field in FEATURE_FIELDS},
            "species": result.species,
            "probability": result.probability,
            "probabilities": result.probabilities,
            "model_version": result.model.record,
            "source": source,
            "outside_training_range": result.outside_training_range,
            "submission_key": submission_key,
            **_second_opinion(result),
        }
    )
    if stored is None:
        return Prediction.objects.get(submission_key=submission_key)
    metrics.count_stored_predictions(
        model_version=result.model.version, source=source, species_counts={result.species: 1}
    )
    return stored


def record_predictions(
    *,
    result: BatchResult,
    features: np.ndarray,
    source: str,
    batch_id: uuid.UUID | None = None,
    created_at: np.ndarray | None = None,
) -> uuid.UUID:
    """Store every row of a batch in one transaction, all or nothing; return the batch id they share.

    ``features``: (rows, features) in FEATURES order. ``created_at`` (UTC datetime64, one per
    row) is for synthetic histories; by default every row gets the current time.
    """
    batch_id = batch_id or uuid.uuid4()
    constants = {"model_version": result.model.version_id, "source": source, "batch_id": batch_id}
    if created_at is None:
        constants["created_at"] = timezone.now()
    columns = {field: features[:, index].tolist() for index, field in enumerate(FEATURE_FIELDS)}
    columns |= {
        "species": result.species.tolist(),
        "probability": result.probability.tolist(),
        "outside_training_range": result.outside_training_range.tolist(),
    }
    if result.second_opinion is not None:
        constants["shadow_version"] = result.second_opinion.model.version_id
        columns["shadow_species"] = result.second_opinion.species.tolist()
        columns["shadow_probability"] = result.second_opinion.probability.tolist()
    fast_inserts.insert_predictions(
        columns=columns,
        constants=constants,
        classes=result.model.classes,
        probabilities=result.probabilities,
        created_at=created_at,
    )
    metrics.count_stored_predictions(
        model_version=result.model.version,
        source=source,
        species_counts={label: int(np.count_nonzero(result.species == label)) for label in result.model.classes},
    )
    return batch_id


def _second_opinion(result: PredictionResult) -> dict:
    """The other version's answer while a candidate runs (predictor.candidates): stored beside the row, never shown."""
    opinion = result.second_opinion
    if opinion is None:
        return {}
    return {
        "shadow_version": opinion.model.record,
        "shadow_species": opinion.species,
        "shadow_probability": opinion.probability,
    }
