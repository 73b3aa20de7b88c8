import csv

import pytest
from django.urls import reverse

from predictor.history import selectors
from predictor.models import ModelVersion, Prediction
from predictor.registry import training
from predictor.registry.model_metrics import version_metrics

pytestmark = pytest.mark.django_db

TRAINING_STATS = {
    "height": {"mean": 80.0, "min": 70.0, "max": 90.0},
    "weight": {"mean": 40.0, "min": 30.0, "max": 50.0},
}
# (height, weight, predicted, actual)
ROWS = [
    (80, 40, "Cat", "Cat"),
    (85, 45, "Dog", "Cat"),
    (95, 40, "Dog", "Dog"),  # height above the training range
    (60, 60, "Dog", None),  # both outside; not labelled
    (75, 35, "Cat", "Dog"),
    (72, 32, "Cat", "Cat"),
]


@pytest.fixture
def observed_version(trained_version, make_version):
    trained_version.training_stats = TRAINING_STATS
    trained_version.save()
    for height, weight, species, actual in ROWS:
        Prediction.objects.create(
            inputs={"height": height, "weight": weight},
            species=species,
            probability=0.9,
            probabilities={species: 0.9},
            model_version=trained_version,
            actual_species=actual,
        )
    # Another version's predictions must not count for this one.
    other = make_version()
    Prediction.objects.create(
        inputs={"height": 1, "weight": 1},
        species="Cat",
        probability=1,
        probabilities={},
        model_version=other,
        actual_species="Dog",
    )
    return trained_version


def test_live_accuracy_and_confusion_matrix_are_exact(observed_version):
    metrics = version_metrics(observed_version)
    assert (metrics.predictions, metrics.labelled, metrics.correct) == (6, 5, 3)
    assert metrics.accuracy == pytest.approx(0.6)
    assert metrics.accuracy_percent == "60.0%"
    assert metrics.species == ("Cat", "Dog")
    # rows: actual Cat, actual Dog; columns: predicted Cat, predicted Dog
    assert metrics.confusion == ((2, 1), (1, 1))


def test_drift_compares_live_inputs_with_the_training_data(observed_version):
    height, weight = version_metrics(observed_version).drift
    assert (height.training_mean, height.training_min, height.training_max) == (80.0, 70.0, 90.0)
    assert height.live_mean == pytest.approx(467 / 6)
    assert (height.live_min, height.live_max) == (60, 95)
    assert height.outside == 2 and height.outside_share == pytest.approx(2 / 6)
    assert weight.live_mean == pytest.approx(42)
    assert (weight.live_min, weight.live_max) == (32, 60)
    assert weight.outside == 1 and weight.outside_percent == "16.7%"


def test_share_of_inputs_outside_the_training_range_counts_each_input_once(observed_version):
    metrics = version_metrics(observed_version)
    assert metrics.outside_any == 2
    assert metrics.outside_any_percent == "33.3%"


def test_metrics_are_two_aggregate_queries_whatever_the_row_count(observed_version, django_assert_num_queries):
    with django_assert_num_queries(2):
        version_metrics(observed_version)


def test_a_version_without_predictions_has_no_accuracy(trained_version):
    metrics = version_metrics(trained_version)
    assert (metrics.predictions, metrics.labelled, metrics.accuracy) == (0, 0, None)
    assert metrics.confusion == ((0, 0), (0, 0))
    assert metrics.outside_any == 0 and metrics.outside_any_share is None
    assert metrics.drift[0].live_mean is None


def test_with_live_counts_annotates_every_version_in_one_query(observed_version, django_assert_num_queries):
    with django_assert_num_queries(1):
        versions = {v.version: v for v in selectors.with_live_counts(ModelVersion.objects.all())}
    first, second = versions[1], versions[2]
    assert (first.prediction_count, first.labelled_count, first.correct_count) == (6, 5, 3)
    assert first.live_accuracy_percent == "60.0%"
    assert (second.prediction_count, second.labelled_count, second.live_accuracy) == (1, 1, 0.0)


def test_training_records_the_statistics_of_its_rows(trained_version):
    with training.DEFAULT_TRAINING_DATA.open() as source:
        rows = list(csv.DictReader(source))
    for field, column in (("height", "Height"), ("weight", "Weight")):
        values = [float(row[column]) for row in rows]
        stats = trained_version.training_stats[field]
        assert stats["mean"] == pytest.approx(sum(values) / len(values))
        assert (stats["min"], stats["max"]) == (min(values), max(values))


def test_model_page_shows_live_accuracy_confusion_and_drift(admin_client, observed_version):
    page = admin_client.get(reverse("predictor:model_detail", args=[observed_version.version])).content.decode()
    assert "60.0%" in page
    assert "2 of 6 inputs (33.3%) were outside the training range" in page
    assert "70–90" in page and "60–95" in page
    assert reverse("predictor:model_picture", args=[observed_version.version]) in page


def test_model_list_shows_each_versions_live_counts(admin_client, observed_version):
    page = admin_client.get(reverse("predictor:model_list")).content.decode()
    assert reverse("predictor:model_detail", args=[1]) in page
    assert reverse("predictor:model_detail", args=[2]) in page
    assert "60.0%" in page and "0.0%" in page


def test_admin_model_versions_list_and_page_show_live_metrics(admin_client, observed_version):
    page = admin_client.get(reverse("admin:predictor_modelversion_changelist")).content.decode()
    assert "Live accuracy" in page and "60.0%" in page
    page = admin_client.get(reverse("admin:predictor_modelversion_change", args=[observed_version.pk])).content
    assert "2 of 6 inputs (33.3%) were outside the training range" in page.decode()


def test_model_pages_are_for_staff_only(client, django_user_model, trained_version):
    urls = [reverse("predictor:model_list"), reverse("predictor:model_detail", args=[trained_version.version])]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 302 and response.url.startswith(reverse("login"))
    client.force_login(django_user_model.objects.create_user("visitor", password="pw-visitor-123"))
    for url in urls:
        assert client.get(url).status_code == 403


def test_unknown_model_page_is_404(admin_client, trained_version):
    assert admin_client.get(reverse("predictor:model_detail", args=[99])).status_code == 404


def test_a_version_that_has_not_answered_says_so(admin_client, trained_version):
    page = admin_client.get(reverse("predictor:model_detail", args=[trained_version.version])).content.decode()
    assert "This version has not answered any prediction yet." in page
    assert "0 of 0" not in page
