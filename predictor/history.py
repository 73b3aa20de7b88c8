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

# SQL that builds a JSON object from (key, value) parameter pairs, by database vendor; others get
# the JSON text from Python.
JSON_OBJECT_SQL = {"sqlite": "json_object({pairs})", "postgresql": "jsonb_build_object({pairs})"}
JSON_PAIR_SQL = {"sqlite": "%s, %s", "postgresql": "%s::text, %s::float8"}


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
    than the database itself (bulk_create took about 7x as long for 100,000 rows on SQLite).
    """
    batch_id = batch_id or uuid.uuid4()
    constant = {
        "model_version": result.model.version_id,
        "source": source,
        "batch_id": batch_id,
        "created_at": timezone.now(),
    }
    classes = result.model.classes
    json_object = JSON_OBJECT_SQL.get(connection.vendor)
    values = [features[:, index].tolist() for index in range(len(FEATURES))]
    values += [result.species.tolist(), result.probability.tolist()]
    if json_object:
        # The database writes each row's {"species": probability} JSON; formatting it in Python
        # was the slowest step of a large batch.
        probabilities_sql = json_object.format(pairs=", ".join([JSON_PAIR_SQL[connection.vendor]] * len(classes)))
        for index, label in enumerate(classes):
            values += [repeat(label), result.probabilities[:, index].tolist()]
    else:
        probabilities_sql = "%s"
        values.append(json.dumps(dict(zip(classes, row, strict=True))) for row in result.probabilities.tolist())
    values += [repeat(Prediction._meta.get_field(name).get_db_prep_save(v, connection)) for name, v in constant.items()]

    names = [*(feature.field for feature in FEATURES), "species", "probability", "probabilities", *constant]
    placeholders = ["%s"] * len(names)
    placeholders[names.index("probabilities")] = probabilities_sql
    sql = "INSERT INTO {table} ({columns}) VALUES ({placeholders})".format(
        table=connection.ops.quote_name(Prediction._meta.db_table),
        columns=", ".join(connection.ops.quote_name(Prediction._meta.get_field(name).column) for name in names),
        placeholders=", ".join(placeholders),
    )
    # strict=False: the repeated constants never run out; every other column has one value per row.
    rows = zip(*values, strict=False)
    with transaction.atomic(), connection.cursor() as cursor:
        while chunk := list(islice(rows, BULK_INSERT_ROWS)):
            cursor.executemany(sql, chunk)
    return batch_id
