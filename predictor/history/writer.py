"""Writing to the prediction history: every entry point stores its answers through here.

Stored predictions are counted (predictor.ops.metrics) once their transaction commits. A batch that
a job stores in chunks, out of sight (PendingBatch), is counted once, when the job publishes it
(``published_counts`` then ``count_published``): a batch that later fails was never stored.
"""

import json
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from django.db.models import Count
from django.utils import timezone

from predictor.history import _sql
from predictor.models import ModelVersion, PendingBatch, Prediction
from predictor.ops import metrics
from predictor.schema.inputs import InputsRefused
from predictor.serving.results import BatchResult, PredictionResult


@dataclass(frozen=True)
class StoredCount:
    """How many stored predictions one version of one model answered from one source, by class."""

    model: str  # its slug
    model_version: int
    source: str
    species_counts: dict[str, int]


def record_prediction(
    *,
    result: PredictionResult,
    source: str = Prediction.Source.FORM,
    submission_key: str | None = None,
) -> Prediction:
    """Store one answer, with the inputs it answered, and return it as stored.

    A ``submission_key`` that is already stored stores nothing and returns the row stored with it
    (predictor.web.answers decides what a repeated key means). Inputs the model's schema refuses
    (out of bounds, not finite, not one of a category's values) raise InputsRefused: code that
    skips the form and the API is held to their rules here.
    """
    if problems := result.model.schema.problems(result.inputs):
        raise InputsRefused(" ".join(problems))
    stored = _sql.insert_prediction(
        {
            "created_at": timezone.now(),
            "model": result.model.record.model,
            "inputs": result.inputs,
            "species": result.species,
            "probability": result.probability,
            "probabilities": result.probabilities,
            "model_version": result.model.record,
            "source": source,
            "outside_training_range": result.outside_training_range,
            "prediction_set": result.prediction_set,
            "submission_key": submission_key,
            **_second_opinion(result),
        }
    )
    if stored is None:
        return Prediction.objects.get(submission_key=submission_key)
    metrics.count_stored_predictions(
        model=result.model.record.model.slug,
        model_version=result.model.version,
        source=source,
        species_counts={result.species: 1},
    )
    return stored


def record_predictions(
    *,
    result: BatchResult,
    source: str,
    batch_id: uuid.UUID | None = None,
    created_at: np.ndarray | None = None,
) -> uuid.UUID:
    """Store every row of a batch in one transaction, all or nothing; return the batch id they share.

    Each row's inputs are the result's (``result.inputs``, columns in its schema's order). ``created_at``
    (UTC datetime64, one per row) is for synthetic histories; by default every row gets the current time.
    A row its schema refuses raises InputsRefused, naming it, before anything is stored.
    """
    result.model.schema.refuse_bad_rows(result.inputs)
    batch_id = batch_id or uuid.uuid4()
    constants = {
        "model": result.model.record.model_id,
        "model_version": result.model.version_id,
        "source": source,
        "batch_id": batch_id,
    }
    if created_at is None:
        constants["created_at"] = timezone.now()
    inputs = {item.name: result.inputs[:, index].tolist() for index, item in enumerate(result.model.schema.inputs)}
    columns = {
        "species": result.species.tolist(),
        "probability": result.probability.tolist(),
        "outside_training_range": result.outside_training_range.tolist(),
    }
    if result.prediction_sets is not None:
        # JSON text per row, as the raw inserts take it (NULL where the version has no sets).
        columns["prediction_set"] = [json.dumps(labels) for labels in result.prediction_sets]
    if result.second_opinion is not None:
        constants["shadow_version"] = result.second_opinion.model.version_id
        columns["shadow_species"] = result.second_opinion.species.tolist()
        columns["shadow_probability"] = result.second_opinion.probability.tolist()
    _sql.insert_predictions(
        columns=columns,
        inputs=inputs,
        constants=constants,
        classes=result.model.classes,
        probabilities=result.probabilities,
        created_at=created_at,
    )
    if not PendingBatch.objects.filter(batch_id=batch_id).exists():
        metrics.count_stored_predictions(
            model=result.model.record.model.slug,
            model_version=result.model.version,
            source=source,
            species_counts={label: int(np.count_nonzero(result.species == label)) for label in result.model.classes},
        )
    return batch_id


def _second_opinion(result: PredictionResult) -> dict:
    """The other version's answer while a candidate runs (predictor.serving.candidates): stored, never shown."""
    opinion = result.second_opinion
    if opinion is None:
        return {}
    return {
        "shadow_version": opinion.model.record,
        "shadow_species": opinion.species,
        "shadow_probability": opinion.probability,
    }


def published_counts(batch_ids: Iterable[uuid.UUID]) -> list[StoredCount]:
    """What the still pending batches ``batch_ids`` hold, for ``count_published`` once they are published.

    Read before the transaction that publishes them: a long read (a million rows) kept outside
    SQLite's write lock. Their rows no longer change by then: the job has stored its last chunk.
    """
    rows = Prediction.with_unpublished.filter(batch_id__in=list(batch_ids)).order_by()
    grouped = rows.values_list("model_version_id", "source", "species").annotate(rows=Count("pk"))
    by_version_and_source: dict[tuple[int, str], dict[str, int]] = defaultdict(dict)
    for version_id, source, species, count in grouped:
        by_version_and_source[version_id, source][species] = count
    versions = ModelVersion.objects.filter(pk__in={key[0] for key in by_version_and_source})
    numbers = {pk: (slug, number) for pk, slug, number in versions.values_list("pk", "model__slug", "version")}
    return [
        StoredCount(
            model=numbers[version_id][0],
            model_version=numbers[version_id][1],
            source=source,
            species_counts=species_counts,
        )
        for (version_id, source), species_counts in by_version_and_source.items()
    ]


def count_published(counts: Iterable[StoredCount]) -> None:
    """Count batches as stored when the transaction that publishes them (deletes their PendingBatch) commits."""
    for stored in counts:
        metrics.count_stored_predictions(
            model=stored.model,
            model_version=stored.model_version,
            source=stored.source,
            species_counts=stored.species_counts,
        )
