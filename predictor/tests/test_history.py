import dataclasses

import numpy as np
import pytest
from django.utils import timezone

from predictor.history import _sql, writer
from predictor.models import Prediction
from predictor.schema.inputs import InputsRefused
from predictor.serving import model_service

pytestmark = pytest.mark.django_db

ROWS = np.array([[77.0, 36.0], [90.0, 48.0], [81.5, 42.25]])


def test_predict_many_agrees_with_predict_row_by_row(trained_version):
    batch = model_service.predict_many(ROWS)
    assert len(batch) == 3
    for (height, weight), species, probability, probabilities in zip(
        ROWS, batch.species, batch.probability, batch.probabilities, strict=True
    ):
        single = model_service.predict({"height": height, "weight": weight})
        assert species == single.species
        assert probability == pytest.approx(single.probability)
        assert dict(zip(batch.model.classes, probabilities, strict=True)) == pytest.approx(single.probabilities)


def test_record_predictions_stores_rows_like_record_prediction(trained_version):
    batch = model_service.predict_many(ROWS)
    batch_id = writer.record_predictions(result=batch, source=Prediction.Source.BATCH)
    single = model_service.predict({"height": 77.0, "weight": 36.0})
    one = writer.record_prediction(result=single)

    stored = list(Prediction.objects.filter(batch_id=batch_id).order_by("id"))
    assert [[row.inputs["height"], row.inputs["weight"]] for row in stored] == ROWS.tolist()
    assert {row.source for row in stored} == {"batch"}
    assert {row.model_version_id for row in stored} == {trained_version.pk}
    first = stored[0]
    first.refresh_from_db()
    assert first.species == one.species
    assert first.probability == pytest.approx(one.probability)
    assert first.probabilities == pytest.approx(one.probabilities)
    assert str(first) == str(one)
    assert first.created_at.tzinfo is not None


def test_record_predictions_stores_large_batches_in_chunks(trained_version, monkeypatch):
    monkeypatch.setattr(_sql, "CHUNK_ROWS", 2)
    features = np.tile(ROWS, (5, 1))
    batch_id = writer.record_predictions(result=model_service.predict_many(features), source=Prediction.Source.API)
    assert Prediction.objects.filter(batch_id=batch_id).count() == 15


def test_record_predictions_is_all_or_nothing(trained_version):
    features = np.array([[77.0, 36.0], [77.0, 9999.0]])  # the weight's bound refuses row 2
    with pytest.raises(InputsRefused, match="Row 2: Weight must be at most 500 kg"):
        writer.record_predictions(result=model_service.predict_many(features), source=Prediction.Source.BATCH)
    assert not Prediction.objects.exists()


def test_record_predictions_formats_the_json_itself_on_other_databases(trained_version, monkeypatch):
    monkeypatch.setattr(_sql, "JSON_OBJECT_SQL", {})
    batch = model_service.predict_many(ROWS)
    batch_id = writer.record_predictions(result=batch, source=Prediction.Source.BATCH)
    stored = Prediction.objects.filter(batch_id=batch_id).order_by("id")
    for row, probabilities in zip(stored, batch.probabilities, strict=True):
        assert row.probabilities == dict(zip(batch.model.classes, probabilities.tolist(), strict=True))


def test_record_prediction_returns_the_row_exactly_as_stored(trained_version):
    answer = model_service.predict({"height": 81.25, "weight": 40.5})
    returned = writer.record_prediction(result=answer, submission_key="k" * 22)
    stored = Prediction.objects.get()
    assert returned.pk == stored.pk
    for field in ("created_at", "inputs", "species", "probability", "probabilities", "source"):
        assert getattr(returned, field) == getattr(stored, field), field
    assert returned.model_version == stored.model_version == trained_version
    assert stored.submission_key == "k" * 22 and stored.batch_id is None and stored.actual_species is None


@pytest.mark.parametrize(("height", "weight"), [(float("nan"), 40.0), (80.0, float("inf")), (0.0, 40.0), (301.0, 40.0)])
def test_record_prediction_refuses_measurements_the_form_would_refuse(trained_version, height, weight):
    # Code that skips the form still cannot store them: the writer holds every row to the schema.
    answer = model_service.predict({"height": 80.0, "weight": 40.0})
    altered = dataclasses.replace(answer, inputs={"height": height, "weight": weight})
    with pytest.raises(InputsRefused, match="Height|Weight"):
        writer.record_prediction(result=altered)
    assert Prediction.objects.count() == 0


def test_the_fast_single_row_insert_stores_what_the_orm_would(trained_version):
    answer = model_service.predict({"height": 81.25, "weight": 40.5})
    fields = {
        "created_at": timezone.now(),
        "model": trained_version.model,
        "inputs": {"height": 81.25, "weight": 40.5},
        "species": answer.species,
        "probability": answer.probability,
        "probabilities": answer.probabilities,
        "model_version": trained_version,
        "source": "form",
        "outside_training_range": False,
        "submission_key": "f" * 22,
    }
    fast = _sql.insert_prediction(fields)
    orm = Prediction.objects.create(**{**fields, "submission_key": "o" * 22})
    fast_stored, orm_stored = Prediction.objects.get(pk=fast.pk), Prediction.objects.get(pk=orm.pk)
    for name in [*fields, "batch_id", "actual_species", "labelled_by_id", "labelled_at"]:
        if name != "submission_key":
            assert getattr(fast_stored, name) == getattr(orm_stored, name), name
            assert getattr(fast, name) == getattr(fast_stored, name), name
    assert not fast._state.adding  # a saved instance, as a query would return it


def test_a_repeated_submission_key_inserts_nothing(trained_version):
    answer = model_service.predict({"height": 81.25, "weight": 40.5})
    first = writer.record_prediction(result=answer, submission_key="k" * 22)
    again = writer.record_prediction(result=answer, submission_key="k" * 22)
    assert again.pk == first.pk
    assert Prediction.objects.count() == 1


def test_record_prediction_refuses_missing_and_unknown_inputs(trained_version):
    answer = model_service.predict({"height": 80.0, "weight": 40.0})
    altered = dataclasses.replace(answer, inputs={"height": 80.0, "colour": "red"})
    with pytest.raises(InputsRefused, match="Missing inputs: weight. Unknown inputs: colour."):
        writer.record_prediction(result=altered)
    assert Prediction.objects.count() == 0
