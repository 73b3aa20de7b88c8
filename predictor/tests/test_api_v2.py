"""API v2 beside the animals model: a batch with any model, and one model's stored predictions."""

import json
from dataclasses import replace
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as examples
from hypothesis import strategies as st

from predictor.history import feedback
from predictor.models import Prediction
from predictor.serving import model_service
from predictor.tests.tabular import IRIS_FLOWER

pytestmark = pytest.mark.django_db

APPLE = {"colour": "red", "weight_g": 120, "diameter_cm": 7}
BANANA = {"colour": "yellow", "weight_g": 130, "diameter_cm": 6}
VIRGINICA = {"sepal_length_cm": 7.7, "sepal_width_cm": 3.0, "petal_length_cm": 6.1, "petal_width_cm": 2.3}
KNOWN = "Known models: animals, fruit, iris, wine."


def post_json(client, url, body):
    content = body if isinstance(body, str) else json.dumps(body)
    return client.post(url, content, content_type="application/json")


def batch(client, model, items):
    return post_json(client, f"/api/v2/models/{model}/predict/batch", items)


# POST /api/v2/models/{slug}/predict/batch


def test_a_batch_answers_each_iris_in_order_and_stores_every_row_with_its_inputs(key_client, three_models):
    response = batch(key_client, "iris", [IRIS_FLOWER, VIRGINICA, IRIS_FLOWER])
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["version"] == 1
    assert [result["prediction"] for result in body["results"]] == ["setosa", "virginica", "setosa"]
    stored = Prediction.objects.order_by("id")
    assert [row.pk for row in stored] == [result["id"] for result in body["results"]]
    assert all(str(row.batch_id) == body["batch_id"] for row in stored)
    assert [row.inputs for row in stored] == [IRIS_FLOWER, VIRGINICA, IRIS_FLOWER]
    assert {(row.model.slug, row.source) for row in stored} == {("iris", "api")}
    first = body["results"][0]
    assert set(first) == {
        "id",
        "model",
        "prediction",
        "probability",
        "probabilities",
        "version",
        "inputs",
        "outside_training_range",
        "prediction_set",  # an addition (docs/api-changelog.md)
        "confidence_level",
    }
    assert (first["model"], first["version"], first["inputs"]) == ("iris", 1, IRIS_FLOWER)
    assert set(first["probabilities"]) == {"setosa", "versicolor", "virginica"}
    assert first["probability"] == max(first["probabilities"].values())


def test_a_batch_with_a_category_answers_as_single_predictions_do(key_client, three_models):
    items = [APPLE, BANANA]
    results = batch(key_client, "fruit", items).json()["results"]
    singles = [post_json(key_client, "/api/v2/models/fruit/predict", item).json() for item in items]
    assert [r["prediction"] for r in results] == [s["prediction"] for s in singles] == ["apple", "banana"]
    for result, single in zip(results, singles, strict=True):
        assert result["probabilities"] == pytest.approx(single["probabilities"])
        assert result["inputs"] == single["inputs"]
    assert [row.inputs for row in Prediction.objects.filter(batch_id__isnull=False).order_by("id")] == items


@pytest.mark.parametrize(
    ("model", "bad", "field", "message"),
    [
        ("fruit", {"colour": "red", "weight_g": 100}, "diameter_cm", "Enter the Diameter (cm)."),
        ("fruit", {**APPLE, "weight_g": "heavy"}, "weight_g", "Weight (g) must be a number"),
        ("fruit", {**APPLE, "colour": "blue"}, "colour", "'blue' is not one of them"),
        ("fruit", {**APPLE, "taste": "sweet"}, "taste", "There is no input 'taste'"),
        ("fruit", {**APPLE, "weight_g": 1e400}, "weight_g", "must be a finite number"),
        ("animals", {"height": 301, "weight": 12}, "height", "Height must be at most 300 cm."),
    ],
    ids=["missing input", "word for a number", "unseen category", "unknown input", "not finite", "out of bounds"],
)
def test_one_bad_item_rejects_the_batch_naming_its_index_and_input(
    key_client, three_models, model, bad, field, message
):
    good = {"fruit": APPLE, "animals": {"height": 40, "weight": 12}}[model]
    response = batch(key_client, model, [good, good, bad])
    assert response.status_code == 422
    body = response.json()
    assert body["detail"] == "The request is not valid: see errors."
    [error] = body["errors"]
    assert (error["index"], error["field"], error["loc"]) == (2, field, ["body", 2, field])
    assert message in error["message"]
    assert not Prediction.objects.exists()


def test_every_bad_item_is_named(key_client, three_models):
    response = batch(key_client, "fruit", [{**APPLE, "colour": "blue"}, APPLE, {"colour": "red"}])
    errors = [(error["index"], error["field"]) for error in response.json()["errors"]]
    assert errors == [(0, "colour"), (2, "weight_g"), (2, "diameter_cm")]


LIST_EXPECTED = (
    "Send the batch as a JSON list of objects, one per row, each with one key per input of the model "
    "(GET /api/v2/models lists them)."
)
OBJECT_EXPECTED = (
    "Send the inputs as a JSON object with one key per input of the model (GET /api/v2/models lists them)."
)


@pytest.mark.parametrize(
    ("body", "index", "message"),
    [
        ([], None, "Send at least one item in the batch."),
        (APPLE, None, LIST_EXPECTED),
        ("", None, LIST_EXPECTED),
        ([APPLE, 2], 1, OBJECT_EXPECTED),
    ],
    ids=["empty", "an object", "no body", "not objects"],
)
def test_a_batch_that_is_not_a_list_of_objects_is_refused_without_another_models_example(
    key_client, three_models, body, index, message
):
    response = batch(key_client, "fruit", body)
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert (error["index"], error["message"]) == (index, message)
    assert not Prediction.objects.exists()


@pytest.mark.parametrize("body", ["", [APPLE]], ids=["no body", "a list"])
def test_a_single_prediction_that_is_not_an_object_is_refused_in_a_sentence(client, three_models, body):
    response = post_json(client, "/api/v2/models/fruit/predict", body)
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert (error["loc"], error["field"], error["message"]) == (["body"], None, OBJECT_EXPECTED)


def test_a_batch_needs_an_api_key_or_a_staff_session(client, three_models):
    response = batch(client, "fruit", [APPLE])
    assert response.status_code == 401
    assert not Prediction.objects.exists()


def test_a_batch_spends_the_clients_rows_as_v1s_does(key_client, three_models, settings):
    settings.RATE_LIMIT_BATCH_ROWS_PER_HOUR = 5
    assert batch(key_client, "fruit", [APPLE] * 3).status_code == 200
    refused = batch(key_client, "fruit", [APPLE] * 3)
    assert refused.status_code == 429
    assert "at most 5 an hour, 2 left now" in refused.json()["detail"]
    assert Prediction.objects.count() == 3
    assert batch(key_client, "iris", [IRIS_FLOWER] * 2).status_code == 200


def test_a_version_activated_while_a_batch_is_answered_stores_nothing_and_asks_for_a_retry(
    key_client, three_models, monkeypatch
):
    looked_up = model_service.active_model("fruit")
    older = replace(looked_up, record=SimpleNamespace(pk=-1, version=0, model=looked_up.record.model))
    monkeypatch.setattr(model_service, "active_model", lambda model: older)
    response = batch(key_client, "fruit", [APPLE])
    assert response.status_code == 503
    assert response.json()["detail"] == (
        "No model is ready: a new version became active while answering; send the batch again."
    )
    assert not Prediction.objects.exists()


values = (
    st.none()
    | st.booleans()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.text(max_size=12)
    | st.sampled_from(["red", " yellow ", "blue", "12", "1e999", "１２"])
)
fruit_rows = st.fixed_dictionaries(
    {},
    optional={"colour": values, "weight_g": values | st.floats(0, 300), "diameter_cm": values, "taste": values},
)


@examples(
    max_examples=60,
    deadline=None,
    database=None,  # no .hypothesis/ folder in the work tree
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(items=st.lists(fruit_rows | st.just(APPLE) | values, max_size=4))
def test_posting_any_batch_never_causes_a_server_error(key_client, three_models, settings, items):
    settings.RATE_LIMITS_ENABLED = False  # more requests than a client may send in a minute
    before = Prediction.objects.count()
    response = batch(key_client, "fruit", items)
    assert response.status_code in {200, 422}, response.content[:300]
    if response.status_code == 200:
        assert len(response.json()["results"]) == len(items) == Prediction.objects.count() - before
    else:
        assert Prediction.objects.count() == before


# Unknown models


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        ("post", "/api/v2/models/plums/predict", APPLE),
        ("post", "/api/v2/models/plums/predict/batch", [APPLE]),
        ("get", "/api/v2/models/plums/predictions", None),
    ],
    ids=["predict", "batch", "predictions"],
)
def test_an_unknown_model_is_404_naming_the_known_ones(key_client, three_models, method, url, body):
    response = post_json(key_client, url, body) if method == "post" else key_client.get(url)
    assert response.status_code == 404
    assert response.json()["detail"] == f"There is no model plums. {KNOWN}"
    assert not Prediction.objects.exists()


# GET /api/v2/models/{slug}/predictions


def test_predictions_list_only_the_models_own_rows_newest_first(key_client, admin_client, three_models):
    batch(key_client, "fruit", [APPLE, BANANA])
    batch(key_client, "iris", [IRIS_FLOWER])
    post_json(key_client, "/api/v1/predict", {"height_cm": 77, "weight_kg": 36})
    body = admin_client.get("/api/v2/models/fruit/predictions").json()
    assert (body["count"], body["count_is_exact"], body["page"], body["page_size"]) == (2, True, 1, 50)
    assert [item["inputs"] for item in body["items"]] == [BANANA, APPLE]
    item = body["items"][0]
    assert set(item) == {
        "id",
        "model",
        "prediction",
        "probability",
        "probabilities",
        "version",
        "inputs",
        "outside_training_range",
        "prediction_set",  # an addition (docs/api-changelog.md)
        "confidence_level",
        "source",
        "batch_id",
        "created_at",
        "actual",
    }
    assert (item["model"], item["prediction"], item["version"], item["source"]) == ("fruit", "banana", 1, "api")
    assert item["actual"] is None
    assert not any("species" in key for key in item)
    iris = admin_client.get("/api/v2/models/iris/predictions").json()
    assert [item["inputs"] for item in iris["items"]] == [IRIS_FLOWER]
    animals = admin_client.get("/api/v2/models/animals/predictions").json()
    assert [item["inputs"] for item in animals["items"]] == [{"height": 77, "weight": 36}]


def test_predictions_show_the_actual_class_once_labelled(key_client, admin_client, admin_user, three_models):
    [result] = batch(key_client, "fruit", [APPLE]).json()["results"]
    feedback.label_predictions(prediction_ids=[result["id"]], species="melon", user=admin_user)
    [item] = admin_client.get("/api/v2/models/fruit/predictions").json()["items"]
    assert (item["prediction"], item["actual"]) == ("apple", "melon")


def test_predictions_filter_by_predicted_class(key_client, admin_client, three_models):
    batch(key_client, "fruit", [APPLE, BANANA, APPLE])
    apples = admin_client.get("/api/v2/models/fruit/predictions", {"prediction": "apple"}).json()
    assert apples["count"] == 2
    assert {item["prediction"] for item in apples["items"]} == {"apple"}
    melons = admin_client.get("/api/v2/models/fruit/predictions", {"prediction": "melon"})
    assert (melons.status_code, melons.json()["count"]) == (200, 0)  # a class it knows, not yet predicted


def test_predictions_refuse_a_class_the_model_does_not_have_with_400_naming_it(admin_client, three_models):
    response = admin_client.get("/api/v2/models/fruit/predictions", {"prediction": "setosa"})
    assert response.status_code == 400
    message = "The model fruit predicts no class “setosa”; its classes are apple, banana, melon."
    assert response.json()["detail"] == message
    [error] = response.json()["errors"]
    assert (error["field"], error["loc"], error["type"]) == ("prediction", ["query", "prediction"], "unknown_value")


def test_predictions_filter_by_version_and_refuse_one_the_model_lacks(key_client, admin_client, three_models):
    batch(key_client, "fruit", [APPLE])
    assert admin_client.get("/api/v2/models/fruit/predictions", {"version": 1}).json()["count"] == 1
    response = admin_client.get("/api/v2/models/fruit/predictions", {"version": 2})
    assert response.status_code == 400
    assert response.json()["detail"] == "The model fruit has no version 2."


def test_predictions_filter_by_time_and_paginate(key_client, admin_client, three_models):
    batch(key_client, "fruit", [APPLE] * 5)
    url = "/api/v2/models/fruit/predictions"
    first = admin_client.get(url, {"page_size": 2}).json()
    third = admin_client.get(url, {"page_size": 2, "page": 3}).json()
    assert (first["count"], len(first["items"]), len(third["items"])) == (5, 2, 1)
    newest = first["items"][0]["created_at"]
    assert admin_client.get(url, {"created_after": newest}).json()["count"] == 5  # one batch, one time
    assert admin_client.get(url, {"created_before": newest}).json()["count"] == 0


def test_predictions_need_an_api_key_or_a_staff_session(client, three_models):
    assert client.get("/api/v2/models/fruit/predictions").status_code == 401


# API v1 beside them


def test_v1_answers_as_before_beside_the_other_models(key_client, admin_client, three_models):
    batch(key_client, "fruit", [APPLE])
    v1_batch = post_json(key_client, "/api/v1/predict/batch", [{"height_cm": 77, "weight_kg": 36}]).json()
    assert set(v1_batch) == {"batch_id", "model_version", "results"}
    listed = admin_client.get("/api/v1/predictions").json()
    assert listed["count"] == 1  # the animals model's row only
    [item] = listed["items"]
    assert set(item) == {
        "id",
        "height_cm",
        "weight_kg",
        "species",
        "probability",
        "probabilities",
        "model_version",
        "created_at",
        "outside_training_range",
        "prediction_set",  # an addition (docs/api-changelog.md)
        "confidence_level",
        "outside_features",
        "source",
        "batch_id",
    }
    assert (item["height_cm"], item["species"]) == (77, "Cat")
    assert admin_client.get("/api/v1/predictions", {"species": "apple"}).status_code == 400


# The OpenAPI document, wrong methods and trailing slashes


def test_the_schema_describes_the_new_routes(client, db):
    paths = client.get("/api/openapi.json").json()["paths"]
    batch_post = paths["/api/v2/models/{slug}/predict/batch"]["post"]
    body = batch_post["requestBody"]["content"]["application/json"]["schema"]
    assert (body["type"], body["items"]["type"], body["minItems"]) == ("array", "object", 1)
    assert {"200", "401", "403", "404", "422", "429"} <= set(batch_post["responses"])
    assert batch_post["security"]
    listing = paths["/api/v2/models/{slug}/predictions"]["get"]
    parameters = {parameter["name"] for parameter in listing["parameters"]}
    assert {"slug", "prediction", "version", "created_after", "created_before", "page", "page_size"} == parameters
    assert {"200", "400", "401", "404"} <= set(listing["responses"])
    for operation in (batch_post, listing, paths["/api/v2/models/{slug}/predict"]["post"]):
        [slug] = [parameter for parameter in operation["parameters"] if parameter["name"] == "slug"]
        assert slug["in"] == "path" and "GET /api/v2/models" in slug["description"]


@pytest.mark.parametrize(
    ("method", "url", "allow"),
    [
        ("get", "/api/v2/models/fruit/predict/batch", "POST"),
        ("post", "/api/v2/models/fruit/predictions", "GET"),
    ],
)
def test_a_wrong_method_answers_405_in_json(client, db, method, url, allow):
    response = getattr(client, method)(url)
    assert response.status_code == 405
    assert response.json()["detail"] == f"{method.upper()} is not allowed here; use {allow}."
    assert response["Allow"] == allow


@pytest.mark.parametrize("url", ["/api/v2/models/fruit/predict/batch", "/api/v2/models/fruit/predictions"])
def test_a_trailing_slash_names_the_right_path(client, db, url):
    response = client.get(f"{url}/")
    assert response.status_code == 404
    assert response.json()["detail"] == f"There is nothing at {url}/; did you mean {url}?"
