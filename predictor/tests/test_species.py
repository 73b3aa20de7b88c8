"""Species are data: a model trained on a CSV with a new species brings it to every page and action."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse

from predictor.history import feedback
from predictor.models import ModelVersion, Prediction
from predictor.registry import training

pytestmark = pytest.mark.django_db

HORSE_CSV = """Height,Weight,Species
88.9,48.3,Dog
90.2,47.4,Dog
82.7,44.8,Dog
81.4,48.2,Dog
83.5,39.9,Dog
76.4,35.4,Cat
82.3,40.4,Cat
81.1,39.9,Cat
79.9,43.2,Cat
82.4,45.7,Cat
160.5,480.0,Horse
158.0,455.5,Horse
165.2,490.1,Horse
162.3,470.0,Horse
159.9,462.4,Horse
"""
HORSE = {"height": "161", "weight": "470"}


@pytest.fixture
def horse_model(tmp_path, settings):
    settings.ML_MODEL_CHECK_SECONDS = 0
    path = tmp_path / "horses.csv"
    path.write_text(HORSE_CSV)
    return training.train(data_path=path, force=True).version


def test_the_species_are_the_classes_the_versions_know(horse_model):
    assert ModelVersion.objects.known_species() == ["Cat", "Dog", "Horse"]


def test_a_horse_model_answers_horse_on_a_page_that_asks_about_horses(client, horse_model):
    page = client.get("/").content.decode()
    assert "Cat, Dog or Horse?" in page
    assert "Cat or dog?" not in page
    response = client.post("/", HORSE)
    assert response.status_code == 200
    assert Prediction.objects.get().species == "Horse"
    assert '<span class="species">Horse</span>' in response.content.decode()


def test_staff_can_label_filter_and_retrain_with_a_horse(admin_client, admin_user, horse_model, tmp_path):
    admin_client.post("/", HORSE)
    admin_client.post("/", {"height": "80", "weight": "40"})
    horse = Prediction.objects.get(species="Horse")

    history = admin_client.get(reverse("predictor:history")).content.decode()
    assert 'value="Horse"' in history  # a label button and a filter choice
    response = admin_client.post(reverse("predictor:label", args=[horse.pk]), {"species": "Horse"})
    assert response.status_code == 302
    horse.refresh_from_db()
    assert horse.actual_species == "Horse" and horse.labelled_by == admin_user

    filtered = admin_client.get(reverse("predictor:history"), {"species": "Horse"})
    assert filtered.status_code == 200
    assert filtered.context["page"].rows == [horse]
    labelled = admin_client.get(reverse("admin:predictor_prediction_changelist"), {"actual_species__exact": "Horse"})
    assert list(labelled.context["cl"].result_list) == [horse]

    call_command("train_model", "--data", str(tmp_path / "horses.csv"), "--include-feedback", stdout=StringIO())
    retrained = ModelVersion.objects.order_by("-version").first()
    assert retrained.rows_from_feedback == 1
    assert retrained.class_counts["Horse"] == 6


def test_a_species_no_version_knows_cannot_be_recorded(admin_client, admin_user, trained_version):
    admin_client.post("/", {"height": "80", "weight": "40"})
    prediction = Prediction.objects.get()
    response = admin_client.post(reverse("predictor:label", args=[prediction.pk]), {"species": "Horse"})
    assert response.status_code == 400
    assert "Cat or Dog" in response.content.decode()
    with pytest.raises(feedback.FeedbackError):
        feedback.label_predictions(prediction_ids=[prediction.pk], species="Horse", user=admin_user)
    admin_page = admin_client.post(
        reverse("admin:predictor_prediction_change", args=[prediction.pk]), {"actual_species": "Horse"}
    )
    assert admin_page.status_code == 200  # the form again, with the error
    prediction.refresh_from_db()
    assert prediction.actual_species is None
