import csv
import datetime as dt
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from predictor.history import selectors
from predictor.models import Prediction

pytestmark = pytest.mark.django_db

HISTORY = reverse("predictor:history")
EXPORT = reverse("predictor:history_csv")


@pytest.fixture
def rows(trained_version):
    start = dt.datetime(2026, 3, 1, 9, tzinfo=dt.UTC)
    Prediction.objects.bulk_create(
        Prediction(
            created_at=start + dt.timedelta(hours=5 * n),
            inputs={"height": 20 + n, "weight": 3 + n},
            species="Cat" if n % 2 else "Dog",
            probability=0.8,
            probabilities={"Cat": 0.8, "Dog": 0.2} if n % 2 else {"Cat": 0.2, "Dog": 0.8},
            model_version=trained_version,
        )
        for n in range(60)
    )
    return Prediction.objects.order_by("-created_at", "-id")


def read_csv(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_history_shows_the_newest_page_with_charts_and_sort_links(admin_client, rows):
    response = admin_client.get(HISTORY)
    assert response.status_code == 200
    page = response.context["page"]
    assert page.rows == list(rows[:50])
    assert page.next_cursor and page.previous_cursor is None
    html = response.content.decode()
    assert 'aria-sort="descending"' in html
    assert "?sort=-height" in html
    assert 'id="chart-data"' in html
    assert "vendor/chartjs/chart.umd.min.js" in html
    charts = response.context["chart_data"]
    assert charts["species"] == ["Cat", "Dog"]
    assert len(charts["scatter"]) == 60  # every row: fewer than the 2,000-row sample


def test_per_day_chart_covers_the_filtered_days(admin_client, rows):
    response = admin_client.get(HISTORY, {"date_from": "2026-03-01", "date_to": "2026-03-13"})
    charts = response.context["chart_data"]
    assert charts["days"][0] == "2026-03-01" and len(charts["days"]) == 13
    assert sum(sum(counts) for counts in charts["daily"].values()) == 60
    assert "60 predictions from 1 Mar 2026 to 13 Mar 2026" in response.content.decode()


def test_history_filters_and_keeps_them_in_page_and_export_links(admin_client, rows):
    response = admin_client.get(HISTORY, {"species": "Cat", "date_from": "2026-03-02", "sort": "height"})
    assert response.status_code == 200
    shown = response.context["page"].rows
    assert shown and all(p.species == "Cat" for p in shown)
    assert [p.inputs["height"] for p in shown] == sorted(p.inputs["height"] for p in shown)
    assert all(p.created_at.date() >= dt.date(2026, 3, 2) for p in shown)
    html = response.content.decode()
    assert "/predictions.csv?species=Cat&amp;date_from=2026-03-02&amp;sort=height" in html
    assert 'value="2026-03-02"' in html  # the filter form shows the state it applied


def test_species_and_model_columns_filter_but_do_not_sort(admin_client, rows):
    headings = {heading["label"]: heading["sort"] for heading in admin_client.get(HISTORY).context["headings"]}
    assert headings["Species"] is None and headings["Model"] is None
    assert headings["Height (cm)"] == "-height"
    assert not {"species", "model"} & set(selectors.SORT_FIELDS)


def test_next_page_link_continues_where_the_first_page_ended(admin_client, rows):
    first = admin_client.get(HISTORY).context["page"]
    second = admin_client.get(HISTORY, {"after": first.next_cursor}).context["page"]
    assert second.rows == list(rows[50:])
    assert second.next_cursor is None and second.previous_cursor


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"species": "Horse"}, "No model predicts the species “Horse”."),
        ({"version": "99"}, "There is no model version “99”."),
        ({"date_from": "yesterday"}, "Enter the first day as YYYY-MM-DD, such as 2026-11-30."),
        ({"date_from": "2026-03-05", "date_to": "2026-03-01"}, "The last day must not be before the first day."),
        ({"sort": "price"}, "Cannot sort by “price”."),
        ({"sort": "-species"}, "Cannot sort by “-species”."),
        ({"sort": "model"}, "Cannot sort by “model”."),
        ({"after": "garbage"}, "is not a page position"),
    ],
)
def test_bad_filters_answer_400_naming_the_problem(admin_client, rows, params, message):
    response = admin_client.get(HISTORY, params)
    assert response.status_code == 400
    assert message in response.content.decode()

    export = admin_client.get(EXPORT, params)
    assert export.status_code == 400
    assert message in export.content.decode()


def test_export_has_exactly_the_filtered_rows_in_the_page_order(admin_client, rows):
    response = admin_client.get(EXPORT, {"species": "Dog", "date_to": "2026-03-05", "sort": "-weight"})
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="predictions-')
    header, *lines = read_csv(response)
    assert header[:5] == ["id", "created_at", "height_cm", "weight_kg", "predicted_species"]
    expected = rows.filter(species="Dog", created_at__lt=dt.datetime(2026, 3, 6, tzinfo=dt.UTC)).in_order("-weight")
    assert [int(line[0]) for line in lines] == [p.pk for p in expected]
    assert {line[4] for line in lines} == {"Dog"}
    assert lines[0][6] == str(rows.first().model_version.version)


def test_history_reads_a_bounded_number_of_queries_and_never_counts_every_row(admin_client, rows, settings):
    # As a running process answers: its model and the list of served models already loaded (once a minute here).
    settings.ML_MODEL_CHECK_SECONDS = 60
    admin_client.get(HISTORY)
    with CaptureQueriesContext(connection) as queries:
        admin_client.get(HISTORY, {"species": "Cat"})
    sql = [query["sql"].upper() for query in queries]
    day_counts = [statement for statement in sql if "COUNT(" in statement]
    # The only counts are the chart's per-day ones, each bounded to one day of one species.
    assert all('"CREATED_AT" >=' in statement and '"CREATED_AT" <' in statement for statement in day_counts)
    # On PostgreSQL the staff time limit adds three: its set_config and the savepoint around it.
    time_limit = [statement for statement in sql if "SET_CONFIG" in statement or "SAVEPOINT" in statement]
    # Session, user, permissions, the models (the switcher's, among them the page's), the model's
    # versions and the schema of its newest, the page, the sample: a fixed few.
    assert len(sql) - len(day_counts) - len(time_limit) <= 12
    assert len(time_limit) <= 3
    assert not any(" OFFSET " in statement for statement in sql)


def test_model_version_filter_uses_version_numbers(admin_client, rows, make_version):
    newer = make_version(stored=True, is_active=True)
    response = admin_client.get(HISTORY, {"version": str(newer.version)})
    assert response.status_code == 200
    assert response.context["page"].rows == []
    assert "No prediction matches these filters" in response.content.decode()


def test_export_is_for_staff_only(client, django_user_model, rows):
    assert client.get(EXPORT).status_code == 302
    user = django_user_model.objects.create_user("visitor", password="a-long-password-1")
    client.force_login(user)
    assert client.get(EXPORT).status_code == 403


def test_navigation_hides_staff_links_from_visitors(client, admin_client, trained_version):
    visitor = client.get(reverse("predictor:predict")).content.decode()
    assert reverse("predictor:history") not in visitor
    assert reverse("predictor:model_list") not in visitor
    staff = admin_client.get(reverse("predictor:predict")).content.decode()
    for url in (reverse("predictor:history"), reverse("predictor:model_list"), "/admin/"):
        assert f'href="{url}"' in staff


def test_labelled_filter_splits_rows_with_and_without_a_true_species(admin_client, rows):
    labelled = list(rows[:5])
    Prediction.objects.filter(pk__in=[p.pk for p in labelled]).update(actual_species="Cat")
    shown = admin_client.get(HISTORY, {"labelled": "yes"}).context["page"].rows
    assert {p.pk for p in shown} == {p.pk for p in labelled}
    unlabelled = admin_client.get(HISTORY, {"labelled": "no"}).context["page"].rows
    assert not {p.pk for p in unlabelled} & {p.pk for p in labelled}


def test_the_labelled_filter_is_offered(admin_client, rows):
    html = admin_client.get(HISTORY).content.decode()
    assert 'name="labelled"' in html


@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01", "1999-12-31"])
def test_days_outside_a_sane_calendar_are_refused_not_a_server_error(admin_client, trained_version, day):
    for url in (reverse("predictor:history"), reverse("predictor:history_csv")):
        response = admin_client.get(url, {"date_to": day})
        assert response.status_code == 400
        assert "Choose a day from 2000-01-01 to" in response.content.decode()


def test_the_day_filters_ask_for_the_format_they_accept(admin_client, trained_version):
    html = admin_client.get(reverse("predictor:history")).content.decode()
    assert 'name="date_from" placeholder="YYYY-MM-DD"' in html
    assert 'type="date"' not in html
