"""CSV export of the prediction history (results page, admin, API readers), streamed so memory stays flat."""

import csv
from collections.abc import Iterator
from typing import Any

from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from django.utils import timezone

from predictor.models import Prediction
from predictor.schema.features import ANIMALS_SCHEMA
from predictor.schema.inputs import ModelSchema

CHUNK_ROWS = 2000  # rows read from the database at a time
# Every CSV download holds staff data: kept by no shared cache and by no browser cache either.
PRIVATE_DOWNLOAD = "private, no-store"
# CSV header -> what each row reads (a field or a lookup), in column order; the model's inputs
# come after created_at, one column each (``columns``).
COLUMNS: dict[str, str] = {
    "id": "id",
    "created_at": "created_at",
    "predicted_species": "species",
    "probability": "probability",
    "model_version": "model_version__version",
    "source": "source",
    "actual_species": "actual_species",
    "outside_training_range": "outside_training_range",
}
SPECIES_COLUMNS = ("predicted_species", "actual_species")  # names from training files, shown as text
# A cell starting with one of these runs as a formula in a spreadsheet. The one rule for every CSV
# the site writes (this export and the batch results).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(text: str) -> str:
    """A cell a spreadsheet shows as text: one starting with "=", "+", "-" or "@" would run as a formula."""
    if text[:1] in FORMULA_PREFIXES:
        return "'" + text
    return text


def columns(schema: ModelSchema = ANIMALS_SCHEMA) -> list[str]:
    """The export's header for one model: id, created_at, one column per input, then the answer."""
    return ["id", "created_at", *(item.field for item in schema.inputs), *list(COLUMNS)[2:]]


def export_rows(predictions: QuerySet[Prediction], schema: ModelSchema = ANIMALS_SCHEMA) -> Iterator[dict[str, Any]]:
    """Every row of ``predictions`` (of the model ``schema`` describes) in its order as {header: value}, in chunks."""
    zone = timezone.get_current_timezone()
    # "web form", as the pages name it, not the stored "form"; translated once, not once per row.
    source_names = {value: str(label) for value, label in Prediction.Source.choices}
    headers = list(COLUMNS)
    inputs = [(item.field, item.name, item.is_number) for item in schema.inputs]
    for values in predictions.values_list("inputs", *COLUMNS.values()).iterator(chunk_size=CHUNK_ROWS):
        answer = dict(zip(headers, values[1:], strict=True))
        row = {"id": answer.pop("id"), "created_at": answer.pop("created_at").astimezone(zone).isoformat()}
        for header, name, is_number in inputs:
            value = values[0].get(name)
            row[header] = value if is_number or value is None else spreadsheet_safe(value)
        row |= answer
        row["source"] = source_names[row["source"]]
        for column in SPECIES_COLUMNS:
            if row[column] is not None:
                row[column] = spreadsheet_safe(row[column])
        yield row


class _Echo:
    """csv.writer writes into this and gets the line back, so each row can be streamed."""

    def write(self, value: str) -> str:
        return value


def csv_lines(
    predictions: QuerySet[Prediction], *, schema: ModelSchema = ANIMALS_SCHEMA, rows_per_chunk: int = 500
) -> Iterator[str]:
    # A few hundred rows per chunk: one chunk per row would spend more time in the response than in the CSV.
    writer = csv.DictWriter(_Echo(), fieldnames=columns(schema))
    chunk = [writer.writeheader()]
    for row in export_rows(predictions, schema):
        chunk.append(writer.writerow(row))
        if len(chunk) >= rows_per_chunk:
            yield "".join(chunk)
            chunk = []
    yield "".join(chunk)


def csv_response(
    predictions: QuerySet[Prediction], *, schema: ModelSchema = ANIMALS_SCHEMA, model: str = ""
) -> StreamingHttpResponse:
    """``predictions`` of one model (``schema`` its inputs) as a CSV download; ``model``, a slug, names the file."""
    response = StreamingHttpResponse(csv_lines(predictions, schema=schema), content_type="text/csv; charset=utf-8")
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
    # Two models' downloads side by side in one folder should say which is which (a slug needs no quoting).
    name = f"predictions-{model}-{stamp}" if model else f"predictions-{stamp}"
    response["Content-Disposition"] = f'attachment; filename="{name}.csv"'
    response["Cache-Control"] = PRIVATE_DOWNLOAD
    return response
