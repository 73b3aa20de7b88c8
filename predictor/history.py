"""Writing to the prediction history: every entry point stores its answers through here."""

import json
import uuid
from itertools import islice, repeat

import numpy as np
from django.db import connection, transaction
from django.utils import timezone

from .features import FEATURES
from .model_service import BatchResult, PredictionResult
from .models import Prediction

BULK_INSERT_ROWS = 10_000  # rows sent per round trip; bounds memory for million-row uploads


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


def record_predictions(
    *, result: BatchResult, features: np.ndarray, source: str, batch_id: uuid.UUID | None = None
) -> uuid.UUID:
    """Store every row of a batch in one transaction, all or nothing; return the batch id they share.

    One parameterised INSERT run with executemany: building a model instance per row costs more
    than the database itself (about 6x slower for 100,000 rows with bulk_create on SQLite).
    """
    batch_id = batch_id or uuid.uuid4()
    constant = {
        "model_version": result.model.version_id,
        "source": source,
        "batch_id": batch_id,
        "created_at": timezone.now(),
    }
    varying = [feature.field for feature in FEATURES] + ["species", "probability", "probabilities"]
    fields = [Prediction._meta.get_field(name) for name in [*varying, *constant]]
    constant_values = [
        Prediction._meta.get_field(name).get_db_prep_save(value, connection) for name, value in constant.items()
    ]
    sql = "INSERT INTO {table} ({columns}) VALUES ({placeholders})".format(
        table=connection.ops.quote_name(Prediction._meta.db_table),
        columns=", ".join(connection.ops.quote_name(field.column) for field in fields),
        placeholders=", ".join(["%s"] * len(fields)),
    )
    # The text Prediction.probabilities (a JSONField) would store, formatted without a dict and a
    # json.dumps per row (the slowest step otherwise); repr of a finite float is valid JSON.
    keys = [json.dumps(label).replace("{", "{{").replace("}", "}}") for label in result.model.classes]
    template = "{{" + ", ".join(f"{key}: {{!r}}" for key in keys) + "}}"
    probabilities_json = (template.format(*row) for row in result.probabilities.tolist())
    rows = zip(
        *(features[:, index].tolist() for index in range(len(FEATURES))),
        result.species.tolist(),
        result.probability.tolist(),
        probabilities_json,
        *(repeat(value) for value in constant_values),
        strict=False,  # the repeated constants never run out; the other columns are equally long
    )
    with transaction.atomic(), connection.cursor() as cursor:
        while chunk := list(islice(rows, BULK_INSERT_ROWS)):
            cursor.executemany(sql, chunk)
    return batch_id
