"""Answers say how sure they are without rounding to certainty, and say when an animal is unlike the training data."""

import re

import numpy as np
import pytest
from django.urls import reverse

from predictor.history import writer
from predictor.models import Prediction
from predictor.schema.wording import probability_text
from predictor.serving import model_service
from predictor.web import answers

pytestmark = pytest.mark.django_db

HOUSE_CAT = {"height": "30", "weight": "4.5"}  # the shipped cats are 76.4–82.4 cm and 35.4–45.7 kg
LIKE_THE_DATA = {"height": "80", "weight": "40"}


@pytest.mark.parametrize(
    ("probability", "shown"),
    [(0.99998, ">99.9%"), (0.9995, ">99.9%"), (0.99949, "99.9%"), (0.5714, "57.1%"), (0.0004, "<0.1%"), (0.0, "<0.1%")],
)
def test_probabilities_never_round_to_certainty(probability, shown):
    assert probability_text(probability) == shown


def test_a_house_cat_gets_a_warning_naming_each_measurement_and_the_range_it_knows(client, trained_version):
    html = client.post("/", HOUSE_CAT).content.decode()
    assert "unlike any the model was trained on" in html
    assert "Height 30 cm is outside the 76.4–90.2 cm" in html
    assert "Weight 4.5 kg is outside the 35.4–48.3 kg" in html
    assert "100.0%" not in html and "0.0%" not in html
    assert Prediction.objects.get().outside_training_range is True


def test_the_permanent_link_shows_the_same_warning(client, trained_version):
    client.post("/", HOUSE_CAT)
    prediction = Prediction.objects.get()
    assert "Height 30 cm is outside" in client.get(answers.permalink(prediction)).content.decode()


def test_an_animal_like_the_training_data_gets_no_warning(client, trained_version):
    html = client.post("/", LIKE_THE_DATA).content.decode()
    assert "unlike any the model was trained on" not in html
    assert Prediction.objects.get().outside_training_range is False


def test_only_the_measurement_outside_is_named(client, trained_version):
    html = client.post("/", {"height": "80", "weight": "60"}).content.decode()
    assert "Weight 60 kg is outside the 35.4–48.3 kg" in html
    assert "Height 80 cm is outside" not in html


def test_batch_rows_record_the_flag_too(trained_version):
    features = np.array([[30.0, 4.5], [80.0, 40.0]])
    batch_id = writer.record_predictions(result=model_service.predict_many(features), source=Prediction.Source.BATCH)
    flags = Prediction.objects.filter(batch_id=batch_id).order_by("id").values_list("outside_training_range", flat=True)
    assert list(flags) == [True, False]


def test_staff_filter_the_history_and_the_export_on_the_flag(admin_client, trained_version):
    admin_client.post("/", HOUSE_CAT)
    admin_client.post("/", LIKE_THE_DATA)
    outside = Prediction.objects.get(outside_training_range=True)
    page = admin_client.get(reverse("predictor:history"), {"outside_range": "yes"})
    assert page.status_code == 200 and page.context["page"].rows == [outside]
    assert "outside training range" in page.content.decode()
    inside = admin_client.get(reverse("predictor:history"), {"outside_range": "no"}).context["page"].rows
    assert outside not in inside and len(inside) == 1
    export = b"".join(admin_client.get(reverse("predictor:history_csv"), {"outside_range": "yes"}).streaming_content)
    lines = export.decode().splitlines()
    assert lines[0].endswith(",outside_training_range") and len(lines) == 2 and lines[1].endswith(",True")
    changelist = admin_client.get(
        reverse("admin:predictor_prediction_changelist"), {"outside_training_range__exact": "1"}
    )
    assert list(changelist.context["cl"].result_list) == [outside]


def test_the_footer_says_what_the_model_was_trained_on(client, trained_version):
    html = client.get("/").content.decode()
    footer = re.search(r"<footer.*?</footer>", html, re.S).group(0)
    assert "trained on 10 rows: Cat 5, Dog 5." in footer  # rows, which may be labelled predictions too
    assert "measured animals" not in footer
    assert "v1" in footer


def test_the_api_returns_the_flag_and_the_measurements_outside(client, key_client, trained_version):
    outside = client.post("/api/v1/predict", {"height_cm": 30, "weight_kg": 40}, content_type="application/json").json()
    assert outside["outside_training_range"] is True and outside["outside_features"] == ["height_cm"]
    inside = client.post("/api/v1/predict", {"height_cm": 80, "weight_kg": 40}, content_type="application/json").json()
    assert inside["outside_training_range"] is False and inside["outside_features"] == []
    batch = key_client.post(
        "/api/v1/predict/batch",
        [{"height_cm": 30, "weight_kg": 4.5}, {"height_cm": 80, "weight_kg": 40}],
        content_type="application/json",
    ).json()
    assert [item["outside_features"] for item in batch["results"]] == [["height_cm", "weight_kg"], []]
