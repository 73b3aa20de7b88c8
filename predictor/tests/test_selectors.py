import datetime as dt

import pytest
from django.utils import timezone

from predictor.history import exports, selectors
from predictor.models import SORT_CHOICES, HistoryQuery, ModelVersion, Prediction
from predictor.web.forms import HistoryFilterForm

pytestmark = pytest.mark.django_db

UTC = dt.UTC


def add_prediction(version: ModelVersion, *, at: dt.datetime, species: str = "Cat", height: float = 30, weight=4):
    probability = 0.9
    other = "Dog" if species == "Cat" else "Cat"
    return Prediction.objects.create(
        created_at=at,
        inputs={"height": height, "weight": weight},
        species=species,
        probability=probability,
        probabilities={species: probability, other: 1 - probability},
        model_version=version,
    )


@pytest.fixture
def versions(make_version):
    return make_version(is_active=True), make_version(is_active=True)


@pytest.fixture
def mixed_rows(versions):
    """24 predictions over three days, both species, both versions, with repeated heights (ties)."""
    first, second = versions
    start = dt.datetime(2026, 3, 1, 8, tzinfo=UTC)
    rows = []
    for n in range(24):
        rows.append(
            add_prediction(
                first if n % 3 else second,
                at=start + dt.timedelta(hours=3 * n),
                species="Cat" if n % 2 else "Dog",
                height=20 + n % 5,  # ties, so the id tie-breaker matters
                weight=3 + n / 2,
            )
        )
    return rows


def filtered(**params) -> HistoryQuery:
    """The query the results page runs for these query-string parameters."""
    form = HistoryFilterForm(params, species=["Cat", "Dog"])
    assert form.is_valid(), form.errors
    return form.query()


def test_filters_by_species_version_and_inclusive_date_range(mixed_rows, versions):
    first, second = versions
    species = Prediction.objects.matching(HistoryQuery(species="Cat"))
    assert {p.species for p in species} == {"Cat"} and species.count() == 12

    by_version = Prediction.objects.matching(HistoryQuery(model_version=second))
    assert {p.model_version_id for p in by_version} == {second.pk} and by_version.count() == 8

    one_day = Prediction.objects.matching(filtered(date_from="2026-03-02", date_to="2026-03-02"))
    assert {timezone.localtime(p.created_at).date() for p in one_day} == {dt.date(2026, 3, 2)}
    assert one_day.count() == 8  # every three hours: 00:00 to 21:00


def test_date_filters_use_the_site_time_zone(versions, settings):
    settings.TIME_ZONE = "America/New_York"
    # 02:00 UTC on 2 March is still 1 March in New York.
    row = add_prediction(versions[0], at=dt.datetime(2026, 3, 2, 2, tzinfo=UTC))
    assert list(Prediction.objects.matching(filtered(date_to="2026-03-01"))) == [row]
    assert not Prediction.objects.matching(filtered(date_from="2026-03-02")).exists()


@pytest.mark.parametrize("sort", SORT_CHOICES)
def test_keyset_pages_walk_every_row_once_in_order_both_ways(mixed_rows, sort):
    ordered = list(Prediction.objects.in_order(sort))
    predictions = Prediction.objects.all()

    pages = [selectors.keyset_page(predictions, sort=sort, size=5)]
    assert pages[0].is_first
    while pages[-1].next_cursor:
        after = selectors.decode_cursor(pages[-1].next_cursor, sort)
        pages.append(selectors.keyset_page(predictions, sort=sort, size=5, after=after))
    assert [len(page.rows) for page in pages] == [5, 5, 5, 5, 4]
    assert [row for page in pages for row in page.rows] == ordered

    backwards = [pages[-1]]
    while backwards[-1].previous_cursor:
        before = selectors.decode_cursor(backwards[-1].previous_cursor, sort)
        backwards.append(selectors.keyset_page(predictions, sort=sort, size=5, before=before))
    assert [page.rows for page in reversed(backwards)] == [page.rows for page in pages]


def test_a_cursor_for_another_sort_or_garbage_is_refused():
    with pytest.raises(ValueError):
        selectors.decode_cursor("12~not-a-number", "height")
    with pytest.raises(ValueError):
        selectors.decode_cursor("twelve~3.5", "height")
    with pytest.raises(ValueError):
        selectors.decode_cursor("12~2026-03-01T08:00:00", "-time")  # no UTC offset
    with pytest.raises(ValueError):
        selectors.decode_cursor("nothing", "-time")


def test_daily_counts_have_every_day_of_the_window_per_species(mixed_rows):
    daily = selectors.daily_counts(
        Prediction.objects.all(),
        species=ModelVersion.objects.known_species(),
        first=dt.date(2026, 2, 28),
        last=dt.date(2026, 3, 4),
    )
    assert daily["days"] == ["2026-02-28", "2026-03-01", "2026-03-02", "2026-03-03", "2026-03-04"]
    # 1 March has 08:00..23:00 (6 rows), 2 and 3 March 8 rows each, 4 March 02:00 and 05:00.
    assert daily["species"] == {"Cat": [0, 3, 4, 4, 1], "Dog": [0, 3, 4, 4, 1]}
    assert daily["total"] == 24
    assert daily["rows"][1] == (dt.date(2026, 3, 1), [3, 3])


def test_chart_window_is_the_filter_range_or_the_last_30_days_capped_at_a_year():
    today = dt.date(2026, 6, 30)
    assert selectors.chart_window(None, None, today=today) == (dt.date(2026, 6, 1), today)
    window = selectors.chart_window(dt.date(2026, 3, 1), dt.date(2026, 3, 4), today=today)
    assert window == (dt.date(2026, 3, 1), dt.date(2026, 3, 4))
    first, last = selectors.chart_window(dt.date(2020, 1, 1), dt.date(2026, 3, 4), today=today)
    assert (last - first).days + 1 == selectors.CHART_MAX_DAYS and last == dt.date(2026, 3, 4)


def test_scatter_sample_is_the_newest_rows(mixed_rows):
    sample = selectors.scatter_sample(Prediction.objects.all(), size=3)
    newest = mixed_rows[-1]
    assert len(sample) == 3
    assert sample[0] == [newest.inputs["height"], newest.inputs["weight"], newest.species]


def test_one_outlier_is_left_off_the_scatter_and_counted_instead_of_squashing_the_rest():
    ordinary = [[40 + n % 45, 5 + n % 35, "Cat"] for n in range(60)]  # 40-84 cm, 5-39 kg
    window = selectors.scatter_window([*ordinary, [300, 500, "Dog"]])
    assert window.off_chart == 1
    assert 20 <= window.y[0] <= 40 and 84 <= window.y[1] <= 100  # the bulk fills most of the chart
    assert 0 <= window.x[0] <= 5 and 39 <= window.x[1] <= 50
    assert selectors.scatter_window(ordinary).off_chart == 0


def test_a_scatter_of_a_few_alike_points_still_has_a_window_around_them():
    window = selectors.scatter_window([[80, 40, "Cat"], [80, 40, "Cat"]])
    assert window.off_chart == 0
    assert window.y[0] < 80 < window.y[1] and window.x[0] < 40 < window.x[1]
    assert selectors.scatter_window([]) is None


def test_export_rows_follow_the_filter_and_order(mixed_rows, versions):
    query = HistoryQuery(species="Dog", sort="height")
    predictions = Prediction.objects.matching(query).in_order(query.sort)
    rows = list(exports.export_rows(predictions))
    assert len(rows) == 12
    assert [row["id"] for row in rows] == [p.pk for p in predictions]
    first = Prediction.objects.get(pk=rows[0]["id"])
    assert rows[0] == {
        "id": first.pk,
        "created_at": timezone.localtime(first.created_at).isoformat(),
        "height_cm": first.inputs["height"],
        "weight_kg": first.inputs["weight"],
        "predicted_species": "Dog",
        "probability": first.probability,
        "model_version": first.model_version.version,
        "source": "web form",
        "actual_species": None,  # not labelled
        "outside_training_range": False,
    }
    assert exports.columns()[:5] == ["id", "created_at", "height_cm", "weight_kg", "predicted_species"]


def test_export_neutralises_cells_a_spreadsheet_would_run_as_formulas(versions):
    add_prediction(versions[0], at=timezone.now(), species="=HYPERLINK(1)")
    (row,) = exports.export_rows(Prediction.objects.all())
    assert row["predicted_species"] == "'=HYPERLINK(1)"


def test_known_species_come_from_the_model_versions(versions):
    assert ModelVersion.objects.known_species() == ["Cat", "Dog"]


@pytest.mark.parametrize("zone", ["America/New_York", "Asia/Kolkata", "Pacific/Chatham"])
def test_daily_counts_put_each_prediction_on_its_local_day(versions, settings, zone):
    settings.TIME_ZONE = zone
    # Just before and just after local midnight starting 2 March, wherever the zone's offset falls.
    midnight = timezone.make_aware(dt.datetime(2026, 3, 2))
    for minutes in (-50, -1, 0, 1, 59, 61):
        add_prediction(versions[0], at=midnight + dt.timedelta(minutes=minutes))
    daily = selectors.daily_counts(
        Prediction.objects.all(),
        species=ModelVersion.objects.known_species(),
        first=dt.date(2026, 3, 1),
        last=dt.date(2026, 3, 2),
    )
    assert daily["species"] == {"Cat": [2, 4]}
