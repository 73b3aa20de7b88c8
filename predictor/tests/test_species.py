"""Species are data: a model trained on a CSV with a new species brings it to every page and action."""

import re
from io import StringIO

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse

from predictor.history import feedback
from predictor.models import Job, ModelVersion, Prediction
from predictor.registry import training, versions

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


CAT_DOG_CSV = "\n".join(line for line in HORSE_CSV.splitlines() if not line.endswith("Horse")) + "\n"


@pytest.fixture
def horse_rolled_back(tmp_path, settings):
    """v1 knows cats and dogs, v2 also horses (and made a horse prediction), then v1 is active again."""
    settings.ML_MODEL_CHECK_SECONDS = 0
    cats_and_dogs = tmp_path / "cats-and-dogs.csv"
    cats_and_dogs.write_text(CAT_DOG_CSV)
    (tmp_path / "horses.csv").write_text(HORSE_CSV)
    first = training.train(data_path=cats_and_dogs, force=True).version
    second = training.train(data_path=tmp_path / "horses.csv", force=True, allow_new_classes=True).version
    return first, second


def test_rolled_back_classes_are_not_offered_as_labels(admin_client, admin_user, horse_rolled_back):
    first, second = horse_rolled_back
    admin_client.post("/", HORSE)
    horse = Prediction.objects.get()
    assert horse.model_version == second
    versions.activate_version(first.version)
    admin_client.post("/", {"height": "80", "weight": "40"})
    cat_or_dog = Prediction.objects.get(model_version=first)

    history = admin_client.get(reverse("predictor:history")).content.decode()
    buttons = re.findall(r'action="/predictions/(\d+)/label/".*?</form>', history, re.S)
    assert len(buttons) == 2
    rows = dict(re.findall(r'action="/predictions/(\d+)/label/"(.*?)</form>', history, re.S))
    assert 'value="Horse"' not in rows[str(cat_or_dog.pk)]  # v1 never knew horses
    assert 'value="Horse"' in rows[str(horse.pk)]  # v2's own prediction keeps its class
    # The filter offers the union, the rolled-back class marked as such.
    assert '<option value="Horse">Horse (rolled back)</option>' in history

    response = admin_client.post(reverse("predictor:label", args=[cat_or_dog.pk]), {"species": "Horse"})
    assert response.status_code == 400
    assert "choose Cat or Dog" in response.content.decode()
    with pytest.raises(feedback.FeedbackError, match="Horse is not a species v1 knows; choose Cat or Dog."):
        feedback.label_predictions(prediction_ids=Prediction.objects.all(), species="Horse", user=admin_user)
    assert not Prediction.objects.filter(actual_species__isnull=False).exists()

    admin_form = admin_client.get(reverse("admin:predictor_prediction_change", args=[cat_or_dog.pk])).content.decode()
    assert 'value="Horse"' not in admin_form
    one_version = admin_client.get(reverse("predictor:history"), {"version": "1", "species": "Horse"})
    assert one_version.status_code == 400
    assert "v1 does not predict Horse; it predicts Cat or Dog." in one_version.content.decode()


def test_a_new_class_needs_new_class_on_the_command_line(tmp_path, trained_version):
    path = tmp_path / "horses.csv"
    path.write_text(HORSE_CSV)
    with pytest.raises(
        CommandError, match=r"horses\.csv: the data brings species active v1 does not know: Horse; pass --new-class"
    ):
        call_command("train_model", "--data", str(path), stdout=StringIO())
    assert ModelVersion.objects.count() == 1

    out = StringIO()
    call_command("train_model", "--data", str(path), "--new-class", stdout=out)
    assert "new species: Horse (not known to v1; --new-class)" in out.getvalue()
    assert ModelVersion.objects.get(version=2).classes == ["Cat", "Dog", "Horse"]


def test_a_new_class_needs_the_confirmation_on_the_retrain_form(operator_client, trained_version):
    def retrain(**fields):
        upload = SimpleUploadedFile("horses.csv", HORSE_CSV.encode(), content_type="text/csv")
        response = operator_client.post(
            reverse("predictor:retrain"), {"data": "upload", "file": upload, "algorithm": "GaussianNB", **fields}
        )
        return Job.objects.order_by("-created_at").first(), operator_client.get(response["Location"]).content.decode()

    assert "Train on species the active version does not know" in operator_client.get("/models/").content.decode()
    job, page = retrain()
    assert job.status == "failed"
    assert (
        "The training data brings species active v1 does not know: Horse. Tick “Train on species the active "
        "version does not know” and start again to train on them." in page
    )
    assert ModelVersion.objects.count() == 1

    job, page = retrain(new_class="on")
    assert job.status == "succeeded", job.error
    assert "It brings species active v1 did not know: Horse." in page
