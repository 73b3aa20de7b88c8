"""Admin pages over a large history: counts that stop in time, and pages read by id."""

import numpy as np
import pytest
from django.db import connection
from django.urls import reverse

from predictor.admin import PredictionAdmin
from predictor.history import pagination, writer
from predictor.history.pagination import AtLeast, CappedCountPaginator, QueryTimedOut, statement_time_limit
from predictor.models import Prediction
from predictor.serving import model_service

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:predictor_prediction_changelist")
ON_SQLITE = connection.vendor == "sqlite"
# Seconds of work for either database: counting to a hundred million, or sleeping.
SLOW_QUERY = (
    "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 100000000) SELECT COUNT(*) FROM n"
    if ON_SQLITE
    else "SELECT pg_sleep(5)"
)
QUICK_QUERY = (
    "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 200000) SELECT COUNT(*) FROM n"
    if ON_SQLITE
    else "SELECT pg_sleep(0.2)"
)


def run(sql: str):
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchone()


def store(count: int) -> list[Prediction]:
    features = np.column_stack([[20.0 + i * 0.01 for i in range(count)], [30.0] * count])
    writer.record_predictions(result=model_service.predict_many(features), source="api")
    return list(Prediction.objects.order_by("-created_at", "-id"))


def test_a_query_past_the_time_limit_is_stopped_and_the_connection_goes_on_working(trained_version):
    with pytest.raises(QueryTimedOut), statement_time_limit(0.05):
        run(SLOW_QUERY)

    assert run("SELECT 1") == (1,)


def test_the_time_limit_ends_with_its_block(trained_version):
    with statement_time_limit(0.01):
        assert run("SELECT 1") == (1,)

    assert run(QUICK_QUERY) is not None  # takes longer than 0.01 s, and is not stopped


def test_the_admin_shows_the_exact_count_below_the_cap(admin_client, trained_version):
    store(3)

    response = admin_client.get(CHANGELIST)

    assert response.context["cl"].result_count == 3
    assert "3 predictions" in response.content.decode()


def test_the_admin_shows_the_exact_count_above_the_cap_when_it_comes_in_time(
    admin_client, trained_version, monkeypatch
):
    monkeypatch.setattr(CappedCountPaginator, "count_cap", 2)
    monkeypatch.setattr(CappedCountPaginator, "count_seconds", 10)  # in time on any machine
    store(5)

    response = admin_client.get(CHANGELIST)

    assert response.context["cl"].result_count == 5
    assert not isinstance(response.context["cl"].result_count, AtLeast)


@pytest.mark.skipif(not ON_SQLITE, reason="PostgreSQL's timeout is in whole milliseconds; this count takes less")
def test_a_count_that_would_take_too_long_stops_at_the_cap_and_says_so(admin_client, trained_version, monkeypatch):
    monkeypatch.setattr(CappedCountPaginator, "count_cap", 100)
    monkeypatch.setattr(CappedCountPaginator, "count_seconds", 0)
    monkeypatch.setattr(pagination, "SQLITE_PROGRESS_STEPS", 100)  # check the (passed) deadline early
    monkeypatch.setattr(PredictionAdmin, "list_per_page", 40)
    rows = store(300)  # all from the API: the filter below makes the count read each row

    response = admin_client.get(CHANGELIST, {"source__exact": "api", "p": 3})

    assert response.context["cl"].result_count == 100
    assert isinstance(response.context["cl"].result_count, AtLeast)
    assert "100+ predictions" in response.content.decode()
    assert list(response.context["cl"].result_list) == rows[80:100]  # the capped count's last page


def test_a_deep_page_holds_the_rows_of_that_page_in_order_with_their_versions(
    admin_client, trained_version, monkeypatch
):
    monkeypatch.setattr(PredictionAdmin, "list_per_page", 2)
    rows = store(5)

    pages = [list(admin_client.get(CHANGELIST, {"p": number}).context["cl"].result_list) for number in (1, 2, 3)]

    assert pages == [rows[0:2], rows[2:4], rows[4:5]]
    assert {row.model_version.version for page in pages for row in page} == {trained_version.version}


def test_a_deep_page_of_a_filtered_list_holds_only_matching_rows(admin_client, trained_version, monkeypatch):
    monkeypatch.setattr(PredictionAdmin, "list_per_page", 2)
    rows = store(12)
    species = rows[0].species
    matching = [row for row in rows if row.species == species]

    page = admin_client.get(CHANGELIST, {"species": species, "p": 2}).context["cl"].result_list

    assert list(page) == matching[2:4]
