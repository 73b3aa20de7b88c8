"""CSV export of the prediction history (results page, admin, API readers), streamed so memory stays flat."""

import csv
from collections.abc import Iterator
from typing import Any

from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from django.utils import timezone

from predictor.models import Prediction
from predictor.schema.features import FEATURE_FIELDS

CHUNK_ROWS = 2000  # rows read from the database at a time
# Every CSV download holds staff data: kept by no shared cache and by no browser cache either.
PRIVATE_DOWNLOAD = "private, no-store"
# CSV header -> what each row reads (a field or a lookup), in column order.
COLUMNS: dict[str, str] = {
    "id": "id",
    "created_at": "created_at",
    **{field: field for field in FEATURE_FIELDS},
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


def export_rows(predictions: QuerySet[Prediction]) -> Iterator[dict[str, Any]]:
    """Every row of ``predictions`` in its order as {header: value}, read in chunks."""
    zone = timezone.get_current_timezone()
    # "web form", as the pages name it, not the stored "form"; translated once, not once per row.
    source_names = {value: str(label) for value, label in Prediction.Source.choices}
    headers = list(COLUMNS)
    for values in predictions.values_list(*COLUMNS.values()).iterator(chunk_size=CHUNK_ROWS):
        row = dict(zip(headers, values, strict=True))
        row["created_at"] = row["created_at"].astimezone(zone).isoformat()
        row["source"] = source_names[row["source"]]
        for column in SPECIES_COLUMNS:
            if row[column] is not None:
                row[column] = spreadsheet_safe(row[column])
        yield row


class _Echo:
    """csv.writer writes into this and gets the line back, so each row can be streamed."""

    def write(self, value: str) -> str:
        return value


def csv_lines(predictions: QuerySet[Prediction], *, rows_per_chunk: int = 500) -> Iterator[str]:
    # A few hundred rows per chunk: one chunk per row would spend more time in the response than in the CSV.
    writer = csv.DictWriter(_Echo(), fieldnames=list(COLUMNS))
    chunk = [writer.writeheader()]
    for row in export_rows(predictions):
        chunk.append(writer.writerow(row))
        if len(chunk) >= rows_per_chunk:
            yield "".join(chunk)
            chunk = []
    yield "".join(chunk)


def csv_response(predictions: QuerySet[Prediction]) -> StreamingHttpResponse:
    response = StreamingHttpResponse(csv_lines(predictions), content_type="text/csv; charset=utf-8")
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="predictions-{stamp}.csv"'
    response["Cache-Control"] = PRIVATE_DOWNLOAD
    return response
