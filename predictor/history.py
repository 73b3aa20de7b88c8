"""Writing to the prediction history: every entry point stores its answers through here."""

from datetime import timedelta

import numpy as np
from django.db import connection
from django.utils import timezone

from .model_service import PredictionResult, active_model
from .models import Prediction


def record_prediction(
    *, result: PredictionResult, height_cm: float, weight_kg: float, source: str = Prediction.Source.FORM
) -> Prediction:
    return Prediction.objects.create(
        height_cm=height_cm,
        weight_kg=weight_kg,
        species=result.species,
        probability=result.probability,
        probabilities=result.probabilities,
        model_version_id=result.model.version_id,
        source=source,
    )


def populate_synthetic_history(*, count: int, days: int = 30, seed: int = 0, batch_size: int = 10_000) -> int:
    """Fill the history with ``count`` predictions of the active model on made-up animals.

    For benchmarks and demos: inputs are drawn around the shipped data set, answers come from
    the real model in one vectorised call per batch, rows go in with bulk inserts.
    """
    model = active_model()
    rng = np.random.default_rng(seed)
    now = timezone.now()
    columns = model.classes
    adapt_datetime = connection.ops.adapt_datetimefield_value
    adapt_json = connection.ops.adapt_json_value
    insert = _insert_statement(
        ["created_at", "height_cm", "weight_kg", "species", "probability", "probabilities", "model_version", "source"]
    )
    for start in range(0, count, batch_size):
        size = min(batch_size, count - start)
        is_dog = rng.random(size) < 0.5
        heights = np.where(is_dog, rng.normal(86, 5, size), rng.normal(79, 4, size)).clip(10, 300).round(1)
        weights = np.where(is_dog, rng.normal(46, 4, size), rng.normal(40, 4, size)).clip(1, 500).round(1)
        probabilities = model.estimator.predict_proba(np.column_stack([heights, weights]))
        best = probabilities.argmax(axis=1)
        ages = np.sort(rng.uniform(0, days * 86_400, size))[::-1]
        rows = [
            (
                adapt_datetime(now - timedelta(seconds=age)),
                height,
                weight,
                columns[winner],
                row[winner],
                adapt_json(dict(zip(columns, row, strict=True)), None),
                model.version_id,
                Prediction.Source.FORM.value,
            )
            for height, weight, row, winner, age in zip(
                heights.tolist(), weights.tolist(), probabilities.tolist(), best.tolist(), ages.tolist(), strict=True
            )
        ]
        with connection.cursor() as cursor:
            cursor.executemany(insert, rows)
    return count


def _insert_statement(field_names: list[str]) -> str:
    # Plain multi-row inserts: building a million model instances for bulk_create costs minutes.
    quote = connection.ops.quote_name
    columns = [Prediction._meta.get_field(name).column for name in field_names]
    placeholders = ", ".join(["%s"] * len(columns))
    return f"INSERT INTO {quote(Prediction._meta.db_table)} ({', '.join(map(quote, columns))}) VALUES ({placeholders})"
