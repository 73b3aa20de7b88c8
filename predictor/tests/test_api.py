import json
from contextlib import contextmanager
from datetime import timedelta

import pytest
from django.contrib.staticfiles import finders
from django.utils import timezone
from openapi_spec_validator import validate

from predictor.api.schemas import MAX_BATCH_ITEMS
from predictor.history import pagination
from predictor.history.pagination import CappedCountPaginator
from predictor.models import ModelVersion, Prediction
from predictor.ops import api_keys
from predictor.schema.features import FEATURES

pytestmark = pytest.mark.django_db


# Typical of the shipped training data (cats are a little smaller there).
CAT = {"height_cm": 77, "weight_kg": 36}
DOG = {"height_cm": 90, "weight_kg": 48}


def post_json(client, url, body, **headers):
    content = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.post(url, content, content_type="application/json", **headers)


def error_fields(response) -> list[str | None]:
    return [error["field"] for error in response.json()["errors"]]


@pytest.fixture
def api_key(admin_user):
    return api_keys.create_key(name="report", created_by=admin_user)


# POST /api/predict


def test_predict_answers_and_stores_like_the_form(client, trained_version):
    response = post_json(client, "/api/predict", {"height_cm": 40, "weight_kg": 12.5})
    assert response.status_code == 200
    body = response.json()
    stored = Prediction.objects.get()
    assert body["id"] == stored.pk
    assert stored.source == Prediction.Source.API
    assert (stored.inputs["height"], stored.inputs["weight"]) == (40, 12.5)
    assert body["species"] == stored.species in {"Cat", "Dog"}
    assert set(body["probabilities"]) == {"Cat", "Dog"}
    assert sum(body["probabilities"].values()) == pytest.approx(1)
    assert body["probability"] == max(body["probabilities"].values())
    assert body["model_version"] == trained_version.version


def test_predict_small_animal_is_a_cat_and_large_one_a_dog(client, trained_version):
    assert post_json(client, "/api/predict", CAT).json()["species"] == "Cat"
    assert post_json(client, "/api/predict", DOG).json()["species"] == "Dog"


def test_predict_needs_no_login_or_csrf_token(trained_version):
    from django.test import Client

    response = post_json(Client(enforce_csrf_checks=True), "/api/predict", {"height_cm": 40, "weight_kg": 12})
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"weight_kg": 12}, "height_cm", "Enter the height in cm."),
        ({"height_cm": "tall", "weight_kg": 12}, "height_cm", "Height must be a number in cm, such as 42.5."),
        ({"height_cm": "40", "weight_kg": 12}, "height_cm", "Height must be a number in cm, such as 42.5."),
        ({"height_cm": True, "weight_kg": 12}, "height_cm", "Height must be a number in cm, such as 42.5."),
        ({"height_cm": None, "weight_kg": 12}, "height_cm", "Height must be a number in cm, such as 42.5."),
        ({"height_cm": 40, "weight_kg": 0}, "weight_kg", "Weight must be at least 0.01 kg."),
        ({"height_cm": 40, "weight_kg": -3}, "weight_kg", "Weight must be at least 0.01 kg."),
        ({"height_cm": 301, "weight_kg": 12}, "height_cm", "Height must be at most 300 cm."),
        ({"height_cm": 40, "weight_kg": 500.5}, "weight_kg", "Weight must be at most 500 kg."),
        ('{"height_cm": NaN, "weight_kg": 12}', "height_cm", "Height must be a finite number."),
        ('{"height_cm": 40, "weight_kg": Infinity}', "weight_kg", "Weight must be a finite number."),
        ('{"height_cm": 40, "weight_kg": 1e999}', "weight_kg", "Weight must be a finite number."),
    ],
)
def test_predict_refuses_bad_measurements_naming_the_field(client, trained_version, body, field, message):
    response = post_json(client, "/api/predict", body)
    assert response.status_code == 422
    assert error_fields(response) == [field]
    assert message in response.json()["errors"][0]["message"]
    assert not Prediction.objects.exists()


def test_predict_uses_the_same_bounds_as_the_form(client, trained_version):
    for feature in FEATURES:
        body = {other.field: 10 for other in FEATURES}
        body[feature.field] = feature.max_value
        assert post_json(client, "/api/predict", body).status_code == 200
        body[feature.field] = feature.max_value + 0.001
        response = post_json(client, "/api/predict", body)
        assert response.json()["errors"][0]["message"] == feature.bounds_error(feature.max_value + 0.001)


@pytest.mark.parametrize("body", ["{not json", "", "[1, 2", b"\xff\xfe{}", "42", '"text"', "[]", "null"])
def test_predict_refuses_a_body_that_is_not_a_measurements_object(client, trained_version, body):
    response = post_json(client, "/api/predict", body)
    assert response.status_code in {400, 422}
    assert response["Content-Type"] == "application/json; charset=utf-8"
    assert response.json()["detail"]
    assert not Prediction.objects.exists()


def test_predict_refuses_malformed_json_with_400(client, trained_version):
    response = post_json(client, "/api/predict", '{"height_cm": 40,')
    assert response.status_code == 400
    assert response.json()["detail"] == "Cannot parse request body"


def test_oversized_body_is_refused_with_413(client, trained_version, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = post_json(client, "/api/predict", {"height_cm": 40, "weight_kg": 12, "padding": "x" * 2000})
    assert response.status_code == 413
    assert response.json() == {
        "detail": "The request body is too large: at most 1,000 bytes are accepted.",
        "errors": [],
        "request_id": response["X-Request-ID"],
    }
    assert not Prediction.objects.exists()


def test_predict_without_a_model_answers_503(client, db):
    response = post_json(client, "/api/predict", {"height_cm": 40, "weight_kg": 12})
    assert response.status_code == 503
    assert "train_model" in response.json()["detail"]
    assert not Prediction.objects.exists()


def test_predict_with_get_is_refused_with_405_in_json_naming_the_allowed_method(client, trained_version):
    response = client.get("/api/predict")
    assert response.status_code == 405
    assert response["Allow"] == "POST"
    assert response.json() == {
        "detail": "GET is not allowed here; use POST.",
        "errors": [],
        "request_id": response["X-Request-ID"],
    }


# POST /api/predict/batch


def test_batch_answers_one_stored_result_per_item_in_order(key_client, trained_version):
    items = [CAT, DOG, {"height_cm": 78, "weight_kg": 37}]
    response = post_json(key_client, "/api/predict/batch", items)
    assert response.status_code == 200
    body = response.json()
    assert [result["species"] for result in body["results"]] == ["Cat", "Dog", "Cat"]
    assert [(r["height_cm"], r["weight_kg"]) for r in body["results"]] == [(77, 36), (90, 48), (78, 37)]
    stored = Prediction.objects.order_by("id")
    assert [result["id"] for result in body["results"]] == [row.pk for row in stored]
    assert {row.source for row in stored} == {Prediction.Source.API}
    assert {str(row.batch_id) for row in stored} == {body["batch_id"]}
    assert body["model_version"] == trained_version.version


def test_batch_results_match_single_predictions(key_client, trained_version):
    items = [{"height_cm": h, "weight_kg": w} for h, w in [(33, 9.5), (48, 16), (25, 30)]]
    batch = post_json(key_client, "/api/predict/batch", items).json()["results"]
    for item, result in zip(items, batch, strict=True):
        single = post_json(key_client, "/api/predict", item).json()
        assert result["species"] == single["species"]
        assert result["probabilities"] == pytest.approx(single["probabilities"])


def test_batch_with_one_bad_item_stores_nothing_and_names_its_index(key_client, trained_version):
    items = [CAT] * 5
    items[3] = {"height_cm": 77, "weight_kg": 900}
    response = post_json(key_client, "/api/predict/batch", items)
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert (error["index"], error["field"], error["loc"]) == (3, "weight_kg", ["body", 3, "weight_kg"])
    assert error["message"] == "Weight must be at most 500 kg."
    assert not Prediction.objects.exists()


def test_batch_refuses_an_empty_list_and_a_non_list(key_client, trained_version):
    assert post_json(key_client, "/api/predict/batch", []).status_code == 422
    response = post_json(key_client, "/api/predict/batch", CAT)
    assert response.status_code == 422
    assert response.json()["errors"][0]["message"] == (
        'Send the batch as a JSON list of measurements, such as [{"height_cm": 40, "weight_kg": 12.5}].'
    )


def test_batch_accepts_the_maximum_and_refuses_one_more(key_client, trained_version):
    items = [CAT] * MAX_BATCH_ITEMS
    response = post_json(key_client, "/api/predict/batch", items)
    assert response.status_code == 200
    assert len(response.json()["results"]) == MAX_BATCH_ITEMS
    assert Prediction.objects.count() == MAX_BATCH_ITEMS

    response = post_json(key_client, "/api/predict/batch", [*items, items[0]])
    assert response.status_code == 422
    assert response.json()["errors"][0]["message"] == f"A batch holds at most {MAX_BATCH_ITEMS:,} items, not 10,001."
    assert Prediction.objects.count() == MAX_BATCH_ITEMS


def test_batch_without_a_model_answers_503(key_client, db):
    response = post_json(key_client, "/api/predict/batch", [CAT])
    assert response.status_code == 503


# GET /api/predictions and /api/models: authentication


@pytest.mark.parametrize("url", ["/api/predictions", "/api/models"])
def test_reading_history_anonymously_answers_401(client, db, url):
    response = client.get(url)
    assert response.status_code == 401
    assert "API key" in response.json()["detail"]


@pytest.mark.parametrize("url", ["/api/predictions", "/api/models"])
def test_reading_history_as_a_non_staff_user_answers_403(client, django_user_model, url):
    client.force_login(django_user_model.objects.create_user("visitor", password="unused-password-1"))
    response = client.get(url)
    assert response.status_code == 403
    assert response.json()["detail"] == "The prediction history is for staff only."


@pytest.mark.parametrize("url", ["/api/predictions", "/api/models"])
def test_reading_history_with_a_staff_session_works(admin_client, url):
    assert admin_client.get(url).status_code == 200


@pytest.mark.parametrize("header", ["HTTP_AUTHORIZATION", "HTTP_X_API_KEY"])
@pytest.mark.parametrize("url", ["/api/predictions", "/api/models"])
def test_reading_history_with_an_api_key_works(client, api_key, header, url):
    _, secret = api_key
    value = f"Bearer {secret}" if header == "HTTP_AUTHORIZATION" else secret
    assert client.get(url, **{header: value}).status_code == 200


def test_a_wrong_api_key_answers_401(client, api_key):
    _, secret = api_key
    assert client.get("/api/models", HTTP_X_API_KEY=secret + "x").status_code == 401
    assert client.get("/api/models", HTTP_AUTHORIZATION="Bearer ").status_code == 401
    assert client.get("/api/models", HTTP_AUTHORIZATION=f"Basic {secret}").status_code == 401


def test_a_revoked_api_key_answers_401(client, api_key):
    key, secret = api_key
    api_keys.revoke(key, user=None)
    assert client.get("/api/models", HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 401
    assert client.get("/api/models", HTTP_X_API_KEY=secret).status_code == 401


def test_using_an_api_key_records_when_it_was_last_used(client, api_key):
    key, secret = api_key
    assert key.last_used_at is None
    client.get("/api/models", HTTP_X_API_KEY=secret)
    key.refresh_from_db()
    assert key.last_used_at is not None


# GET /api/predictions: content, filters, pagination


def make_predictions(client, items):
    return post_json(client, "/api/predict/batch", items).json()["results"]


def test_predictions_lists_newest_first_with_source_and_model(client, admin_client, trained_version):
    post_json(client, "/api/predict", CAT)
    post_json(client, "/api/predict", DOG)
    body = admin_client.get("/api/predictions").json()
    assert body["count"] == 2
    assert [item["species"] for item in body["items"]] == ["Dog", "Cat"]
    assert body["items"][0]["source"] == "api"
    assert body["items"][0]["model_version"] == trained_version.version
    assert body["items"][0]["batch_id"] is None


def test_predictions_filter_by_species_and_version(key_client, admin_client, trained_version, make_version, settings):
    settings.ML_MODEL_CHECK_SECONDS = 0  # serve the new version at once
    make_predictions(key_client, [CAT, DOG])
    second = make_version(stored=True, is_active=True)
    make_predictions(key_client, [CAT])

    cats = admin_client.get("/api/predictions", {"species": "Cat"}).json()
    assert cats["count"] == 2
    assert {item["species"] for item in cats["items"]} == {"Cat"}
    by_first = admin_client.get("/api/predictions", {"version": trained_version.version}).json()
    assert by_first["count"] == 2
    by_second = admin_client.get("/api/predictions", {"version": second.version, "species": "Dog"}).json()
    assert by_second["count"] == 0


def test_predictions_refuse_a_version_that_does_not_exist(admin_client, trained_version):
    response = admin_client.get("/api/predictions", {"version": 99})
    assert response.status_code == 400
    assert response.json()["detail"] == "There is no model version 99."
    assert error_fields(response) == ["version"]


def test_predictions_count_stops_at_the_cap_and_says_so(key_client, admin_client, trained_version, monkeypatch):
    @contextmanager
    def slow_database(seconds):  # as if the exact count ran past its time limit (see test_pagination)
        raise pagination.QueryTimedOut("interrupted")
        yield

    monkeypatch.setattr(CappedCountPaginator, "count_cap", 5)
    monkeypatch.setattr(pagination, "statement_time_limit", slow_database)
    make_predictions(key_client, [CAT] * 7)
    body = admin_client.get("/api/predictions", {"page_size": 2}).json()
    assert body["count"] == 5 and body["count_is_exact"] is False
    assert admin_client.get("/api/predictions", {"page_size": 10}).json()["count"] == 5
    monkeypatch.setattr(CappedCountPaginator, "count_cap", 10)
    assert admin_client.get("/api/predictions").json() | {"items": []} == {
        "count": 7,
        "count_is_exact": True,
        "page": 1,
        "page_size": 50,
        "items": [],
    }


def test_predictions_filter_by_date_range(key_client, admin_client, trained_version):
    make_predictions(key_client, [CAT] * 3)
    old = Prediction.objects.order_by("id").first()
    old.created_at = timezone.now() - timedelta(days=10)
    old.save()
    since = (timezone.now() - timedelta(days=1)).isoformat()
    assert admin_client.get("/api/predictions", {"created_after": since}).json()["count"] == 2
    assert admin_client.get("/api/predictions", {"created_before": since}).json()["count"] == 1
    # A time without a zone is read in the site's zone (UTC here).
    naive = (timezone.now() - timedelta(days=1)).replace(tzinfo=None).isoformat()
    assert admin_client.get("/api/predictions", {"created_after": naive}).json()["count"] == 2


def test_predictions_are_paginated(key_client, admin_client, trained_version):
    make_predictions(key_client, [{"height_cm": 20 + n, "weight_kg": 4} for n in range(7)])
    first = admin_client.get("/api/predictions", {"page_size": 3}).json()
    third = admin_client.get("/api/predictions", {"page_size": 3, "page": 3}).json()
    beyond = admin_client.get("/api/predictions", {"page_size": 3, "page": 4}).json()
    assert first["count"] == third["count"] == 7
    assert [item["height_cm"] for item in first["items"]] == [26, 25, 24]
    assert [item["height_cm"] for item in third["items"]] == [20]
    assert beyond["items"] == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"page": 0}, "page"),
        ({"page": "two"}, "page"),
        ({"page": 10**30}, "page"),
        ({"page_size": 501}, "page_size"),
        ({"version": "latest"}, "version"),
        ({"created_after": "yesterday"}, "created_after"),
    ],
)
def test_predictions_refuse_bad_query_parameters_naming_them(admin_client, params, field):
    response = admin_client.get("/api/predictions", params)
    assert response.status_code == 422
    assert error_fields(response) == [field]


# GET /api/models


def test_models_lists_every_version_newest_first(admin_client, trained_version, make_version):
    make_version()
    body = admin_client.get("/api/models").json()
    assert [model["version"] for model in body] == [2, 1]
    assert [model["is_active"] for model in body] == [False, True]
    assert body[1]["class_counts"] == {"Cat": 5, "Dog": 5}
    assert body[1]["cv_accuracy"] == ModelVersion.objects.get(version=1).cv_accuracy


# The schema and the docs


def test_openapi_schema_is_valid_and_documents_every_endpoint(client, db):
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    validate(schema)
    assert set(schema["paths"]) == {
        "/api/v1/predict",
        "/api/v1/predict/batch",
        "/api/v1/predictions",
        "/api/v1/models",
        "/api/v1/jobs/{job_id}",
        "/api/v2/models",
        "/api/v2/models/{slug}/predict",
        "/api/v2/models/{slug}/predict/batch",
        "/api/v2/models/{slug}/predictions",
    }
    v2_body = schema["paths"]["/api/v2/models/{slug}/predict"]["post"]["requestBody"]["content"]["application/json"]
    assert v2_body["schema"]["type"] == "object"  # one key per input, checked against the model's schema
    measurements = schema["components"]["schemas"]["MeasurementsIn"]
    assert list(measurements["properties"]) == [feature.field for feature in FEATURES]
    assert measurements["properties"]["height_cm"]["maximum"] == 300
    batch_post = schema["paths"]["/api/v1/predict/batch"]["post"]
    batch_body = batch_post["requestBody"]["content"]["application/json"]["schema"]
    assert (batch_body["type"], batch_body["minItems"], batch_body["maxItems"]) == ("array", 1, MAX_BATCH_ITEMS)
    security = schema["components"]["securitySchemes"]
    assert {scheme["type"] for scheme in security.values()} >= {"http", "apiKey"}


def test_docs_page_loads_its_assets_from_this_site(client, db):
    response = client.get("/api/docs")
    assert response.status_code == 200
    html = response.content.decode()
    assert "/static/ninja/swagger-ui-bundle.js" in html
    assert "http://" not in html and "https://" not in html
    for asset in ["ninja/swagger-ui-bundle.js", "ninja/swagger-ui.css", "ninja/swagger-ui-init.js"]:
        assert finders.find(asset), asset


def test_unknown_api_path_answers_404_json(client, db):
    response = client.get("/api/nothing-here")
    assert response.status_code == 404
    assert response.json()["detail"] == "There is nothing at /api/nothing-here: see /api/ for the endpoints."
