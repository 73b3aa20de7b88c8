"""The project's only raw SQL that writes rows: storing a batch of predictions in one statement.

Why it exists: a batch upload stores up to a million rows, and building a model instance per row
costs more than the database itself (``bulk_create`` took about 7x as long for 100,000 rows on
SQLite; ``bench/bulk_insert_gain.py`` measures both in one run). So a batch is one parameterised
``INSERT`` run through ``executemany`` in chunks, with columns that are the same for every row
sent as repeated parameters, and each row's probabilities JSON built by the database
(``json_object`` on SQLite, ``jsonb_build_object`` on PostgreSQL), which was the slowest step of
a large batch when done in Python. Tests compare what it stores with what the ORM would.
"""

import json
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from itertools import islice, repeat
from typing import Any

import numpy as np
from django.db import connection, transaction

from .models import Prediction

CHUNK_ROWS = 10_000  # rows sent per round trip; bounds memory for million-row uploads

# SQL that builds a JSON object from (key, value) parameter pairs, by database vendor; others get
# the JSON text from Python.
JSON_OBJECT_SQL = {"sqlite": "json_object({pairs})", "postgresql": "jsonb_build_object({pairs})"}
JSON_PAIR_SQL = {"sqlite": "%s, %s", "postgresql": "%s::text, %s::float8"}


def insert_predictions(
    *,
    columns: dict[str, Iterable[Any]],
    constants: dict[str, Any],
    classes: Sequence[str],
    probabilities: np.ndarray,
    created_at: np.ndarray | None = None,
) -> None:
    """Insert one prediction row per item of ``columns``' values, in one transaction.

    ``columns``: model field name -> one value per row; ``constants``: model field name -> the
    value every row gets; ``probabilities``: (rows, classes), stored as each row's JSON;
    ``created_at``: UTC datetime64 per row (synthetic histories), else ``constants`` holds it.
    """
    names = [*columns, "probabilities", *constants]
    values: list[Iterable[Any]] = list(columns.values())
    json_object = JSON_OBJECT_SQL.get(connection.vendor)
    if json_object:
        probabilities_sql = json_object.format(pairs=", ".join([JSON_PAIR_SQL[connection.vendor]] * len(classes)))
        pair_values: list[Iterable[Any]] = []
        for index, label in enumerate(classes):
            pair_values += [repeat(label), probabilities[:, index].tolist()]
        values.extend(pair_values)
    else:
        probabilities_sql = "%s"
        values.append(json.dumps(dict(zip(classes, row, strict=True))) for row in probabilities.tolist())
    values += [repeat(_db_value(name, value)) for name, value in constants.items()]
    if created_at is not None:
        names.append("created_at")
        values.append(_database_times(created_at))
    placeholders = ["%s"] * len(columns) + [probabilities_sql] + ["%s"] * (len(names) - len(columns) - 1)
    sql = _insert_sql(names, placeholders)
    # strict=False: the repeated constants never run out; every other column has one value per row.
    rows: Iterator[tuple] = zip(*values, strict=False)
    with transaction.atomic(), connection.cursor() as cursor:
        while chunk := list(islice(rows, CHUNK_ROWS)):
            cursor.executemany(sql, chunk)


def _db_value(name: str, value: Any) -> Any:
    return Prediction._meta.get_field(name).get_db_prep_save(value, connection)


def _insert_sql(names: Sequence[str], placeholders: Sequence[str]) -> str:
    quote = connection.ops.quote_name
    return "INSERT INTO {table} ({columns}) VALUES ({placeholders})".format(
        table=quote(Prediction._meta.db_table),
        columns=", ".join(quote(Prediction._meta.get_field(name).column) for name in names),
        placeholders=", ".join(placeholders),
    )


def _database_times(moments: np.ndarray) -> list:
    """UTC datetime64 values as the database takes them; vectorised, since a million rows add up."""
    if connection.vendor == "sqlite":
        # Django stores SQLite times as naive UTC text, "YYYY-MM-DD HH:MM:SS.ffffff".
        return np.char.replace(np.datetime_as_string(moments, unit="us"), "T", " ").tolist()
    return [moment.replace(tzinfo=UTC) for moment in moments.astype("datetime64[us]").astype(datetime)]
