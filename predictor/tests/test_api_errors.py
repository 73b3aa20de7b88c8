"""Every error the API answers is JSON, {"detail", "errors", "request_id"}, worded like the web form."""

import json

import pytest
from django.db import InterfaceError, OperationalError
from django.test import Client

from predictor.history import writer
from predictor.models import Prediction
from predictor.ops import api_keys
from predictor.schema.features import FEATURES
from predictor.serving import model_service

pytestmark = pytest.mark.django_db

CAT = {"height_cm": 77, "weight_kg": 36}
JSON_TYPE = "application/json; charset=utf-8"


def post_json(client, url, body, **kwargs):
    return client.post(url, json.dumps(body), content_type="application/json", **kwargs)


def assert_error_format(response, status: int) -> dict:
    assert response.status_code == status
    assert response["Content-Type"] == JSON_TYPE
    body = response.json()
    assert set(body) == {"detail", "errors", "request_id"}
    assert body["request_id"] == response["X-Request-ID"]  # to quote when reporting it
    return body


# 404


@pytest.mark.parametrize("method", ["get", "post", "put", "delete"])
@pytest.mark.parametrize("url", ["/api/nothing", "/api/v1", "/api/v2/predict", "/api/v1/predict/extra"])
def test_unknown_api_paths_answer_404_in_json_whatever_the_method(client, db, method, url):
    body = assert_error_format(getattr(client, method)(url), 404)
    assert body["detail"] == f"There is nothing at {url}: see /api/ for the endpoints."


def test_a_trailing_slash_on_an_endpoint_is_a_404_that_names_the_right_path(client, db):
    body = assert_error_format(post_json(client, "/api/v1/predict/", CAT), 404)
    assert body["detail"] == "There is nothing at /api/v1/predict/; did you mean /api/v1/predict?"


def test_paths_outside_the_api_keep_the_sites_html_404(client, db):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


# 405


@pytest.mark.parametrize(
    ("method", "url", "allow"),
    [
        ("get", "/api/predict", "POST"),
        ("get", "/api/v1/predict", "POST"),
        ("put", "/api/v1/predict/batch", "POST"),
        ("post", "/api/v1/predictions", "GET"),
        ("delete", "/api/models", "GET"),
        ("post", "/api/", "GET, HEAD"),
        ("post", "/api", "GET, HEAD"),
        ("post", "/api/docs", "GET, HEAD"),
        ("post", "/api/openapi.json", "GET, HEAD"),
    ],
)
def test_a_wrong_method_answers_405_in_json_with_an_allow_header(client, db, method, url, allow):
    body = assert_error_format(getattr(client, method)(url), 405)
    assert body["detail"] == f"{method.upper()} is not allowed here; use {allow}."
    assert client.generic(method.upper(), url)["Allow"] == allow


# 415


@pytest.mark.parametrize(
    ("content_type", "content"),
    [
        ("application/x-www-form-urlencoded", "height_cm=77&weight_kg=36"),
        ("text/plain", json.dumps(CAT)),
        ("multipart/form-data; boundary=x", "--x--"),
        ("", json.dumps(CAT)),
    ],
)
@pytest.mark.parametrize("url", ["/api/v1/predict", "/api/predict/batch"])
def test_a_body_that_is_not_json_answers_415_and_stores_nothing(client, trained_version, url, content_type, content):
    response = client.generic("POST", url, content, content_type=content_type)
    body = assert_error_format(response, 415)
    assert body["detail"].startswith("Send the body as JSON with Content-Type: application/json;")
    assert not Prediction.objects.exists()


def test_form_encoded_body_names_the_content_type_it_was_sent_with(client, trained_version):
    response = client.post("/api/predict", CAT)  # the test client's default: multipart form data
    assert "multipart/form-data" in assert_error_format(response, 415)["detail"]


def test_json_with_a_charset_is_accepted(client, trained_version):
    response = client.post("/api/v1/predict", json.dumps(CAT), content_type="application/json; charset=utf-8")
    assert response.status_code == 200


def test_a_post_with_no_body_at_all_is_a_missing_body_not_a_wrong_media_type(client, trained_version):
    body = assert_error_format(client.generic("POST", "/api/v1/predict"), 422)
    assert body["errors"][0]["message"] == (
        'Send the measurements as a JSON object, such as {"height_cm": 40, "weight_kg": 12.5}.'
    )


# 503


def test_no_model_answers_503_in_json(client, db):
    body = assert_error_format(post_json(client, "/api/v1/predict", CAT), 503)
    assert body["detail"].startswith("No model is ready:")


@pytest.mark.parametrize("error", [OperationalError("database is locked"), InterfaceError("connection already closed")])
def test_a_busy_database_answers_503_in_json_with_retry_after(client, trained_version, monkeypatch, error):
    def unavailable(**kwargs):
        raise error

    monkeypatch.setattr(writer, "record_prediction", unavailable)
    response = post_json(client, "/api/v1/predict", CAT)
    body = assert_error_format(response, 503)
    assert response["Retry-After"] == "5"
    assert body["detail"] == "The database is busy or unavailable; try again in 5 seconds."


def test_a_busy_database_while_checking_an_api_key_answers_503_in_json(client, db, monkeypatch):
    def locked(key):
        raise OperationalError("database is locked")

    monkeypatch.setattr(api_keys, "authenticate", locked)
    response = client.get("/api/v1/models", HTTP_X_API_KEY="some-key")
    assert_error_format(response, 503)
    assert response["Retry-After"] == "5"


def test_an_unexpected_error_answers_500_in_json_and_is_logged(trained_version, monkeypatch, caplog):
    def broken(values):
        raise RuntimeError("bug")

    monkeypatch.setattr(model_service, "predict", broken)
    response = post_json(Client(raise_request_exception=False), "/api/v1/predict", CAT)
    body = assert_error_format(response, 500)
    assert body["detail"] == "Something went wrong on the server; the error has been logged."
    assert "Internal Server Error: /api/v1/predict" in caplog.text


# 422 and 400: the form's wording, with loc, field, index and type kept


@pytest.mark.parametrize("feature", FEATURES, ids=lambda feature: feature.field)
def test_measurement_errors_use_the_web_forms_wording(client, trained_version, feature):
    others = {other.field: other.example for other in FEATURES if other != feature}
    missing = assert_error_format(post_json(client, "/api/v1/predict", others), 422)
    assert missing["errors"] == [
        {
            "loc": ["body", feature.field],
            "field": feature.field,
            "index": None,
            "message": f"Enter the {feature.label.lower()} in {feature.unit}.",
            "type": "missing",
        }
    ]
    wrong = assert_error_format(post_json(client, "/api/v1/predict", {**others, feature.field: "a lot"}), 422)
    assert wrong["errors"][0]["message"] == f"{feature.label} must be a number in {feature.unit}, such as 42.5."
    too_big = post_json(client, "/api/v1/predict", {**others, feature.field: feature.max_value * 2})
    assert too_big.json()["errors"][0]["message"] == feature.bounds_error(feature.max_value * 2)


def test_batch_errors_use_the_forms_wording_and_name_the_item(key_client, trained_version):
    response = post_json(key_client, "/api/v1/predict/batch", [CAT, {"weight_kg": 3}, {**CAT, "weight_kg": "heavy"}])
    body = assert_error_format(response, 422)
    assert [(e["loc"], e["index"], e["field"], e["message"], e["type"]) for e in body["errors"]] == [
        (["body", 1, "height_cm"], 1, "height_cm", "Enter the height in cm.", "missing"),
        (["body", 2, "weight_kg"], 2, "weight_kg", "Weight must be a number in kg, such as 42.5.", "float_type"),
    ]


def test_an_empty_batch_is_refused_in_a_sentence(key_client, trained_version):
    body = assert_error_format(post_json(key_client, "/api/v1/predict/batch", []), 422)
    assert body["errors"][0]["message"] == "Send at least one item in the batch."


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"page": "two"}, "Page must be a whole number."),
        ({"page": 0}, "Page must be at least 1."),
        ({"page_size": 501}, "Page size must be at most 500."),
        ({"version": "latest"}, "Version must be a whole number."),
        (
            {"created_after": "yesterday"},
            "Created after must be a date and time in ISO 8601, such as 2026-11-30T09:30:00Z.",
        ),
        ({"species": "x" * 51}, "Species must be at most 50 characters."),
    ],
)
def test_query_parameter_errors_are_sentences_naming_the_parameter(admin_client, db, params, message):
    body = assert_error_format(admin_client.get("/api/v1/predictions", params), 422)
    [error] = body["errors"]
    assert error["message"] == message
    assert error["field"] == next(iter(params))
    assert error["loc"] == ["query", next(iter(params))]


def test_an_unknown_species_filter_is_refused_with_400_as_on_the_results_page(admin_client, trained_version):
    response = admin_client.get("/api/v1/predictions", {"species": "Horse"})
    body = assert_error_format(response, 400)
    assert body["detail"] == "No model predicts the species “Horse”."
    assert body["errors"] == [
        {
            "loc": ["query", "species"],
            "field": "species",
            "index": None,
            "message": "No model predicts the species “Horse”.",
            "type": "unknown_value",
        }
    ]


def test_a_species_a_model_knows_is_accepted_even_with_no_predictions_yet(admin_client, trained_version):
    response = admin_client.get("/api/v1/predictions", {"species": "Dog"})
    assert response.status_code == 200
    assert response.json()["count"] == 0


def test_without_any_model_every_species_filter_is_unknown(admin_client, db):
    assert admin_client.get("/api/v1/predictions", {"species": "Cat"}).status_code == 400
    assert admin_client.get("/api/v1/predictions").status_code == 200
