"""Batch predictions from an uploaded CSV: check the file, predict every row at once, store, keep the results.

An upload is for one model (the animals one unless it names another): its header names that model's
columns as its training CSV had them, its cells are checked against the inputs of the version that
answers, and the job carries the model's slug, so a worker in any process answers with the same one.

An upload is a background job (predictor.jobs): the request checks the header and counts the
rows, keeps the file and queues the job; the job reads the file, predicts, and stores the rows
in chunks of JOB_BATCH_CHUNK_ROWS, one transaction each, so SQLite's single write lock is never
held for long. All or nothing still: the rows stay out of every read (PendingBatch) until the
last chunk is stored and the job succeeds, and a failed job's rows and file are removed. The
uploaded file is kept beside the stored rows, for BATCH_UPLOAD_RETENTION_DAYS; the results CSV
is built from both when it is downloaded.

Rows are counted while the file is streamed, before it is parsed: a file over the row cap is
refused at its first extra row, so memory stays bounded whatever the file holds. Every pass before
the parser reads raw lines, each with a cap (BATCH_UPLOAD_MAX_LINE_BYTES), so its work is linear in
the file's size: through codecs' reader a 62 MB file of one line took 18 minutes to refuse.
Messages quote at most QUOTED_NAMES column names, each shortened, so a refusal stays small.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import dataclasses
import datetime as dt
import io
import os
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from pathlib import Path
from typing import IO, TYPE_CHECKING

import numpy as np
from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.files.base import File
from django.core.files.storage import storages
from django.db import connection, transaction
from django.db.models import Count, F, FloatField, Func, QuerySet, Value
from django.utils import timezone
from django.utils.translation import gettext, ngettext

from predictor import jobs
from predictor.history import exports, writer
from predictor.models import Job, MLModel, PendingBatch, Prediction, UnknownModel
from predictor.ops import permissions, sqlite_turns
from predictor.registry import training, training_data
from predictor.schema import numbers
from predictor.schema.features import ANIMALS_SCHEMA, ANIMALS_SLUG
from predictor.schema.inputs import InputsRefused, ModelSchema
from predictor.serving import model_service
from predictor.serving.results import BatchResult

if TYPE_CHECKING:
    import pandas as pd

UPLOADS_STORAGE = "batch_uploads"
SPECIES_COLUMN = "predicted_species"
VERSION_COLUMN = "model_version"
PROBABILITY_PREFIX = "probability_"
RESULTS_CHUNK_ROWS = 20_000
PREVIEW_ROWS = 10  # rows shown on the batch's page
QUOTED_NAMES = 10  # column names a message lists before "and N more"
# Before a batch is queued its cells are checked for this long (a 100,000-row file is checked
# whole), so most bad files are refused on the upload page, not by a job a minute later.
PRE_QUEUE_CHECK_SECONDS = 1.0
PRE_QUEUE_CHECK_CHUNK_ROWS = 20_000
_ONE_UPLOAD_AT_A_TIME = threading.Lock()
STALE_UPLOAD_TEMP_FILE_AGE = dt.timedelta(days=1)  # no upload takes a day to arrive
DELETE_CHUNK_ROWS = 10_000  # a failed batch's rows are removed this many per transaction


class BatchFileError(ValueError):
    """The uploaded file cannot be used; the message names the line or column at fault."""


@dataclass(frozen=True)
class BatchFile:
    table: pd.DataFrame  # every column as written, wholly blank lines dropped
    features: np.ndarray  # (rows, inputs), columns in the schema's order


@dataclass(frozen=True)
class BatchSummary:
    batch_id: uuid.UUID
    model: MLModel
    schema: ModelSchema  # the answering version's: its inputs head the preview, its words name the classes
    rows: int
    species_counts: dict[str, int]
    model_version: int
    created_at: datetime
    outside_training_range: int  # rows with a measurement outside what the version was trained on
    first_rows: list[Prediction]  # a preview, in file order

    @property
    def species_shares(self) -> list[tuple[str, int, str]]:
        """(class as the model names it, rows, share of the batch as text), most frequent first."""
        ranked = sorted(self.species_counts.items(), key=lambda item: (-item[1], item[0]))
        return [(self._shown(label), count, f"{count / self.rows:.1%}") for label, count in ranked]

    @property
    def preview(self) -> list[tuple[Prediction, str]]:
        """The first rows, each with its class as the model names it."""
        return [(row, self._shown(row.species)) for row in self.first_rows]

    def _shown(self, label: str) -> str:
        # The animals pages show a species as stored ("Cat") in every language, as they always have.
        return label if self.model.is_default else self.schema.class_name(label)


def read_batch_csv(
    source: bytes | IO[bytes], *, max_rows: int | None, schema: ModelSchema = ANIMALS_SCHEMA
) -> BatchFile:
    """Read and check an uploaded CSV with a column per input of ``schema``; raise BatchFileError on the first problem.

    ``source``: the file's bytes or a binary file positioned at its start. Rows are counted first,
    streaming, so a file with more than ``max_rows`` rows is refused without being parsed;
    ``max_rows=None`` for a kept upload, counted when it arrived (a second count cost a tenth of a job).
    """
    import pandas as pd  # here, not at the top: only reading a CSV needs it, and it slowed every start

    upload = io.BytesIO(source) if isinstance(source, bytes) else source
    if max_rows is not None:
        _check_row_count(upload, max_rows=max_rows)
        upload.seek(0)
    header = _header(upload)
    upload.seek(0)
    try:
        # Strings first, so that each bad cell can be reported as written and every other column
        # is passed through untouched; keeping blank lines keeps the index in step with line numbers.
        table = pd.read_csv(upload, **training_data.READ_OPTIONS)
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as error:
        reason = str(error).strip().splitlines()[0]
        raise BatchFileError(gettext("This is not a readable CSV file (%(reason)s).") % {"reason": reason}) from None
    if not isinstance(table.index, pd.RangeIndex):
        raise BatchFileError(gettext("Line 2 has more values than the header has column names."))
    table.columns = [str(column).strip() for column in table.columns]
    _check_columns(header, schema)  # as written: pandas renames a repeated column ("Height.1")
    table = table[(table != "").any(axis=1)]  # wholly blank lines carry no row
    if table.empty:
        raise BatchFileError(gettext("There are no data rows below the header."))
    try:
        features = training_data.feature_matrix(table, schema)
    except training_data.CellError as error:
        raise _bad_cell(error) from None
    return BatchFile(table=table.reset_index(drop=True), features=features)


def _bad_cell(error: training_data.CellError) -> BatchFileError:
    # One full stop: a reason such as a bound ("… at least 1 cm.") brings its own.
    reason = error.reason.rstrip(".。")
    message = gettext("Line %(line)s, column %(column)s: %(reason)s.")
    return BatchFileError(message % {"line": error.line, "column": error.column, "reason": reason})


def _check_columns(columns: list[str], schema: ModelSchema) -> None:
    """BatchFileError unless the header names every input's column once and no column the results would overwrite.

    The columns are the model's training CSV's headers as written ("sepal length (cm)"), not the
    inputs' snake-case names: a file laid out like the training data can be uploaded as it is.
    """
    required = list(schema.columns)
    missing = [column for column in required if column not in columns]
    if missing:
        message = gettext("Line 1: missing column %(missing)s (the header must name %(required)s; it names %(named)s).")
        raise BatchFileError(
            message
            % {
                "missing": ", ".join(missing),
                "required": ", ".join(required),
                "named": _quoted_names(columns) or gettext("nothing"),
            }
        )
    seen: set[str] = set()
    for column in columns:
        if column and column in seen:  # unnamed columns (a spreadsheet's trailing commas) may repeat
            message = gettext("Line 1: column %(column)s is named twice; give each column its own name.")
            raise BatchFileError(message % {"column": _shortened(column)})
        seen.add(column)
    reserved = [column for column in columns if _is_result_column(column)]
    if reserved:
        message = gettext("Line 1: column %(column)s would be overwritten by the results; rename it.")
        raise BatchFileError(message % {"column": _shortened(reserved[0])})


def _quoted_names(names: list[str]) -> str:
    """The first QUOTED_NAMES names, each shortened, then how many more: a header of 100,000 names stays short."""
    shown = ", ".join(_shortened(name) for name in names[:QUOTED_NAMES])
    more = len(names) - QUOTED_NAMES
    if more <= 0:
        return shown
    return ngettext("%(names)s and %(count)s more", "%(names)s and %(count)s more", more) % {
        "names": shown,
        "count": f"{more:,}",
    }


def _shortened(name: str) -> str:
    return name if len(name) <= numbers.SHOWN_CHARACTERS else name[: numbers.SHOWN_CHARACTERS] + "…"


def check_upload(upload: IO[bytes], *, schema: ModelSchema = ANIMALS_SCHEMA) -> int:
    """What the request checks before queueing: the header's columns, the row cap, and as many cells
    as PRE_QUEUE_CHECK_SECONDS allow; returns the rows.

    Streaming throughout. A file whose cells take longer to check is queued once that time is up:
    the job checks the rest and names the first bad line, as this does.
    """
    rows = _check_row_count(upload, max_rows=settings.BATCH_UPLOAD_MAX_ROWS)
    upload.seek(0)
    header = _header(upload)
    upload.seek(0)
    _check_columns(header, schema)
    if rows < 1:
        raise BatchFileError(gettext("There are no data rows below the header."))
    _check_cells_for_a_while(upload, schema)
    upload.seek(0)
    return rows


def _check_cells_for_a_while(upload: IO[bytes], schema: ModelSchema) -> None:
    """Check the cells chunk by chunk, in the file's order, until PRE_QUEUE_CHECK_SECONDS have passed."""
    import pandas as pd  # here, not at the top: only reading a CSV needs it, and it slowed every start

    deadline = time.monotonic() + PRE_QUEUE_CHECK_SECONDS
    try:
        with pd.read_csv(upload, chunksize=PRE_QUEUE_CHECK_CHUNK_ROWS, **training_data.READ_OPTIONS) as chunks:
            for chunk in chunks:
                chunk.columns = [str(column).strip() for column in chunk.columns]
                chunk = chunk[(chunk != "").any(axis=1)]  # wholly blank lines carry no row
                if not chunk.empty:
                    training_data.feature_matrix(chunk, schema)
                if time.monotonic() > deadline:
                    return
    except training_data.CellError as error:
        raise _bad_cell(error) from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError):
        return  # the job's full read names it, as it does for every file


def _header(upload: IO[bytes]) -> list[str]:
    """The first CSV record's names, stripped; BatchFileError if it is not UTF-8 text."""
    try:
        header = next(csv.reader(_lines(upload, errors="strict")), [])
    except UnicodeDecodeError as error:
        raise _unreadable(str(error)) from None
    except csv.Error as error:
        raise _unreadable(gettext("line %(line)s: %(reason)s") % {"line": 1, "reason": error}) from None
    return [column.strip() for column in header]


def _lines(upload: IO[bytes], *, errors: str) -> Iterator[str]:
    """The file's lines, decoded, each read with a cap: BatchFileError at one over BATCH_UPLOAD_MAX_LINE_BYTES.

    Linear in the file's size, whatever its lines. A NUL byte is refused too: no text file holds
    one, and it would reach the results download.
    """
    cap = settings.BATCH_UPLOAD_MAX_LINE_BYTES
    number = 0
    while line := upload.readline(cap + 1):
        number += 1
        if len(line) > cap and not line.endswith(b"\n"):
            message = gettext("line %(line)s is longer than %(limit)s bytes")
            raise _unreadable(message % {"line": number, "limit": f"{cap:,}"})
        if b"\x00" in line:
            raise _unreadable(gettext("line %(line)s holds a NUL byte") % {"line": number})
        if number == 1:
            line = line.removeprefix(codecs.BOM_UTF8)
        # Split as the csv module expects lines (a lone CR ends one too), as codecs' reader did.
        yield from line.decode("utf-8", errors).splitlines(keepends=True)


def _unreadable(reason: str) -> BatchFileError:
    return BatchFileError(gettext("This is not a readable CSV file (%(reason)s).") % {"reason": reason})


def model_named(slug: str) -> MLModel:
    """The model an upload asks for by slug ("" for the animals one); UnknownModel names the models that exist."""
    slug = slug.strip() or ANIMALS_SLUG
    if not training.SLUG.fullmatch(slug):  # no model has such a name (a NUL byte, 10,000 characters): not looked up
        raise UnknownModel(slug)
    return MLModel.objects.named(slug)


def expected_schema(model: MLModel) -> ModelSchema | None:
    """The inputs an upload for ``model`` must have as columns: its active version's, else its newest's; None for none.

    For the page that asks for the file: a model not ready yet still says what it will take.
    """
    try:
        return model_service.active_model(model.slug).schema
    except model_service.ModelNotReady:
        newest = model.versions.order_by("-created_at").first()
        if newest is not None:
            return newest.input_schema
        return ANIMALS_SCHEMA if model.is_default else None


def start_job(upload: IO[bytes], *, user: AbstractBaseUser | None, model: str = ANIMALS_SLUG) -> Job:
    """Check the upload against ``model``'s inputs, keep it, and queue the job that predicts and stores it.

    Raises UnknownModel for a model that does not exist, ModelNotReady when it has no version to
    answer, BatchFileError when the file is refused.
    """
    model = model_named(model).slug
    schema = model_service.active_model(model).schema  # refused now rather than by the job
    rows = check_upload(upload, schema=schema)
    batch_id = uuid.uuid4()
    saved_name = storages[UPLOADS_STORAGE].save(_upload_name(batch_id), File(upload))  # copied in chunks
    # The model travels with the job: a worker in another process answers with the same one.
    arguments = {"batch_id": str(batch_id), "upload_name": saved_name, "rows": rows, "model": model}
    return jobs.start(Job.Kind.BATCH, user=user, arguments=arguments, total=rows)


def run_job(progress: jobs.Progress, arguments: dict) -> dict:
    """The job: read the kept upload, predict every row, store them in chunks, out of sight until done."""
    batch_id = uuid.UUID(arguments["batch_id"])
    model = arguments.get("model", ANIMALS_SLUG)  # jobs queued before uploads named their model are the animals'
    PendingBatch.objects.get_or_create(batch_id=batch_id, defaults={"job_id": progress.job_id})
    _delete_rows(batch_id)  # an earlier attempt's, whose worker died
    try:
        with storages[UPLOADS_STORAGE].open(arguments["upload_name"], "rb") as upload:
            result = _read_and_predict(upload, model=model, max_rows=None)  # counted by start_job
    except FileNotFoundError:
        raise jobs.JobError(gettext("The uploaded file is no longer kept; upload it again.")) from None
    except (BatchFileError, model_service.ModelNotReady) as error:
        raise jobs.JobError(str(error)) from None
    rows = len(result)
    progress.report(0, total=rows)
    chunk_rows = settings.JOB_BATCH_CHUNK_ROWS
    turns = sqlite_turns.SqliteTurns() if connection.vendor == "sqlite" else None
    for start in range(0, rows, chunk_rows):
        chunk = slice(start, start + chunk_rows)
        began = time.monotonic()
        with transaction.atomic():
            try:
                writer.record_predictions(
                    result=_rows_of(result, chunk),
                    source=Prediction.Source.BATCH,
                    batch_id=batch_id,
                )
            except InputsRefused as error:  # only if the version changed under the job: read_batch_csv checked them
                raise jobs.JobError(str(error)) from None
            progress.report(min(rows, start + chunk_rows))  # stored only while this attempt owns the job
        if turns is not None:
            turns.pause(held=time.monotonic() - began)
    return {"batch_id": str(batch_id), "rows": rows}


def _read_and_predict(upload: IO[bytes], *, model: str, max_rows: int | None) -> BatchResult:
    """Read the file with the inputs of ``model``'s active version, and predict every row with that version.

    BatchFileError when the file is refused, and when the active version changed between the two
    and no longer takes the same inputs (the file was read with the other's).
    """
    schema = model_service.active_model(model).schema
    batch_file = read_batch_csv(upload, max_rows=max_rows, schema=schema)
    result = model_service.predict_many(batch_file.features, model=model)
    if result.model.schema.differences(schema):
        raise BatchFileError(gettext("The model's active version changed while the file was read; upload it again."))
    return result


def clean_up_job(job: Job, *, succeeded: bool) -> None:
    """After a failed batch job: remove its rows (in chunks) and its kept upload. A success keeps both."""
    if succeeded:
        return
    for pending in PendingBatch.objects.filter(job=job):
        _delete_rows(pending.batch_id)
        pending.delete()
    if name := job.arguments.get("upload_name"):
        storages[UPLOADS_STORAGE].delete(name)


def prepare_publishing(job_id: uuid.UUID) -> Callable[[], None]:
    """The batch kind's success hook: its rows become visible, and are counted, with the job's success.

    The counts are read now, before the job runner's success transaction (a long read at a million
    rows, kept outside SQLite's write lock); the rows no longer change by then. What it returns
    runs inside that transaction.
    """
    pending = PendingBatch.objects.filter(job_id=job_id)
    stored = writer.published_counts(pending.values_list("batch_id", flat=True))

    def publish() -> None:
        pending.delete()
        writer.count_published(stored)

    return publish


def failed_jobs_with_hidden_rows() -> QuerySet[Job]:
    """Failed batch jobs whose rows are still stored out of sight: their worker died while cleaning up."""
    return Job.objects.filter(kind=Job.Kind.BATCH, status=Job.Status.FAILED, pending_batches__isnull=False).distinct()


def _delete_rows(batch_id: uuid.UUID) -> None:
    stored = Prediction.with_unpublished.filter(batch_id=batch_id)
    while ids := list(stored.order_by().values_list("pk", flat=True)[:DELETE_CHUNK_ROWS]):
        with transaction.atomic():
            Prediction.with_unpublished.filter(pk__in=ids).delete()


def _rows_of(result: BatchResult, rows: slice) -> BatchResult:
    opinion = result.second_opinion
    return dataclasses.replace(
        result,
        inputs=result.inputs[rows],
        species=result.species[rows],
        probability=result.probability[rows],
        probabilities=result.probabilities[rows],
        outside_training_range=result.outside_training_range[rows],
        prediction_sets=None if result.prediction_sets is None else result.prediction_sets[rows],
        second_opinion=opinion
        and dataclasses.replace(opinion, species=opinion.species[rows], probability=opinion.probability[rows]),
    )


def _check_row_count(upload: IO[bytes], *, max_rows: int) -> int:
    """Stream the file once: BatchFileError when it holds nothing, or at its first row over ``max_rows``.

    Rows are CSV records below the header that are not wholly blank, as read_batch_csv counts them.
    The records are decoded leniently here; read_batch_csv reports undecodable bytes afterwards.
    """
    records = csv.reader(_lines(upload, errors="replace"))
    rows, has_content = -1, False  # the first record is the header
    try:
        for record in records:
            has_content = has_content or any(cell.strip() for cell in record)
            if any(record):
                rows += 1
            if rows > max_rows:
                message = gettext(
                    "The file has more than %(limit)s rows; at most %(limit)s are accepted in one upload."
                )
                raise BatchFileError(message % {"limit": f"{max_rows:,}"})
    except csv.Error as error:
        raise _unreadable(gettext("line %(line)s: %(reason)s") % {"line": records.line_num, "reason": error}) from None
    if not has_content:
        raise BatchFileError(gettext("The file is empty."))
    return rows


def predict_file(upload: bytes | IO[bytes], *, model: str = ANIMALS_SLUG) -> uuid.UUID:
    """Check, predict and store every row of a CSV at once, and keep the file; return the batch id.

    In the caller's process and in one transaction: for tests and benchmarks that need a stored
    batch without a worker. Uploads from the site run as jobs (start_job).
    """
    upload = io.BytesIO(upload) if isinstance(upload, bytes) else upload
    # One upload at a time per process: each holds its rows in memory (hundreds of MB at the row
    # cap), and a gthread worker (gunicorn.conf.py) would otherwise parse one per thread at once.
    with _ONE_UPLOAD_AT_A_TIME:
        return _predict_and_store(upload, model=model)


def _predict_and_store(upload: IO[bytes], *, model: str) -> uuid.UUID:
    result = _read_and_predict(upload, model=model, max_rows=settings.BATCH_UPLOAD_MAX_ROWS)
    storage = storages[UPLOADS_STORAGE]
    batch_id = uuid.uuid4()
    saved_name = None
    try:
        with transaction.atomic():
            writer.record_predictions(result=result, source=Prediction.Source.BATCH, batch_id=batch_id)
            # Inside the transaction: if the file cannot be kept, no rows are stored either.
            upload.seek(0)
            saved_name = storage.save(_upload_name(batch_id), File(upload))  # copied in chunks, never whole
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
    rows = Prediction.objects.filter(batch_id=batch_id).order_by("id")
    first = rows.select_related("model_version").first()
    if first is None:
        raise FileNotFoundError(name)  # kept, but its rows are not stored (yet, or any more)
    with storage.open(name, "rb") as upload:
        table = read_batch_csv(upload, max_rows=None, schema=first.schema).table  # read as it was answered
    classes = sorted(first.probabilities)
    # Each probability read by the database as a number: decoding a JSON object per row in Python
    # took most of the download's time.
    probabilities = [JsonObjectNumber("probabilities", label) for label in classes]
    stored = rows.values_list("species", *probabilities, "model_version__version")
    return _results_chunks(table, classes, stored.iterator(chunk_size=RESULTS_CHUNK_ROWS))


def batch_summary(batch_id: uuid.UUID) -> BatchSummary | None:
    """What a stored CSV batch holds, read back from the history; None for an unknown batch."""
    rows = Prediction.objects.filter(batch_id=batch_id, source=Prediction.Source.BATCH)
    counts = dict(rows.order_by().values_list("species").annotate(rows=Count("id")))
    first_rows = list(rows.select_related("model_version", "model").order_by("id")[:PREVIEW_ROWS])
    if not first_rows:
        return None
    return BatchSummary(
        batch_id=batch_id,
        model=first_rows[0].model,
        schema=first_rows[0].schema,
        rows=sum(counts.values()),
        species_counts=dict(sorted(counts.items())),
        model_version=first_rows[0].model_version.version,
        created_at=first_rows[0].created_at,
        outside_training_range=rows.filter(outside_training_range=True).count(),
        first_rows=first_rows,
    )


def delete_old_uploads(*, now: dt.datetime | None = None) -> int:
    """Delete kept uploads older than BATCH_UPLOAD_RETENTION_DAYS; return how many were deleted.

    Their stored predictions stay; only the results download of those batches goes (404). Also
    deletes the temporary files of uploads whose worker was killed mid-request (Django deletes
    them when a request ends, which such a request never does).
    """
    now = now or timezone.now()
    _delete_stale_upload_temp_files(cutoff=now - STALE_UPLOAD_TEMP_FILE_AGE)
    storage = storages[UPLOADS_STORAGE]
    cutoff = now - dt.timedelta(days=settings.BATCH_UPLOAD_RETENTION_DAYS)
    try:
        _folders, names = storage.listdir("")
    except FileNotFoundError:
        return 0  # nothing was ever uploaded
    old = [name for name in names if storage.get_modified_time(name) < cutoff]
    for name in old:
        storage.delete(name)
    return len(old)


def _delete_stale_upload_temp_files(*, cutoff: dt.datetime) -> None:
    # Named as django.core.files.uploadedfile.TemporaryUploadedFile names them; only this user's.
    folder = Path(settings.FILE_UPLOAD_TEMP_DIR or tempfile.gettempdir())
    for path in folder.glob("tmp*.upload*"):
        with contextlib.suppress(OSError):  # gone meanwhile, or not ours to delete
            status = path.stat()
            if status.st_uid == os.getuid() and status.st_mtime < cutoff.timestamp():
                path.unlink()


class JsonObjectNumber(Func):
    """The number stored under ``key`` in a JSON object column, whatever the key's text.

    Django's key lookups write the key into a JSON path, which SQLite cannot quote (a species
    named 'a"b' reads as NULL) and which both databases read as an array index when the key is
    a number ("1"); here the key is always a plain text parameter.
    """

    output_field = FloatField()

    def __init__(self, column: str, key: str) -> None:
        super().__init__(F(column), Value(key))

    def as_sqlite(self, compiler, connection, **extra):
        template = "(SELECT value FROM json_each(%(expressions)s))"
        return self.as_sql(compiler, connection, template=template, arg_joiner=") WHERE key = (", **extra)

    def as_postgresql(self, compiler, connection, **extra):
        template = "((%(expressions)s)::float8)"
        return self.as_sql(compiler, connection, template=template, arg_joiner=" ->> ", **extra)


def _results_chunks(table: pd.DataFrame, classes: list[str], stored: Iterator[tuple]) -> Iterator[bytes]:
    import pandas as pd  # here, not at the top: only reading a CSV needs it, and it slowed every start

    columns = [SPECIES_COLUMN, *(f"{PROBABILITY_PREFIX}{label}" for label in classes), VERSION_COLUMN]
    for start in range(0, len(table), RESULTS_CHUNK_ROWS):
        chunk = table.iloc[start : start + RESULTS_CHUNK_ROWS]
        rows = list(islice(stored, len(chunk)))
        if len(rows) != len(chunk):
            raise RuntimeError(f"batch file has {len(table)} rows but fewer predictions are stored")
        results = pd.DataFrame(rows, columns=columns, index=chunk.index)
        results[SPECIES_COLUMN] = _spreadsheet_safe(results[SPECIES_COLUMN])
        # Every column as written, headers included: the uploader's cells go to whoever opens the results.
        written = chunk.apply(_spreadsheet_safe)
        written.columns = [exports.spreadsheet_safe(column) for column in chunk.columns]
        yield pd.concat([written, results], axis=1).to_csv(index=False, header=start == 0).encode()


def _spreadsheet_safe(cells: pd.Series) -> pd.Series:
    """exports.spreadsheet_safe for a whole column at once (a Python call per cell costs seconds at a million rows)."""
    risky = cells.str[:1].isin(exports.FORMULA_PREFIXES)
    return cells.where(~risky, "'" + cells)


def _is_result_column(column: str) -> bool:
    return column in {SPECIES_COLUMN, VERSION_COLUMN} or column.startswith(PROBABILITY_PREFIX)


def _upload_name(batch_id: uuid.UUID) -> str:
    return f"{batch_id}.csv"


jobs.register(
    Job.Kind.BATCH,
    jobs.Kind(
        run=run_job,
        clean_up=clean_up_job,
        view_permission=permissions.VIEW_PREDICTIONS,
        prepare_success=prepare_publishing,
        unfinished_clean_ups=failed_jobs_with_hidden_rows,
    ),
)
