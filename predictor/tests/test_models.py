import pytest
from django.db import IntegrityError, transaction

from predictor.models import ModelVersion, Prediction

pytestmark = pytest.mark.django_db


def make_prediction(version: ModelVersion, **overrides) -> Prediction:
    fields = {
        "model": version.model,
        "inputs": {"height": 90, "weight": 50},
        "species": "Dog",
        "probability": 0.9,
        "probabilities": {"Cat": 0.1, "Dog": 0.9},
        "model_version": version,
    }
    return Prediction.objects.create(**{**fields, **overrides})


def test_a_version_with_predictions_cannot_be_deleted(trained_version):
    make_prediction(trained_version)
    with pytest.raises(Exception, match="protected"), transaction.atomic():
        trained_version.delete()
    assert ModelVersion.objects.filter(pk=trained_version.pk).exists()


def test_only_one_version_can_be_active(trained_version):
    other = ModelVersion.objects.get(pk=trained_version.pk)
    other.pk = None
    other.version = 2
    other.artifact_name = "other.joblib"
    with pytest.raises(IntegrityError), transaction.atomic():
        other.save()


def test_prediction_reads_well(trained_version):
    prediction = make_prediction(trained_version)
    assert str(prediction) == "Dog (90.0%) for 90 cm, 50 kg"
    assert prediction.sorted_probabilities == [("Dog", "90.0%", "90.0000%"), ("Cat", "10.0%", "10.0000%")]
    assert str(trained_version) == "v1"
