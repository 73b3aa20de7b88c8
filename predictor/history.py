"""Writing to the prediction history: every entry point stores its answers through here."""

import functools
import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from itertools import islice, repeat

import numpy as np
from django.db import connection, transaction
from django.utils import timezone

from .features import FEATURES
from .model_service import BatchResult, PredictionResult, predict_many
from .models import Prediction

BULK_INSERT_ROWS = 10_000  # rows sent per round trip; bounds memory for million-row uploads

# SQL that builds a JSON object from (key, value) parameter pairs, by database vendor; others get
# the JSON text from Python.
JSON_OBJECT_SQL = {"sqlite": "json_object({pairs})", "postgresql": "jsonb_build_object({pairs})"}
JSON_PAIR_SQL = {"sqlite": "%s, %s", "postgresql": "%s::text, %s::float8"}


# Written by record_prediction; the others start empty (labels, batch id) for a single answer.
SINGLE_ROW_FIELDS = (
    "created_at",
    "height_cm",
    "weight_kg",
    "species",
    "probability",
    "probabilities",
    "model_version",
    "source",
    "submission_key",
)


def record_prediction(
    *,
    result: PredictionResult,
    height_cm: float,
    weight_kg: float,
    source: str = Prediction.Source.FORM,
    submission_key: str | None = None,
) -> Prediction:
    """Store one answer and return it as saved.

    A form sent again with the same submission key and measurements (a double click, a reload
    that posts again) gets the row stored the first time instead of a second one. The same form
    page sent with other measurements (after going back to it) is a new question.

    One INSERT ... ON CONFLICT DO NOTHING RETURNING id, instead of Model.save() inside a
    savepoint: on the busiest path of the site, save() and the savepoint cost three times as
    much as the INSERT itself.
    """
    prediction = Prediction(
        height_cm=height_cm,
        weight_kg=weight_kg,
        species=result.species,
        probability=result.probability,
        probabilities=result.probabilities,
        model_version=result.model.record,
        source=source,
        submission_key=submission_key,
    )
    fields = [Prediction._meta.get_field(name) for name in SINGLE_ROW_FIELDS]
    values = [field.get_db_prep_save(getattr(prediction, field.attname), connection) for field in fields]
    with connection.cursor() as cursor:
        cursor.execute(_single_row_sql(connection.vendor), values)
        inserted = cursor.fetchone()
    if inserted is not None:
        prediction.pk = inserted[0]
        prediction._state.adding, prediction._state.db = False, connection.alias
        return prediction
    stored = Prediction.objects.get(submission_key=submission_key)  # the only unique column besides id
    if (stored.height_cm, stored.weight_kg) == (height_cm, weight_kg):
        return stored
    return record_prediction(result=result, height_cm=height_cm, weight_kg=weight_kg, source=source)


@functools.cache
def _single_row_sql(vendor: str) -> str:
    """record_prediction's statement, built once per database vendor: it runs on every form post."""
    return _insert_sql(SINGLE_ROW_FIELDS, suffix="ON CONFLICT DO NOTHING RETURNING id")


def _insert_sql(names: Sequence[str], *, placeholders: Sequence[str] = (), suffix: str = "") -> str:
    """INSERT INTO the history table, one %s per column unless ``placeholders`` says otherwise."""
    quote = connection.ops.quote_name
    return "INSERT INTO {table} ({columns}) VALUES ({placeholders}) {suffix}".format(
        table=quote(Prediction._meta.db_table),
        columns=", ".join(quote(Prediction._meta.get_field(name).column) for name in names),
        placeholders=", ".join(placeholders or ["%s"] * len(names)),
        suffix=suffix,
    ).rstrip()


def populate_synthetic_history(*, count: int, days: int = 30, seed: int = 0, batch_size: int = 10_000) -> int:
    """Fill the history with ``count`` predictions of the active model on made-up animals.

    For benchmarks and demos: inputs are drawn around the shipped data set, answers come from
    the real model in one vectorised call per batch, rows go in through ``record_predictions``,
    all under one batch id so a demo fill can be told apart from real traffic. Rows arrive oldest
    first, as real traffic does: ids grow with time, and each batch appends to the time-ordered
    indexes instead of touching every page of them.
    """
    rng = np.random.default_rng(seed)
    now = np.datetime64(timezone.now().astimezone(UTC).replace(tzinfo=None), "us")
    ages = np.sort(rng.uniform(0, days * 86_400, count))[::-1]  # seconds before now, oldest first
    batch_id = uuid.uuid4()
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
        features = np.column_stack([heights, weights])
        record_predictions(
            result=predict_many(features),
            features=features,
            source=Prediction.Source.FORM,
            batch_id=batch_id,
            created_at=now - (ages[start : start + size] * 1e6).astype("timedelta64[us]"),
        )
    return count


def _database_times(moments: np.ndarray) -> list:
    """UTC datetime64 values as the database takes them; vectorised, since a million rows add up."""
    if connection.vendor == "sqlite":
        # Django stores SQLite times as naive UTC text, "YYYY-MM-DD HH:MM:SS.ffffff".
        return np.char.replace(np.datetime_as_string(moments, unit="us"), "T", " ").tolist()
    return [moment.replace(tzinfo=UTC) for moment in moments.astype("datetime64[us]").astype(datetime)]


def record_predictions(
    *,
    result: BatchResult,
    features: np.ndarray,
    source: str,
    batch_id: uuid.UUID | None = None,
    created_at: np.ndarray | None = None,
) -> uuid.UUID:
    """Store every row of a batch in one transaction, all or nothing; return the batch id they share.

    ``created_at`` (UTC datetime64, one per row) is for synthetic histories; by default every row
    gets the current time.

    One parameterised INSERT run with executemany: building a model instance per row costs more
    than the database itself (bulk_create took about 7x as long for 100,000 rows on SQLite).
    """
    batch_id = batch_id or uuid.uuid4()
    constant = {
        "model_version": result.model.version_id,
        "source": source,
        "batch_id": batch_id,
    }
    if created_at is None:
        constant["created_at"] = timezone.now()
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
    if created_at is not None:
        values.append(_database_times(created_at))
        names.append("created_at")
    placeholders = ["%s"] * len(names)
    placeholders[names.index("probabilities")] = probabilities_sql
    sql = _insert_sql(names, placeholders=placeholders)
    # strict=False: the repeated constants never run out; every other column has one value per row.
    rows = zip(*values, strict=False)
    with transaction.atomic(), connection.cursor() as cursor:
        while chunk := list(islice(rows, BULK_INSERT_ROWS)):
            cursor.executemany(sql, chunk)
    return batch_id
