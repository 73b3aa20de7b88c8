"""Prediction sets with a stated confidence: calibrated at training (cross-conformal), answered, stored, shown."""

import json
import math
import random

import numpy as np
import pytest
from django.urls import reverse

from predictor.models import ModelVersion, Prediction
from predictor.registry import training
from predictor.serving import model_service
from predictor.tests.tabular import IRIS_FLOWER, bundled_csv, train, write_csv

pytestmark = pytest.mark.django_db


def split_csv(path, tmp_path, *, seed: int, held_out: int) -> tuple:
    """The CSV at ``path`` in two: a training file, and ``held_out`` random rows kept apart (as rows and labels)."""
    header, *rows = path.read_text().splitlines()
    random.Random(seed).shuffle(rows)
    kept, trained = rows[:held_out], rows[held_out:]
    training_file = write_csv(tmp_path / f"part-{seed}.csv", "\n".join([header, *trained]) + "\n")
    features = np.array([[float(value) for value in row.split(",")[:-1]] for row in kept])
    labels = [row.split(",")[-1] for row in kept]
    return training_file, features, labels


def blobs_csv(tmp_path, *, gap: float, rows: int = 400):
    """Two classes, a and b, on one number x: a around 0, b around ``gap``, each with a standard deviation of 1."""
    draw = random.Random(1)
    lines = ["x,group"]
    for index in range(rows):
        group = "ab"[index % 2]
        lines.append(f"{draw.gauss(0 if group == 'a' else gap, 1):.4f},{group}")
    return write_csv(tmp_path / f"blobs-{gap}.csv", "\n".join(lines) + "\n")


def set_for(slug: str, x: float) -> list[str] | None:
    return model_service.predict({"x": x}, model=slug).prediction_set


# Coverage: the promise holds on rows the calibration never saw


def test_iris_sets_hold_the_true_class_at_least_as_often_as_promised_on_held_out_rows(tmp_path, trained_version):
    iris = bundled_csv(tmp_path, "iris")
    covered = answered = 0
    for seed in (1, 2):  # two random splits, 60 held-out rows each
        training_file, features, labels = split_csv(iris, tmp_path, seed=seed, held_out=60)
        version = training.train(model="iris", data_path=training_file, target="kind", force=True).version
        assert (version.confidence_level, version.calibration_rows) == (0.9, 90)
        model_service.clear_cache()
        result = model_service.predict_many(features, model="iris")
        assert result.model.version_id == version.pk
        covered += sum(label in labels_set for label, labels_set in zip(labels, result.prediction_sets, strict=True))
        answered += len(labels)
    # At least 90% within sampling error: three standard errors of a share of 120 rows below it.
    assert covered / answered >= 0.9 - 3 * math.sqrt(0.9 * 0.1 / answered)


def test_the_threshold_is_the_quantile_mapie_takes_where_mapie_answers(tmp_path):
    from mapie.classification import CrossConformalClassifier
    from sklearn import datasets
    from sklearn.model_selection import StratifiedKFold

    features, labels = datasets.load_iris(return_X_y=True)
    splitter = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
    ours = training.calibrate_sets(
        training.build_pipeline("GaussianNB"), features, labels, splitter=splitter, confidence_level=0.9
    )
    theirs = CrossConformalClassifier(training.build_pipeline("GaussianNB"), confidence_level=0.9, cv=splitter)
    theirs.fit_conformalize(features, labels)
    theirs.predict_set(features[:1])
    assert ours.threshold == pytest.approx(float(theirs._mapie_classifier.conformity_score_function_.quantiles_[0]))
    assert ours.rows == 150


def test_with_too_few_rows_for_the_level_every_set_holds_every_class(trained_version):
    # Ten animals at 95%: the 11th smallest of 10 scores does not exist (mapie refuses to answer here).
    version = training.train(confidence=0.95, force=True).version
    assert (version.set_threshold, version.calibration_rows, version.calibration_strength) == (1.0, 10, "trivial")
    model_service.clear_cache()
    assert model_service.predict({"height": 30, "weight": 5}).prediction_set == ["Cat", "Dog"]


# A clear input gets one class, an ambiguous one two, and none is said honestly


def test_a_clearly_separated_input_gets_one_class_and_a_midway_one_both(tmp_path, trained_version):
    # Means two deviations apart overlap on 16% of rows, more than the 10% a 90% set may miss.
    train("--model", "blobs", "--data", str(blobs_csv(tmp_path, gap=2)), "--target", "group")
    assert set_for("blobs", -3) == ["a"]
    assert set_for("blobs", 5) == ["b"]
    assert set_for("blobs", 1) == ["a", "b"]


def test_a_set_can_be_empty_and_the_answer_page_says_so(tmp_path, trained_version, client):
    # Far apart, almost every calibration row is sure of its class: midway, neither clears the threshold.
    train("--model", "apart", "--data", str(blobs_csv(tmp_path, gap=8)), "--target", "group")
    assert set_for("apart", 4) == []
    page = client.post("/m/apart/", {"x": "4"}).content.decode()
    assert "the model&#x27;s prediction set is empty, so treat this answer as a guess" in page
    assert Prediction.objects.get().prediction_set == []


def test_the_answer_pages_say_the_set_with_its_confidence(tmp_path, trained_version, client):
    train("--model", "blobs", "--data", str(blobs_csv(tmp_path, gap=2)), "--target", "group")
    assert "90% sure it is one of: a." in client.post("/m/blobs/", {"x": "-3"}).content.decode()
    assert "a or b: at 90% the model cannot tell these apart." in client.post("/m/blobs/", {"x": "1"}).content.decode()
    # The ten animals give a 90% set of both classes for almost any animal.
    animals = client.post("/", {"height": "90", "weight": "50"}).content.decode()
    assert "Cat or Dog: at 90% the model cannot tell these apart." in animals


def test_the_version_page_shows_the_level_the_rows_and_that_ten_animals_are_too_few(admin_client, trained_version):
    page = admin_client.get(reverse("predictor:model_detail", args=trained_version.url_args)).content.decode()
    assert "Calibrated by cross-conformal prediction on 10 rows." in page
    assert "The guarantee is weak: at 90% it needs at least 10 rows of each class" in page
    assert trained_version.calibration_strength == "weak"


# Stored and answered by the API, single and batch, v1 and v2


def test_api_answers_carry_the_set_and_the_level_single_and_batch(client, key_client, tmp_path, trained_version):
    train("--model", "blobs", "--data", str(blobs_csv(tmp_path, gap=2)), "--target", "group")
    train("--model", "iris", "--data", str(bundled_csv(tmp_path, "iris")), "--target", "kind")

    def post(api_client, url, body):
        return api_client.post(url, json.dumps(body), content_type="application/json").json()

    v1 = post(client, "/api/v1/predict", {"height_cm": 90, "weight_kg": 50})
    assert (v1["prediction_set"], v1["confidence_level"]) == (["Cat", "Dog"], 0.9)
    assert list(v1)[-2:] == ["prediction_set", "confidence_level"]  # additions, after every field v1 had
    v1_batch = post(key_client, "/api/v1/predict/batch", [{"height_cm": 90, "weight_kg": 50}])
    assert v1_batch["results"][0]["prediction_set"] == ["Cat", "Dog"]
    v2 = post(client, "/api/v2/models/iris/predict", IRIS_FLOWER)
    assert (v2["prediction_set"], v2["confidence_level"]) == (["setosa"], 0.9)
    v2_batch = post(key_client, "/api/v2/models/blobs/predict/batch", [{"x": -3}, {"x": 1}])
    assert [item["prediction_set"] for item in v2_batch["results"]] == [["a"], ["a", "b"]]
    assert {item["confidence_level"] for item in v2_batch["results"]} == {0.9}
    stored = {row.inputs.get("x"): row.prediction_set for row in Prediction.objects.filter(model__slug="blobs")}
    assert stored == {-3: ["a"], 1: ["a", "b"]}  # the raw batch insert writes the set too


def test_a_version_trained_before_sets_answers_as_before_with_null_sets(client, key_client, make_version):
    make_version(stored=True, is_active=True, confidence_level=None, set_threshold=None, calibration_rows=None)
    single = client.post("/api/v1/predict", {"height_cm": 90, "weight_kg": 50}, content_type="application/json")
    assert single.status_code == 200
    assert (single.json()["prediction_set"], single.json()["confidence_level"]) == (None, None)
    many = key_client.post(
        "/api/v1/predict/batch", [{"height_cm": 90, "weight_kg": 50}], content_type="application/json"
    )
    assert many.json()["results"][0]["prediction_set"] is None
    assert all(row.prediction_set is None for row in Prediction.objects.all())
    page = client.post("/", {"height": "90", "weight": "50"})
    assert page.status_code == 200 and "cannot tell these apart" not in page.content.decode()


# --confidence


@pytest.mark.parametrize("level", ["1.5", "0", "1", "-0.2", "nan"])
def test_a_confidence_level_outside_zero_to_one_is_refused_naming_it(level, trained_version):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match=r"^--confidence \S+ is not a confidence level: give a number between 0"):
        train("--confidence", level)
    assert ModelVersion.objects.count() == 1  # nothing trained


def test_the_confidence_level_is_set_per_training_and_stored_with_the_version(tmp_path, trained_version):
    output = train(
        "--model", "iris", "--data", str(bundled_csv(tmp_path, "iris")), "--target", "kind", "--confidence", "0.8"
    )
    assert "prediction sets: 80% confidence, cross-conformal on 150 rows" in output
    version = ModelVersion.objects.get(model__slug="iris")
    assert (version.confidence_level, version.calibration_rows, version.calibration_strength) == (0.8, 150, "sound")
    assert 0 <= version.set_threshold < 1
    # A retraining that does not say (the models page's) keeps the model's level.
    retrained = training.train(model="iris", data_path=bundled_csv(tmp_path, "iris"), force=True).version
    assert retrained.confidence_level == 0.8
    retrained.confidence_level = 0.975
    assert retrained.confidence_percent == "97.5%"


def test_a_batch_job_stored_in_chunks_keeps_each_rows_own_set(trained_version, settings):
    from predictor import jobs
    from predictor.tests.test_jobs import queued_batch_job

    settings.JOB_BATCH_CHUNK_ROWS = 1  # one row per chunk: each chunk must carry its own row's set
    job = queued_batch_job(content=b"Height,Weight\n30,5\n90,45\n60,20\n")
    assert jobs.run(str(job.pk)) == "succeeded"
    stored = list(Prediction.objects.order_by("id"))
    assert len(stored) == 3
    answers = [model_service.predict({"height": h, "weight": w}) for h, w in [(30, 5), (90, 45), (60, 20)]]
    assert [row.prediction_set for row in stored] == [answer.prediction_set for answer in answers]
