import csv
import io
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from predictor.models import Prediction
from predictor.schema.features import FEATURES
from predictor.serving import model_service

pytestmark = pytest.mark.django_db


def test_populate_history_adds_real_predictions_of_the_active_model(trained_version):
    out = StringIO()
    call_command("populate_history", "--count", "1500", "--days", "3", stdout=out)
    assert "Added 1,500 predictions" in out.getvalue()
    assert Prediction.objects.count() == 1500
    oldest = timezone.now() - timedelta(days=3, minutes=1)
    for prediction in Prediction.objects.all()[:50]:
        assert prediction.created_at >= oldest
        assert prediction.model_version == trained_version
        for feature in FEATURES:
            assert feature.bounds_error(prediction.inputs[feature.name]) is None
        expected = model_service.predict({"height": prediction.inputs["height"], "weight": prediction.inputs["weight"]})
        assert prediction.species == expected.species
        assert prediction.probabilities == pytest.approx(expected.probabilities)
    assert set(Prediction.objects.values_list("species", flat=True)) == {"Cat", "Dog"}


def test_populated_rows_arrive_oldest_first_as_real_traffic_does(trained_version):
    call_command("populate_history", "--count", "1200", "--days", "5", stdout=StringIO())

    times = list(Prediction.objects.order_by("id").values_list("created_at", flat=True))
    assert len(times) == 1200
    assert times == sorted(times)  # ids grow with time, across batches too
    assert times[-1] - times[0] > timedelta(days=4)


def test_populate_history_without_a_model_says_what_to_do():
    with pytest.raises(CommandError, match="train_model"):
        call_command("populate_history", "--count", "10", stdout=StringIO())
    assert Prediction.objects.count() == 0


def read_csv(response) -> list[dict]:
    assert response.streaming
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


def test_admin_exports_the_selected_predictions_as_csv(admin_client, trained_version):
    call_command("populate_history", "--count", "30", stdout=StringIO())
    chosen = list(Prediction.objects.order_by("id").values_list("id", flat=True)[:3])
    response = admin_client.post(
        reverse("admin:predictor_prediction_changelist"),
        {"action": "export_csv", "_selected_action": chosen},
    )
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith('attachment; filename="predictions-')
    rows = read_csv(response)
    assert sorted(int(row["id"]) for row in rows) == chosen
    first = Prediction.objects.get(pk=rows[0]["id"])
    assert float(rows[0]["height_cm"]) == first.inputs["height"]
    assert rows[0]["predicted_species"] == first.species
    assert rows[0]["model_version"] == "1"


def test_admin_export_of_everything_streams_all_rows(admin_client, trained_version):
    call_command("populate_history", "--count", "2500", stdout=StringIO())
    response = admin_client.post(
        reverse("admin:predictor_prediction_changelist"),
        {"action": "export_csv", "select_across": "1", "_selected_action": ["1"], "index": "0"},
    )
    rows = read_csv(response)
    assert len(rows) == 2500
    assert rows[0]["created_at"] >= rows[-1]["created_at"]  # newest first
