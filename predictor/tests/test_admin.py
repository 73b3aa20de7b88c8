import re

import pytest
from django.urls import reverse
from django.utils import timezone

from predictor.history.writer import record_prediction
from predictor.models import Prediction
from predictor.schema.wording import probability_text
from predictor.serving import model_service

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:predictor_prediction_changelist")


@pytest.fixture
def predictions(trained_version):
    return [
        record_prediction(result=model_service.predict({"height": h, "weight": w}))
        for h, w in [(90, 50), (70, 40), (88, 47)]
    ]


def test_anonymous_visitors_are_sent_to_the_admin_login(client):
    response = client.get(CHANGELIST)
    assert response.status_code == 302
    assert response.url.startswith(reverse("admin:login"))


def test_prediction_list_shows_inputs_outputs_and_version(admin_client, predictions):
    response = admin_client.get(CHANGELIST)
    assert response.status_code == 200
    rows = list(response.context["cl"].result_list)
    assert rows == sorted(predictions, key=lambda p: (p.created_at, p.pk), reverse=True)
    html = response.content.decode()
    for heading in ["Created at", "Height (cm)", "Weight (kg)", "Predicted species", "Probability", "Model version"]:
        assert heading in html
    assert probability_text(predictions[0].probability) in html


@pytest.mark.parametrize(
    ("query", "expected"),
    [({"species": "Cat"}, {"Cat"}), ({"species": "Dog"}, {"Dog"}), ({"q": "Cat"}, {"Cat"})],
)
def test_prediction_list_filters_and_search(admin_client, predictions, query, expected):
    response = admin_client.get(CHANGELIST, query)
    assert response.status_code == 200
    assert {row.species for row in response.context["cl"].result_list} == expected


def test_admin_search_takes_a_species_in_any_case_or_a_prediction_id(admin_client, predictions):
    def found(term: str) -> list[Prediction]:
        return list(admin_client.get(CHANGELIST, {"q": term}).context["cl"].result_list)

    assert {row.species for row in found("dog")} == {"Dog"}
    assert found(f" {predictions[1].pk} ") == [predictions[1]]
    assert found("zebra") == []
    assert found("og") == []  # a species by its name, not a fragment: the name is found through an index


def test_the_admin_offers_no_per_choice_counts_that_would_read_the_table_once_per_choice(admin_client, predictions):
    html = admin_client.get(CHANGELIST, {"_facets": "True"}).content.decode()
    assert "Show counts" not in html
    assert "(3)" not in html


def test_prediction_list_filters_by_version_and_date(admin_client, predictions, trained_version):
    by_version = admin_client.get(CHANGELIST, {"model_version__id__exact": trained_version.pk})
    assert len(by_version.context["cl"].result_list) == 3
    today = predictions[0].created_at
    by_day = admin_client.get(
        CHANGELIST, {"created_at__year": today.year, "created_at__month": today.month, "created_at__day": today.day}
    )
    assert len(by_day.context["cl"].result_list) == 3


def test_prediction_is_read_only_in_admin(admin_client, predictions):
    prediction = predictions[0]
    url = reverse("admin:predictor_prediction_change", args=[prediction.pk])
    page = admin_client.get(url)
    assert page.status_code == 200
    html = page.content.decode()
    assert 'name="height_cm"' not in html and 'name="species"' not in html  # shown, not editable
    admin_client.post(url, {"species": "Cat", "height_cm": "1", "weight_kg": "1"})
    prediction.refresh_from_db()
    assert (prediction.species, prediction.inputs["height"]) == ("Dog", 90)
    assert admin_client.get(reverse("admin:predictor_prediction_add")).status_code == 403
    assert admin_client.get(reverse("admin:predictor_prediction_delete", args=[prediction.pk])).status_code == 403
    assert Prediction.objects.count() == 3


def test_model_versions_list_shows_metrics_and_the_active_one(admin_client, trained_version):
    response = admin_client.get(reverse("admin:predictor_modelversion_changelist"))
    assert response.status_code == 200
    html = response.content.decode()
    assert f"{trained_version.cv_accuracy:.1%}" in html
    assert "GaussianNB" in html
    assert 'alt="True"' in html  # the active flag's icon


def test_a_prediction_page_shows_probabilities_as_percentages_not_raw_numbers(admin_client, predictions):
    prediction = predictions[0]
    html = admin_client.get(reverse("admin:predictor_prediction_change", args=[prediction.pk])).content.decode()
    assert repr(prediction.probability) not in html
    assert '{"Cat"' not in html and "{&quot;Cat&quot;" not in html
    shown = ", ".join(f"{label} {text}" for label, text, _ in prediction.sorted_probabilities)
    assert shown.replace(">", "&gt;").replace("<", "&lt;") in html


def test_a_model_version_page_reads_as_text_not_json(admin_client, trained_version):
    html = admin_client.get(reverse("admin:predictor_modelversion_change", args=[trained_version.pk])).content.decode()
    assert "Cat 5, Dog 5" in html
    assert "Height 76.4–90.2 cm; Weight 35.4–48.3 kg" in html
    assert "{&quot;" not in html and repr(trained_version.cv_accuracy) not in html


def test_the_date_links_offer_only_the_dates_that_hold_predictions(admin_client, predictions):
    year = timezone.localdate().year
    top = admin_client.get(CHANGELIST).content.decode()
    years = set(re.findall(r"created_at__year=(\d{4})", top))
    assert years == {str(year)}
    month = timezone.localdate().month
    months = admin_client.get(CHANGELIST, {"created_at__year": year}).content.decode()
    assert set(re.findall(r"created_at__month=(\d+)", months)) == {str(month)}
    days = admin_client.get(CHANGELIST, {"created_at__year": year, "created_at__month": month}).content.decode()
    assert set(re.findall(r"created_at__day=(\d+)", days)) == {str(timezone.localdate().day)}


def test_measurements_read_as_on_the_pages(admin_client, trained_version):
    record_prediction(result=model_service.predict({"height": 80.0, "weight": 40.25}))
    html = admin_client.get(CHANGELIST).content.decode()
    assert re.search(r'class="field-height_cm_display[^"]*">80<', html)
    assert re.search(r'class="field-weight_kg_display[^"]*">40.25<', html)
    assert ">80.0<" not in html
