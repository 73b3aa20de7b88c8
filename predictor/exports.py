"""CSV export of the prediction history, streamed row by row so memory stays flat at any size."""

import csv
import json
from collections.abc import Iterable, Iterator

from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from django.utils import timezone

# (CSV header, queryset lookup)
CSV_COLUMNS: tuple[tuple[str, str], ...] = (
    ("id", "id"),
    ("created_at", "created_at"),
    ("height_cm", "height_cm"),
    ("weight_kg", "weight_kg"),
    ("species", "species"),
    ("probability", "probability"),
    ("probabilities", "probabilities"),
    ("model_version", "model_version__version"),
    ("source", "source"),
)
CHUNK_SIZE = 2_000


class _Echo:
    """A file-like object whose write() hands the line back instead of keeping it."""

    def write(self, value: str) -> str:
        return value


def csv_lines(predictions: QuerySet) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow([header for header, _ in CSV_COLUMNS])
    rows: Iterable[tuple] = predictions.values_list(*(lookup for _, lookup in CSV_COLUMNS)).iterator(
        chunk_size=CHUNK_SIZE
    )
    for row in rows:
        (pk, created_at, height, weight, species, probability, probabilities, version, source) = row
        yield writer.writerow(
            [
                pk,
                created_at.isoformat(),
                height,
                weight,
                species,
                probability,
                json.dumps(probabilities),
                version,
                source,
            ]
        )


def csv_response(predictions: QuerySet, *, filename_prefix: str = "predictions") -> StreamingHttpResponse:
    response = StreamingHttpResponse(csv_lines(predictions), content_type="text/csv; charset=utf-8")
    filename = f"{filename_prefix}-{timezone.now():%Y%m%d-%H%M%S}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
