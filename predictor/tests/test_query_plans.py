"""Every read of the prediction history goes through an index, except a sort of it all by a measurement or probability.

Each test runs the project's own code, records the SELECTs it sends to the prediction table and
asks SQLite for their plans (EXPLAIN QUERY PLAN, with the same parameters). The test database has
no statistics (no ANALYZE), so SQLite plans from its built-in guesses; where a plan with
statistics differs, the comment says so and the assertion holds for both.

The assertions pin text: the SQL Django writes (the admin's id query, its ORDER BY, the capped
count) and SQLite's plan steps, as read off Django 5.2 (named in the ``sql_plan`` marker below)
on SQLite 3.40. On another Django version these tests still run but count as expected failures
(see conftest.py), so an upgrade does not break the suite: after it, run
``pytest -m sql_plan -rxX``, re-read what changed, and move the marker's version on; that one line
is the whole change when the plans still hold.
"""

import datetime as dt
import re
from contextlib import contextmanager

import pytest
from django.db import connection
from django.urls import reverse

from predictor.admin import PredictionAdmin
from predictor.history import batch, selectors
from predictor.history.pagination import CappedCountPaginator
from predictor.models import DEFAULT_SORT, SORT_CHOICES, HistoryQuery, ModelVersion, Prediction
from predictor.registry import model_metrics, training

pytestmark = [
    pytest.mark.sql_plan(django="5.2"),
    pytest.mark.django_db,
    pytest.mark.skipif(
        connection.vendor != "sqlite",
        reason="EXPLAIN QUERY PLAN is SQLite's; PostgreSQL chooses plans from table statistics, not checked here",
    ),
]

CHANGELIST = reverse("admin:predictor_prediction_changelist")

# Results page filters, as HistoryFilterForm passes them to the selectors; "version" is filled in
# with a stored version by history_query().
FILTERS = {
    "no filter": {},
    "species": {"species": "Cat"},
    "version": {"model_version": None},
    "date range": {"since": dt.datetime(2026, 3, 1, tzinfo=dt.UTC), "until": dt.datetime(2026, 4, 1, tzinfo=dt.UTC)},
    "labelled": {"labelled": True},
    "not labelled": {"labelled": False},
    "outside the training range": {"outside_training_range": True},
}
# The index that finds the rows matching each filter; "not labelled" has none (every new row matches).
FILTER_INDEXES = {
    "species": "prediction_species_time_idx (species=?",
    "version": "prediction_version_time_idx (model_version_id=?",
    "date range": "prediction_time_idx (created_at>? AND created_at<?)",
    "labelled": "prediction_labelled_time_idx",
    "outside the training range": "prediction_outside_range_idx",
}
# The admin's count reads at most this many rows (one past its cap).
CAPPED_COUNT = f"LIMIT {CappedCountPaginator.count_cap + 1}"
# A position in each sort order, for the pages after the first.
CURSORS = {"time": "7~2026-03-15T12:00:00+00:00", "height": "7~80.5", "weight": "7~40.5", "probability": "7~0.75"}


@pytest.fixture
def version():
    return ModelVersion.objects.create(
        version=1,
        algorithm="GaussianNB",
        training_data_name="animals.csv",
        training_data_sha256="0" * 64,
        training_rows=2,
        class_counts={"Cat": 1, "Dog": 1},
        cv_accuracy=1.0,
        cv_folds=2,
        sklearn_version="1.0",
        artifact_name="model-v1.joblib",
        artifact_sha256="0" * 64,
    )


@contextmanager
def recorded_reads():
    """Collects (sql, params) of every SELECT on the prediction table run inside the block."""
    reads = []

    def record(execute, sql, params, many, context):
        if sql.lstrip().upper().startswith("SELECT") and '"predictor_prediction"' in sql:
            reads.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        yield reads


# Every read leaves out the rows of batches still being stored (Prediction.objects.published()):
# a lookup of each row's batch in the few-row PendingBatch table, through its primary key. Left out
# of the plans below, which are about reading the prediction table.
PENDING_BATCH_LOOKUP = "USING INDEX sqlite_autoindex_predictor_pendingbatch_1 FOR IN-OPERATOR"


def plans(reads) -> list[list[str]]:
    assert reads, "nothing read the prediction table"
    explained = []
    for sql, params in reads:
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN QUERY PLAN " + sql, params)
            explained.append([row[3] for row in cursor.fetchall() if row[3] != PENDING_BATCH_LOOKUP])
    return explained


def capped_count_scan(plan: list[str]) -> bool:
    """The admin's capped count reading the table, which it does only until its cap (LIMIT count_cap + 1).

    The count needs each row's batch (see PENDING_BATCH_LOOKUP), which no index on the time holds.
    """
    return plan[:2] == ["CO-ROUTINE subquery", "SCAN predictor_prediction"]


def full_scans(plan: list[str]) -> list[str]:
    # "SCAN predictor_prediction USING INDEX …" walks an index; a bare "SCAN <table>" reads every row.
    # "SCAN subquery" reads a capped count's own LIMITed rows, not a table.
    return [step for step in plan if re.fullmatch(r"SCAN (TABLE )?\S+", step) and "subquery" not in step]


def sorts(plan: list[str]) -> list[str]:
    return [step for step in plan if "TEMP B-TREE" in step and "ORDER BY" in step]


def history_query(filters: str, sort: str, version: ModelVersion) -> HistoryQuery:
    values = dict(FILTERS[filters])
    if "model_version" in values:
        values["model_version"] = version
    return HistoryQuery(sort=sort, **values)


@pytest.mark.parametrize("filters", FILTERS)
@pytest.mark.parametrize("sort", SORT_CHOICES)
def test_results_page_reads_every_filter_through_an_index_and_time_order_without_a_sort(version, sort, filters):
    query = history_query(filters, sort, version)
    predictions = Prediction.objects.matching(query)
    cursor = selectors.decode_cursor(CURSORS[sort.removeprefix("-")], sort)
    with recorded_reads() as reads:
        selectors.keyset_page(predictions, sort=sort, size=50)
        selectors.keyset_page(predictions, sort=sort, size=50, after=cursor)
        selectors.keyset_page(predictions, sort=sort, size=50, before=cursor)
    for plan in plans(reads):
        if sort.removeprefix("-") == "time":
            # The page every visit opens: one page of an index, whatever the filter and the depth.
            assert not full_scans(plan), plan
            assert not sorts(plan), plan
        elif filters in FILTER_INDEXES:
            # Measurements and probability have no index of their own (see models.SORT_FIELDS): the
            # rows that match the filter are found through its index and only those are sorted.
            assert any(FILTER_INDEXES[filters] in step for step in plan), plan
            assert not full_scans(plan), plan
        else:
            # Unfiltered (or "not labelled", which every new row matches): a scan that keeps the
            # top page, by design; 0.2 s at a million rows on SQLite (docs/performance.md).
            assert sorts(plan), plan


@pytest.mark.parametrize("filters", FILTERS)
def test_results_page_charts_read_through_an_index(version, filters):
    predictions = Prediction.objects.matching(history_query(filters, DEFAULT_SORT, version))
    with recorded_reads() as reads:
        selectors.daily_counts(
            predictions,
            species=ModelVersion.objects.known_species(),
            first=dt.date(2026, 3, 1),
            last=dt.date(2026, 3, 2),
        )
        selectors.scatter_sample(predictions)
    for plan in plans(reads):
        assert not full_scans(plan), plan
        assert not sorts(plan), plan


ADMIN_FILTERS = {
    "no filter": {},
    "species": {"species": "Cat"},
    "actual species": {"actual_species__exact": "Cat"},
    "model version": {"model_version__id__exact": "{version}"},
    "source": {"source__exact": "batch"},
    "created at": {"created_at__gte": "2026-03-01 00:00:00+00:00", "created_at__lt": "2026-03-08 00:00:00+00:00"},
    "date hierarchy": {"created_at__year": "2026", "created_at__month": "3"},
}


@pytest.fixture
def admin_pages_of_one(version, monkeypatch):
    """Two rows that pass every admin filter, one per page: the admin reads a page through its paginator."""
    monkeypatch.setattr(PredictionAdmin, "list_per_page", 1)
    for _ in range(2):
        Prediction.objects.create(
            created_at=dt.datetime(2026, 3, 2, tzinfo=dt.UTC),
            inputs={"height": 80, "weight": 40},
            species="Cat",
            probability=0.9,
            probabilities={"Cat": 0.9, "Dog": 0.1},
            model_version=version,
            source="batch",
            actual_species="Cat",
        )


@pytest.mark.parametrize("filters", ADMIN_FILTERS)
def test_admin_changelist_reads_every_filter_through_an_index(admin_client, version, admin_pages_of_one, filters):
    params = {name: value.format(version=version.pk) for name, value in ADMIN_FILTERS[filters].items()}
    with recorded_reads() as reads:
        response = admin_client.get(CHANGELIST, params)
    assert response.status_code == 200
    # The paginator's count of the filtered rows (up to its cap), the ids of the page in the admin's
    # order, then those rows by id; then the first and last time, which bound the date links.
    count_sql, ids_sql, rows_sql, first_sql, last_sql = (sql for sql, _ in reads)
    assert first_sql.endswith("ORDER BY 1 ASC LIMIT 1") and '"created_at" AS "created_at"' in first_sql
    assert last_sql.endswith("ORDER BY 1 DESC LIMIT 1") and '"created_at" AS "created_at"' in last_sql
    assert "COUNT(*)" in count_sql and CAPPED_COUNT in count_sql
    assert ids_sql.startswith('SELECT "predictor_prediction"."id" AS "pk" FROM "predictor_prediction"')
    assert 'ORDER BY "predictor_prediction"."created_at" DESC, "predictor_prediction"."id" DESC' in ids_sql
    assert '"predictor_prediction"."id" IN (' in rows_sql and "ORDER BY" not in rows_sql
    count_plan, *other_plans = plans(reads)
    assert capped_count_scan(count_plan) or not full_scans(count_plan), count_plan
    for plan in [count_plan, *other_plans]:
        assert not sorts(plan), plan
    for plan in other_plans:
        assert not full_scans(plan), plan


def test_admin_changelist_lists_unlabelled_predictions_through_the_time_index(admin_client, version):
    # No row is unlabelled, so the list is one (empty) page read straight from the filtered rows.
    with recorded_reads() as reads:
        response = admin_client.get(CHANGELIST, {"actual_species__isnull": "True"})
    assert response.status_code == 200
    count, page, *rows = plans(reads)
    # The page walks the time index and skips labelled rows. Counting the unlabelled rows (admin
    # counts the filtered rows for its paginator) has no index to read since actual_species is
    # indexed only where set: it reads the table, though only until the paginator's cap.
    assert not full_scans(page) and not sorts(page), page
    assert full_scans(count) == ["SCAN predictor_prediction"], count
    assert CAPPED_COUNT in reads[0][0]


@pytest.mark.parametrize(("term", "index"), [("cat", "prediction_species_time_idx"), ("7", "INTEGER PRIMARY KEY")])
def test_admin_search_finds_a_species_or_an_id_through_an_index(admin_client, version, admin_pages_of_one, term, index):
    with recorded_reads() as reads:
        response = admin_client.get(CHANGELIST, {"q": term})
    assert response.status_code == 200
    count, page, *rows = plans(reads)
    assert any(index in step for step in count), count
    for plan in (count, page, *rows):
        assert not full_scans(plan), plan
        # Rows found by their id (at most one) are sorted, not read in an index's order.
        by_id = any("INTEGER PRIMARY KEY (rowid=?)" in step for step in plan)
        assert by_id or not sorts(plan), plan


def test_batch_download_and_summary_read_the_batch_through_its_index(trained_version):
    batch_id = batch.predict_file(b"Height,Weight\n80,40\n70,30\n")
    with recorded_reads() as reads:
        b"".join(batch.results_csv(batch_id))
        batch.batch_summary(batch_id)
    for plan in plans(reads):
        assert not full_scans(plan), plan
        assert not sorts(plan), plan  # rows in id order: the batch index keeps them in that order
        assert any("prediction_batch_idx (batch_id=?)" in step for step in plan), plan


def test_model_pages_count_labelled_predictions_from_the_live_accuracy_index(version):
    # The partial index holds every column the counts need: the table is not read at all.
    (pairs,) = plans([model_metrics.labelled_pairs(version).query.sql_with_params()])
    covering = "SEARCH predictor_prediction USING COVERING INDEX prediction_live_accuracy ("
    assert len(pairs) == 1 and pairs[0].startswith(covering), pairs
    with recorded_reads() as reads:
        model_metrics.version_metrics(version)
        list(selectors.with_live_counts(ModelVersion.objects.all()))
    *metrics, live_counts = plans(reads)
    for plan in metrics:
        assert not full_scans(plan), plan
        assert not sorts(plan), plan
    # The versions list reads and sorts its own small table (a row per training, every model's),
    # and counts each version's predictions from the indexes, never reading the history whole.
    assert full_scans(live_counts) == ["SCAN predictor_modelversion"], live_counts
    assert sum("COVERING INDEX prediction_live_accuracy" in step for step in live_counts) == 2, live_counts


def test_training_feedback_reads_the_labelled_rows_through_their_index(db):
    with recorded_reads() as reads:
        training.load_feedback()
    (plan,) = plans(reads)
    assert plan == ["SEARCH predictor_prediction USING INDEX prediction_model_labelled_idx (model_id=?)"]
