"""Batch predictions from an uploaded CSV: check the file, predict every row at once, store, keep the results.

All or nothing: a bad row refuses the whole file before anything is stored, and the rows are
stored in one transaction. The uploaded file is kept beside the stored rows; the results CSV
is built from both when it is downloaded.
"""

import io
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from itertools import islice

import numpy as np
import pandas as pd
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.db import transaction
from django.db.models import Count, FloatField
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast
from django.utils.translation import gettext

from . import history, model_service, training_data
from .features import FEATURES
from .models import Prediction

UPLOADS_STORAGE = "batch_uploads"
SPECIES_COLUMN = "predicted_species"
VERSION_COLUMN = "model_version"
PROBABILITY_PREFIX = "probability_"
RESULTS_CHUNK_ROWS = 20_000
PREVIEW_ROWS = 10  # rows shown on the batch's page


class BatchFileError(ValueError):
    """The uploaded file cannot be used; the message names the line or column at fault."""


@dataclass(frozen=True)
class BatchFile:
    table: pd.DataFrame  # every column as written, wholly blank lines dropped
    features: np.ndarray  # (rows, features), columns in FEATURES order


@dataclass(frozen=True)
class BatchSummary:
    batch_id: uuid.UUID
    rows: int
    species_counts: dict[str, int]
    model_version: int
    created_at: datetime
    outside_training_range: int  # rows with a measurement outside what the version was trained on
    first_rows: list[Prediction]  # a preview, in file order

    @property
    def species_shares(self) -> list[tuple[str, int, str]]:
        """(species, rows, share of the batch as text), most frequent first."""
        ranked = sorted(self.species_counts.items(), key=lambda item: (-item[1], item[0]))
        return [(species, count, f"{count / self.rows:.1%}") for species, count in ranked]


def read_batch_csv(content: bytes, *, max_rows: int) -> BatchFile:
    """Read and check an uploaded CSV with a column per feature; raise BatchFileError on the first problem."""
    if not content.strip():
        raise BatchFileError(gettext("The file is empty."))
    try:
        # Strings first, so that each bad cell can be reported as written and every other column
        # is passed through untouched; keeping blank lines keeps the index in step with line numbers.
        table = pd.read_csv(io.BytesIO(content), **training_data.READ_OPTIONS)
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as error:
        reason = str(error).strip().splitlines()[0]
        raise BatchFileError(gettext("This is not a readable CSV file (%(reason)s).") % {"reason": reason}) from None
    if not isinstance(table.index, pd.RangeIndex):
        raise BatchFileError(gettext("Line 2 has more values than the header has column names."))
    table.columns = [str(column).strip() for column in table.columns]
    required = [feature.column for feature in FEATURES]
    missing = [column for column in required if column not in table.columns]
    if missing:
        message = gettext("Line 1: missing column %(missing)s (the header must name %(required)s; it names %(named)s).")
        raise BatchFileError(
            message
            % {
                "missing": ", ".join(missing),
                "required": ", ".join(required),
                "named": ", ".join(table.columns) or gettext("nothing"),
            }
        )
    reserved = [column for column in table.columns if _is_result_column(column)]
    if reserved:
        message = gettext("Line 1: column %(column)s would be overwritten by the results; rename it.")
        raise BatchFileError(message % {"column": reserved[0]})
    table = table[(table != "").any(axis=1)]  # wholly blank lines carry no row
    if table.empty:
        raise BatchFileError(gettext("There are no data rows below the header."))
    if len(table) > max_rows:
        message = gettext("The file has %(rows)s rows; at most %(limit)s are accepted in one upload.")
        raise BatchFileError(message % {"rows": f"{len(table):,}", "limit": f"{max_rows:,}"})
    try:
        features = training_data.feature_matrix(table)
    except training_data.CellError as error:
        message = gettext("Line %(line)s, column %(column)s: %(reason)s.")
        raise BatchFileError(message % {"line": error.line, "column": error.column, "reason": error.reason}) from None
    return BatchFile(table=table.reset_index(drop=True), features=features)


def predict_file(content: bytes) -> uuid.UUID:
    """Check, predict and store every row of an uploaded CSV, and keep the file; return the batch id."""
    batch_file = read_batch_csv(content, max_rows=settings.BATCH_UPLOAD_MAX_ROWS)
    result = model_service.predict_many(batch_file.features)
    storage = storages[UPLOADS_STORAGE]
    batch_id = uuid.uuid4()
    saved_name = None
    try:
        with transaction.atomic():
            history.record_predictions(
                result=result, features=batch_file.features, source=Prediction.Source.BATCH, batch_id=batch_id
            )
            # Inside the transaction: if the file cannot be kept, no rows are stored either.
            saved_name = storage.save(_upload_name(batch_id), ContentFile(content))
    except BaseException:
        if saved_name is not None:
            storage.delete(saved_name)  # the rows it belongs to were rolled back
        raise
    return batch_id


def results_csv(batch_id: uuid.UUID) -> Iterator[bytes]:
    """The uploaded file's columns plus each row's stored prediction, as CSV chunks.

    Built when downloaded, from the kept upload and the stored rows (the record, not a copy), so
    an upload is ready as soon as it is stored. Raises FileNotFoundError for an unknown batch.
    """
    storage = storages[UPLOADS_STORAGE]
    name = _upload_name(batch_id)
    if not storage.exists(name):
        raise FileNotFoundError(name)
    with storage.open(name, "rb") as upload:
        table = read_batch_csv(upload.read(), max_rows=sys.maxsize).table
    rows = Prediction.objects.filter(batch_id=batch_id).order_by("id")
    classes = sorted(rows.values_list("probabilities", flat=True).first() or {})
    # Each probability read by the database as a number: decoding a JSON object per row in Python
    # took most of the download's time.
    probabilities = [Cast(KeyTextTransform(label, "probabilities"), FloatField()) for label in classes]
    stored = rows.values_list("species", *probabilities, "model_version__version")
    return _results_chunks(table, classes, stored.iterator(chunk_size=RESULTS_CHUNK_ROWS))


def batch_summary(batch_id: uuid.UUID) -> BatchSummary | None:
    """What a stored CSV batch holds, read back from the history; None for an unknown batch."""
    rows = Prediction.objects.filter(batch_id=batch_id, source=Prediction.Source.BATCH)
    counts = dict(rows.order_by().values_list("species").annotate(rows=Count("id")))
    first_rows = list(rows.select_related("model_version").order_by("id")[:PREVIEW_ROWS])
    if not first_rows:
        return None
    return BatchSummary(
        batch_id=batch_id,
        rows=sum(counts.values()),
        species_counts=dict(sorted(counts.items())),
        model_version=first_rows[0].model_version.version,
        created_at=first_rows[0].created_at,
        outside_training_range=rows.filter(outside_training_range=True).count(),
        first_rows=first_rows,
    )


def _results_chunks(table: pd.DataFrame, classes: list[str], stored: Iterator[tuple]) -> Iterator[bytes]:
    columns = [SPECIES_COLUMN, *(f"{PROBABILITY_PREFIX}{label}" for label in classes), VERSION_COLUMN]
    for start in range(0, len(table), RESULTS_CHUNK_ROWS):
        chunk = table.iloc[start : start + RESULTS_CHUNK_ROWS]
        rows = list(islice(stored, len(chunk)))
        if len(rows) != len(chunk):
            raise RuntimeError(f"batch file has {len(table)} rows but fewer predictions are stored")
        results = pd.DataFrame(rows, columns=columns, index=chunk.index)
        yield pd.concat([chunk, results], axis=1).to_csv(index=False, header=start == 0).encode()


def _is_result_column(column: str) -> bool:
    return column in {SPECIES_COLUMN, VERSION_COLUMN} or column.startswith(PROBABILITY_PREFIX)


def _upload_name(batch_id: uuid.UUID) -> str:
    return f"{batch_id}.csv"
