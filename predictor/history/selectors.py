"""Reads behind the results page and the API list: keyset pages and charts.

Filters and sort orders are the history's QuerySet methods (``Prediction.objects.matching(query)``
and ``.in_order(sort)``); this module pages and charts what they select. They must stay fast
with a million predictions, so nothing here counts all rows. Pages are keyset pages: each sort
order has an index ending in ``id``, and each filter but "not labelled" (which most rows pass) an
index in time order; a filter with another sort order reads one of the two, skipping the rows
that fail the filter or sorting the ones that pass. The per-day chart is one statement of range
counts, one per day, over a bounded date window, and the scatter plots a sample of the newest rows.
predictor/tests/test_query_plans.py checks the plans on SQLite.

Staff pages read under a time limit (STAFF_QUERY_TIMEOUT_MS, see ``time_limited``): a query that
would outlast it is stopped and answered with a page asking for fewer days, not a worker timeout.
"""

import datetime as dt
import itertools
import math
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.db.models import Count, Exists, F, IntegerField, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from predictor.models import INPUT_SORTS, LABELLED, SORT_FIELDS, MLModel, ModelVersion, Prediction, number_input
from predictor.schema.features import ANIMALS_SCHEMA
from predictor.schema.inputs import Input, ModelSchema

CHART_DEFAULT_DAYS = 30
CHART_MAX_DAYS = 366  # one SELECT per day in one compound statement: SQLite allows at most 500
FIRST_ACCEPTED_DAY = dt.date(2000, 1, 1)
SQLITE_PROGRESS_STEPS = 10_000  # SQLite virtual machine steps between deadline checks: well under a millisecond
SCATTER_SAMPLE_SIZE = 2000


# Which model a history page is of, and the inputs and words it is shown with


def history_models() -> list[MLModel]:
    """The models a history page can be of: those with a version (every prediction has one), by slug."""
    return list(MLModel.objects.filter(Exists(ModelVersion.objects.filter(model=OuterRef("pk")))))


def history_schema(model: MLModel, *, version: ModelVersion | None = None) -> ModelSchema:
    """The inputs and words of ``model``'s history: the chosen version's, else the active one's, else the newest's.

    Read per request, not at import: a model trained since the process started has its own.
    """
    if version is None:
        version = ModelVersion.objects.filter(model=model).order_by("-is_active", "-version").first()
    if version is not None:
        return version.input_schema
    # No version yet: nothing to list, but the page still needs headings.
    return ANIMALS_SCHEMA if model.is_default else ModelSchema(inputs=(), target=model.slug)


def input_sorts(schema: ModelSchema) -> set[str]:
    """The inputs of ``schema`` its history may be sorted by: number inputs with a sort order (models.INPUT_SORTS)."""
    return {item.form_name for item in schema.inputs if item.is_number and item.form_name in INPUT_SORTS}


def class_name(model: MLModel | None, schema: ModelSchema, label: str) -> str:
    """A class as ``model``'s history names it: another model's in its schema's words ("Banana", "香蕉").

    The animals model (or None, its page) shows a species as stored ("Cat") in every language, as
    every animals page always has (predictor.history.batch does the same).
    """
    return label if model is None or model.is_default else schema.class_name(label)


def scatter_inputs(schema: ModelSchema) -> tuple[Input, Input] | None:
    """The scatter's axes: the first two number inputs, the first up and the second across; None with fewer."""
    numbers = [item for item in schema.inputs if item.is_number]
    return (numbers[0], numbers[1]) if len(numbers) >= 2 else None


def with_live_counts(versions: QuerySet[ModelVersion]) -> QuerySet[ModelVersion]:
    """Annotate how many predictions each version made, how many are labelled and how many were right.

    One correlated count per figure, each answered from an index (`prediction_version_time_idx`
    for all, the partial `prediction_live_accuracy` for the labelled): a join with GROUP BY
    would push every prediction row through a sorter instead. ``ModelVersion.live_accuracy``
    reads these counts.
    """
    return versions.annotate(
        prediction_count=_count_predictions(Q()),
        labelled_count=_count_predictions(LABELLED, labelled=True),
        correct_count=_count_predictions(LABELLED & Q(actual_species=F("species")), labelled=True),
    )


def _count_predictions(condition: Q, *, labelled: bool = False) -> Coalesce:
    # Labelled rows were seen to be labelled, so none belongs to an unfinished batch (see
    # model_metrics.labelled_pairs); the others must leave those batches out.
    rows = Prediction.with_unpublished if labelled else Prediction.objects
    matching = rows.filter(condition, model_version=OuterRef("pk")).order_by()
    return Coalesce(Subquery(matching.values("model_version").annotate(count=Count("pk")).values("count")), 0)


def accepted_days(*, today: dt.date | None = None) -> tuple[dt.date, dt.date]:
    """The first and last day a date filter may name: 2000-01-01 to the end of next year.

    Days outside a calendar the site can have rows for are typing mistakes, and the extremes
    (0001-01-01, 9999-12-31) overflow when turned into times.
    """
    today = today or timezone.localdate()
    return FIRST_ACCEPTED_DAY, dt.date(today.year + 1, 12, 31)


def start_of_day(day: dt.date) -> dt.datetime:
    # Days are days in the site's time zone, as the page shows them.
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def _sort_field(sort: str) -> tuple[str, bool]:
    """The model field (or, for an input, the annotation keyset_page adds) and whether it is descending."""
    key = sort.removeprefix("-")
    return ("sort_value" if key in INPUT_SORTS else SORT_FIELDS[key]), sort.startswith("-")


# Cursors: "<id>~<sort value>", the position of a row in one sort order.


def encode_cursor(prediction: Prediction, sort: str) -> str:
    field, _ = _sort_field(sort)
    value = getattr(prediction, field)
    if isinstance(value, dt.datetime):
        value = value.isoformat()
    elif isinstance(value, float):
        value = repr(value)
    return f"{prediction.pk}~{value}"


def decode_cursor(raw: str, sort: str) -> tuple[Any, int]:
    """The (sort value, id) a cursor points at; ValueError when it is not a cursor for this sort."""
    pk_text, separator, value_text = raw.partition("~")
    if not separator:
        raise ValueError("no '~' separator")
    pk = int(pk_text)
    field, _ = _sort_field(sort)
    value: Any
    if field == "created_at":
        value = dt.datetime.fromisoformat(value_text)
        if timezone.is_naive(value):
            raise ValueError("the time has no UTC offset")
    else:
        value = float(value_text)  # every other sort field is a measurement or a probability
    return value, pk


@dataclass(frozen=True)
class KeysetPage:
    rows: list[Prediction]
    next_cursor: str | None  # pass as `after` for the next page
    previous_cursor: str | None  # pass as `before` for the previous page

    @property
    def is_first(self) -> bool:
        return self.previous_cursor is None


def keyset_page(
    predictions: QuerySet[Prediction],
    *,
    sort: str,
    size: int,
    after: tuple[Any, int] | None = None,
    before: tuple[Any, int] | None = None,
) -> KeysetPage:
    """One page of ``predictions`` in ``sort`` order, starting after or ending before a cursor.

    Asks for ``size + 1`` rows from the cursor on, whatever the page's depth: no OFFSET, no COUNT.
    In time order they are read from an index; other orders sort the matching rows (models.SORT_FIELDS).
    """
    field, descending = _sort_field(sort)
    if field == "sort_value":  # an input, read from the ``inputs`` JSON as a number
        predictions = predictions.annotate(sort_value=number_input(SORT_FIELDS[sort.removeprefix("-")]))
    backwards = before is not None
    cursor = before if backwards else after
    # Walking backwards is walking forwards in the opposite order, then reversing the rows.
    ascending = descending == backwards
    if cursor is not None:
        value, pk = cursor
        bound, strict = ("gte", "gt") if ascending else ("lte", "lt")
        # The non-strict bound on the field alone lets the database start the index scan at the cursor.
        predictions = predictions.filter(
            Q(**{f"{field}__{bound}": value}) & (Q(**{f"{field}__{strict}": value}) | Q(**{f"pk__{strict}": pk}))
        )
    sign = "" if ascending else "-"
    rows = list(predictions.select_related("model_version").order_by(f"{sign}{field}", f"{sign}id")[: size + 1])
    has_more = len(rows) > size
    rows = rows[:size]
    if backwards:
        rows.reverse()
    if not rows:
        return KeysetPage(rows=[], next_cursor=None, previous_cursor=None)
    more_after = has_more if not backwards else True
    more_before = has_more if backwards else cursor is not None
    return KeysetPage(
        rows=rows,
        next_cursor=encode_cursor(rows[-1], sort) if more_after else None,
        previous_cursor=encode_cursor(rows[0], sort) if more_before else None,
    )


# Charts


def chart_window(
    date_from: dt.date | None, date_to: dt.date | None, *, today: dt.date | None = None
) -> tuple[dt.date, dt.date]:
    """The days the per-day chart covers: the filtered range, or the last 30 days; at most 366 days."""
    last = date_to or today or timezone.localdate()
    first = date_from or last - dt.timedelta(days=CHART_DEFAULT_DAYS - 1)
    first = max(first, last - dt.timedelta(days=CHART_MAX_DAYS - 1))
    return first, last


def daily_counts(
    predictions: QuerySet[Prediction], *, species: list[str], first: dt.date, last: dt.date
) -> dict[str, Any]:
    """Predictions per day of each of ``species``, every day of the window present (zero when none).

    ``predictions`` should carry no time filter of its own (the window is the chart's): a day's
    count must be the only range on ``created_at``, or the database may scan the whole filtered
    range once per day (an empty day cost 0.36 s at 1.5 million rows).
    """
    days = [first + dt.timedelta(days=offset) for offset in range((last - first).days + 1)]
    bounds = [start_of_day(day) for day in [*days, last + dt.timedelta(days=1)]]
    window = predictions.order_by()
    # One index range count per day and species, all sent as one UNION ALL statement. A GROUP BY
    # over a day-truncated time would read every row of the window (seconds at a million rows).
    per_day = [
        window.filter(created_at__gte=start, created_at__lt=end)
        .values("species")
        .annotate(day=Value(position, output_field=IntegerField()), rows=Count("id"))
        .values_list("species", "day", "rows")
        for position, (start, end) in enumerate(itertools.pairwise(bounds))
    ]
    counts: dict[str, list[int]] = {}
    for name, position, rows in per_day[0].union(*per_day[1:], all=True):
        if name in species:
            counts.setdefault(name, [0] * len(days))[position] = rows
    names = sorted(counts)
    return {
        "days": [day.isoformat() for day in days],
        "species": {name: counts[name] for name in names},
        "total": sum(sum(values) for values in counts.values()),
        # The same numbers as table rows, for readers without JavaScript or without sight of the chart.
        "rows": [(day, [counts[name][position] for name in names]) for position, day in enumerate(days)],
    }


def scatter_sample(
    predictions: QuerySet[Prediction],
    *,
    axes: tuple[Input, Input] | None = None,
    size: int = SCATTER_SAMPLE_SIZE,
) -> list[list[Any]]:
    """[up, across, species] of the newest ``size`` matching predictions; ``axes`` default to the animals' inputs."""
    up, across = axes or scatter_inputs(ANIMALS_SCHEMA)
    newest = predictions.in_order().values_list("inputs", "species")[:size]
    # A row of an older version without one of the inputs has no place on the chart.
    return [
        [inputs[up.name], inputs[across.name], species]
        for inputs, species in newest
        if isinstance(inputs.get(up.name), (int, float)) and isinstance(inputs.get(across.name), (int, float))
    ]


@dataclass(frozen=True)
class ScatterWindow:
    """The part of the scatter that holds the bulk of its points, and how many lie off it.

    One 300 cm, 500 kg row would otherwise squash every other point into a corner. Each axis spans
    the values inside Tukey's far-out fences (three interquartile ranges beyond the quartiles),
    padded and rounded outwards; a point beyond a fence is an outlier, left off the chart and
    counted, and the table lists it.
    """

    x: tuple[float, float]  # the second input's
    y: tuple[float, float]  # the first input's
    off_chart: int


SCATTER_FENCE_IQRS = 3


def scatter_window(points: list[list[Any]]) -> ScatterWindow | None:
    """The window of ``scatter_sample``'s points, or None when there are none."""
    if not points:
        return None
    y = _robust_range([point[0] for point in points])
    x = _robust_range([point[1] for point in points])
    off_chart = sum(not (y[0] <= up <= y[1] and x[0] <= across <= x[1]) for up, across, *_ in points)
    return ScatterWindow(x=x, y=y, off_chart=off_chart)


def _robust_range(values: list[float]) -> tuple[float, float]:
    """From the smallest to the largest value inside the fences, padded and rounded outwards to a tick."""
    if len(values) >= 4:
        first, _, third = statistics.quantiles(values, n=4)
        spread = third - first
        if spread > 0:
            fences = (first - SCATTER_FENCE_IQRS * spread, third + SCATTER_FENCE_IQRS * spread)
            values = [value for value in values if fences[0] <= value <= fences[1]]
    low, high = min(values), max(values)
    span = high - low or abs(high) or 1.0
    raw_step = span / 5  # about as coarse as the chart's own ticks, so its ends fall on one
    magnitude = 10 ** math.floor(math.log10(raw_step))
    step = magnitude * next(factor for factor in (1, 2, 5, 10) if raw_step / magnitude <= factor)
    padded_low = math.floor((low - span * 0.04) / step) * step
    padded_high = math.ceil((high + span * 0.04) / step) * step
    return (max(padded_low, 0.0) if low >= 0 else padded_low, padded_high)


# Time limits on staff reads


class QueryTooSlow(Exception):
    """A read took longer than STAFF_QUERY_TIMEOUT_MS and was stopped."""


@contextmanager
def time_limited() -> Iterator[None]:
    """Stop any query in the block that runs past STAFF_QUERY_TIMEOUT_MS (0: no limit); raise QueryTooSlow.

    PostgreSQL: ``SET LOCAL statement_timeout`` in a transaction around the block. SQLite: a progress
    handler that aborts the running statement once the deadline has passed (no transaction: this
    site's SQLite transactions take the write lock, and these are reads).
    """
    limit_ms = settings.STAFF_QUERY_TIMEOUT_MS
    if limit_ms <= 0:
        yield
        return
    deadline = time.monotonic() + limit_ms / 1000
    try:
        if connection.vendor == "postgresql":
            with transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute("SELECT set_config('statement_timeout', %s, true)", [str(limit_ms)])
                yield
        else:
            connection.ensure_connection()
            raw = connection.connection
            raw.set_progress_handler(lambda: time.monotonic() > deadline, SQLITE_PROGRESS_STEPS)
            try:
                yield
            finally:
                raw.set_progress_handler(None, 0)
    except OperationalError as error:
        # 57014: PostgreSQL's query_canceled; "interrupted": SQLite's answer to the progress handler.
        cause = error.__cause__
        if getattr(cause, "sqlstate", None) == "57014" or "interrupted" in str(error):
            raise QueryTooSlow(str(error)) from error
        raise
