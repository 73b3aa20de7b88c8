"""Writing to the prediction history: every entry point stores its answers through here."""

import json
import uuid
from datetime import UTC, datetime
from itertools import islice, repeat

import numpy as np
from django.db import connection, transaction
from django.utils import timezone

from .features import FEATURES
from .model_service import BatchResult, PredictionResult, active_model
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


def populate_synthetic_history(*, count: int, days: int = 30, seed: int = 0, batch_size: int = 10_000) -> int:
    """Fill the history with ``count`` predictions of the active model on made-up animals.

    For benchmarks and demos: inputs are drawn around the shipped data set, answers come from
    the real model in one vectorised call per batch, rows go in with bulk inserts.
    """
    model = active_model()
    rng = np.random.default_rng(seed)
    now = timezone.now()
    columns = model.classes
    adapt_json = connection.ops.adapt_json_value
    insert = _insert_statement(
        ["created_at", "height_cm", "weight_kg", "species", "probability", "probabilities", "model_version", "source"]
    )
    if connection.vendor == "sqlite":
        # A million rows touch every index page; a 1 GiB page cache for this connection keeps
        # them in memory instead of re-reading them for each batch (about twice as fast).
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA cache_size=-1048576")
    for start in range(0, count, batch_size):
        size = min(batch_size, count - start)
        is_dog = rng.random(size) < 0.5
        heights = np.where(is_dog, rng.normal(86, 5, size), rng.normal(79, 4, size)).clip(10, 300).round(1)
        weights = np.where(is_dog, rng.normal(46, 4, size), rng.normal(40, 4, size)).clip(1, 500).round(1)
        probabilities = model.estimator.predict_proba(np.column_stack([heights, weights]))
        best = probabilities.argmax(axis=1)
        ages = np.sort(rng.uniform(0, days * 86_400, size))[::-1]
        times = _database_times(now, ages)
        rows = [
            (
                created_at,
                height,
                weight,
                columns[winner],
                row[winner],
                adapt_json(dict(zip(columns, row, strict=True)), None),
                model.version_id,
                Prediction.Source.FORM.value,
            )
            for height, weight, row, winner, created_at in zip(
                heights.tolist(), weights.tolist(), probabilities.tolist(), best.tolist(), times, strict=True
            )
        ]
        with connection.cursor() as cursor:
            cursor.executemany(insert, rows)
    return count


def _database_times(now: datetime, ages_in_seconds: np.ndarray) -> list:
    """``now`` minus each age, as the database takes it; vectorised, since a million rows add up."""
    utc = np.datetime64(now.astimezone(UTC).replace(tzinfo=None), "us")
    moments = utc - (ages_in_seconds * 1e6).astype("timedelta64[us]")
    if connection.vendor == "sqlite":
        # Django stores SQLite times as naive UTC text, "YYYY-MM-DD HH:MM:SS.ffffff".
        return np.char.replace(np.datetime_as_string(moments, unit="us"), "T", " ").tolist()
    return [moment.replace(tzinfo=UTC) for moment in moments.astype(datetime)]


def _insert_statement(field_names: list[str]) -> str:
    # Plain multi-row inserts: building a million model instances for bulk_create costs minutes.
    quote = connection.ops.quote_name
    columns = [Prediction._meta.get_field(name).column for name in field_names]
    placeholders = ", ".join(["%s"] * len(columns))
    return f"INSERT INTO {quote(Prediction._meta.db_table)} ({', '.join(map(quote, columns))}) VALUES ({placeholders})"


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
