"""Raw SQL that stores predictions: one form answer, or a batch (restores and rate limits have their own).

Why: both are the site's hot paths, and Django's ORM costs more than the database there.
``bench/profile_requests.py`` and ``bench/fast_inserts_gain.py`` measure each against the ORM in
one run (figures in docs/performance.md):

- a form answer is one ``INSERT ... ON CONFLICT DO NOTHING``: a double click or a re-sent form
  (the same submission key, see predictor.web.answers) inserts nothing and needs no savepoint to
  recover from, and the SQL compiler and ``save()`` machinery are skipped; the row comes back as
  a model instance through ``Model.from_db``, as Django builds one from a query. Its id comes
  from ``RETURNING id`` on PostgreSQL and from the cursor's ``lastrowid`` on SQLite, where a
  RETURNING statement holds the database's only write lock until Python fetches its row;
- a batch (up to a million rows) is one parameterised ``INSERT`` run through ``executemany`` in
  chunks, with the columns every row shares sent as repeated parameters and each row's inputs
  and probabilities JSON built by the database (``json_object`` on SQLite, ``jsonb_build_object``
  on PostgreSQL): a model instance per row cost more than the database itself.

On SQLite, the form's and the API's writes (this one and the rate-limit count) wait for the write
lock through ``predictor.ops.sqlite_turns.execute_write``, which polls every millisecond instead of
sleeping in SQLite's busy handler; its docstring says why.

Private to the history room (an import-linter contract in pyproject.toml): every other part
stores predictions through ``predictor.history.writer``. Tests compare what both store with what
the ORM stores.
"""

import json
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from itertools import islice, repeat
from typing import Any

import numpy as np
from django.db import connection, transaction
from django.db.models import JSONField, Model

from predictor.models import Prediction
from predictor.ops import sqlite_turns

CHUNK_ROWS = 10_000  # rows sent per round trip; bounds memory for million-row uploads

# SQL that builds a JSON object from (key, value) parameter pairs, by database vendor; others get
# the JSON text from Python.
JSON_OBJECT_SQL = {"sqlite": "json_object({pairs})", "postgresql": "jsonb_build_object({pairs})"}


def _json_object_sql(pairs: int) -> str | None:
    """SQL that builds one JSON object from ``pairs`` (key, value) parameters; None where Python must."""
    json_object = JSON_OBJECT_SQL.get(connection.vendor)
    return json_object.format(pairs=", ".join(["%s, %s"] * pairs)) if json_object else None


def insert_prediction(values: dict[str, Any]) -> Prediction | None:
    """Insert one prediction (model field name -> value) and return it as stored.

    None when the row conflicts with a stored one (its submission key is taken): nothing is
    inserted then. Check constraints still raise IntegrityError.
    """
    names = list(values)
    related = {name: value for name, value in values.items() if isinstance(value, Model)}
    plain = [value.pk if name in related else value for name, value in values.items()]
    parameters = [_db_value(name, value) for name, value in zip(names, plain, strict=True)]
    sql = _insert_sql(names, ["%s"] * len(names)) + " ON CONFLICT DO NOTHING"
    with connection.cursor() as cursor:
        if sqlite_turns.returning_holds_the_write_lock(connection):
            sqlite_turns.execute_write(cursor, sql, parameters)
            inserted_id = cursor.lastrowid if cursor.rowcount == 1 else None
        else:
            cursor.execute(sql + " RETURNING id", parameters)
            row = cursor.fetchone()
            inserted_id = row[0] if row else None
    if inserted_id is None:
        return None
    attnames = [Prediction._meta.get_field(name).attname for name in names]
    prediction = Prediction.from_db(connection.alias, ["id", *attnames], [inserted_id, *plain])
    for name, value in related.items():
        setattr(prediction, name, value)  # the object in hand, not another query
    return prediction


def insert_predictions(
    *,
    columns: dict[str, Iterable[Any]],
    inputs: dict[str, list[Any]],
    constants: dict[str, Any],
    classes: Sequence[str],
    probabilities: np.ndarray,
    created_at: np.ndarray | None = None,
) -> None:
    """Insert one prediction row per item of ``columns``' values, in one transaction.

    ``columns``: model field name -> one value per row (a JSON field's as JSON text); ``inputs``:
    input name -> one value per row (numbers as floats, categories as text), stored as each row's
    ``inputs`` JSON;
    ``constants``: model field name -> the value every row gets; ``probabilities``: (rows,
    classes), stored as each row's JSON; ``created_at``: UTC datetime64 per row (synthetic
    histories), else ``constants`` holds it.
    """
    if connection.vendor == "postgresql":
        _insert_predictions_as_arrays(
            columns=columns,
            inputs=inputs,
            constants=constants,
            classes=classes,
            probabilities=probabilities,
            created_at=created_at,
        )
        return
    names = [*columns, "inputs", "probabilities", *constants]
    values: list[Iterable[Any]] = list(columns.values())
    inputs_sql = _json_object_sql(len(inputs))
    probabilities_sql = _json_object_sql(len(classes))
    if inputs_sql and probabilities_sql:
        for name, column in inputs.items():
            values += [repeat(name), column]
        for index, label in enumerate(classes):
            values += [repeat(label), probabilities[:, index].tolist()]
    else:
        inputs_sql = probabilities_sql = "%s"
        keys = list(inputs)
        values.append(json.dumps(dict(zip(keys, row, strict=True))) for row in zip(*inputs.values(), strict=True))
        values.append(json.dumps(dict(zip(classes, row, strict=True))) for row in probabilities.tolist())
    values += [repeat(_db_value(name, value)) for name, value in constants.items()]
    if created_at is not None:
        names.append("created_at")
        values.append(_database_times(created_at))
    placeholders = ["%s"] * len(columns) + [inputs_sql, probabilities_sql] + ["%s"] * (len(names) - len(columns) - 2)
    sql = _insert_sql(names, placeholders)
    # strict=False: the repeated constants never run out; every other column has one value per row.
    rows: Iterator[tuple] = zip(*values, strict=False)
    with transaction.atomic(), connection.cursor() as cursor:
        while chunk := list(islice(rows, CHUNK_ROWS)):
            cursor.executemany(sql, chunk)


def _insert_predictions_as_arrays(
    *,
    columns: dict[str, Iterable[Any]],
    inputs: dict[str, list[Any]],
    constants: dict[str, Any],
    classes: Sequence[str],
    probabilities: np.ndarray,
    created_at: np.ndarray | None,
) -> None:
    """PostgreSQL: one ``INSERT ... SELECT FROM unnest(arrays)`` per CHUNK_ROWS rows, each column one array.

    Why: ``executemany`` sends one statement per row, and with Django's client-side parameter
    binding PostgreSQL parses and plans each of them: 100,000 rows took 17 s of a batch job's 19 s.
    """
    import psycopg  # only on PostgreSQL, whose driver it is

    per_row = {name: list(values) for name, values in columns.items()}
    input_names = list(inputs)
    per_row |= {f"input_{index}": list(inputs[name]) for index, name in enumerate(input_names)}
    per_row |= {f"probability_{index}": probabilities[:, index].tolist() for index in range(len(classes))}
    if created_at is not None:
        per_row["created_at"] = _database_times(created_at)
    # A JSON column (the prediction set) travels as text per row, parsed by the database.
    json_columns = {name for name in columns if isinstance(Prediction._meta.get_field(name), JSONField)}
    array_types = {name: "text" if name in json_columns else _db_type(name) for name in columns}
    array_types |= {
        f"input_{index}": "text" if inputs[name] and isinstance(inputs[name][0], str) else "double precision"
        for index, name in enumerate(input_names)
    }
    array_types |= {f"probability_{index}": "double precision" for index in range(len(classes))}
    if created_at is not None:
        array_types["created_at"] = _db_type("created_at")
    quote = connection.ops.quote_name
    input_pairs = ", ".join(f"%s::text, t.{quote(f'input_{index}')}" for index in range(len(input_names)))
    pairs = ", ".join(f"%s::text, t.{quote(f'probability_{index}')}" for index in range(len(classes)))
    selected = [f"t.{quote(name)}::jsonb" if name in json_columns else f"t.{quote(name)}" for name in columns]
    selected += [f"jsonb_build_object({input_pairs})", f"jsonb_build_object({pairs})"]
    selected += [f"%s::{_db_type(name)}" for name in constants]
    if created_at is not None:
        selected.append(f"t.{quote('created_at')}")
    names = [*columns, "inputs", "probabilities", *constants] + (["created_at"] if created_at is not None else [])
    arrays = ", ".join(f"%b::{array_types[name]}[]" for name in per_row)
    aliases = ", ".join(quote(name) for name in per_row)
    # Names and types come from the model's metadata, quoted by the backend; every value is a parameter.
    selection = ", ".join(selected)
    # One literal and .format(), not an f-string: bandit takes each part of an f-string for a line of
    # its own and warns that its nosec is unused, so `make lint` would not be silent.
    select = " SELECT {} FROM unnest({}) AS t({})".format(selection, arrays, aliases)  # nosec B608  # noqa: UP032
    sql = _insert_sql(names, []).replace(" VALUES ()", "") + select
    constant_values = [_db_value(name, value) for name, value in constants.items()]
    rows = len(next(iter(per_row.values())))
    # A cursor binding parameters on the server: Django's binds them into the SQL text, which for
    # 100,000 numbers in arrays cost a quarter of the insert.
    with transaction.atomic(), psycopg.Cursor(connection.connection) as cursor:
        for start in range(0, rows, CHUNK_ROWS):
            chunk = [values[start : start + CHUNK_ROWS] for values in per_row.values()]
            cursor.execute(sql, [*input_names, *classes, *constant_values, *chunk])


def _db_type(name: str) -> str:
    field = Prediction._meta.get_field(name)
    return field.target_field.rel_db_type(connection) if field.is_relation else field.db_type(connection)


def _db_value(name: str, value: Any) -> Any:
    return Prediction._meta.get_field(name).get_db_prep_save(value, connection)


def _insert_sql(names: Sequence[str], placeholders: Sequence[str]) -> str:
    quote = connection.ops.quote_name
    # Table and column names come from the model's own metadata, quoted by the backend; the values
    # travel as query parameters. Nothing a user sends reaches this text.
    return "INSERT INTO {table} ({columns}) VALUES ({placeholders})".format(  # nosec B608
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
