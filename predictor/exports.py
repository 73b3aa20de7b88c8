"""CSV export of the prediction history (results page and admin), streamed so memory stays flat."""

import csv
from collections.abc import Iterator

from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from django.utils import timezone

from . import selectors
from .models import Prediction


class _Echo:
    """csv.writer writes into this and gets the line back, so each row can be streamed."""

    def write(self, value: str) -> str:
        return value


def csv_lines(predictions: QuerySet[Prediction], *, rows_per_chunk: int = 500) -> Iterator[str]:
    # A few hundred rows per chunk: one chunk per row would spend more time in the response than in the CSV.
    writer = csv.writer(_Echo())
    chunk = [writer.writerow(selectors.export_header())]
    for row in selectors.export_rows(predictions):
        chunk.append(writer.writerow(row))
        if len(chunk) >= rows_per_chunk:
            yield "".join(chunk)
            chunk = []
    yield "".join(chunk)


def csv_response(predictions: QuerySet[Prediction]) -> StreamingHttpResponse:
    response = StreamingHttpResponse(csv_lines(predictions), content_type="text/csv; charset=utf-8")
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="predictions-{stamp}.csv"'
    return response
