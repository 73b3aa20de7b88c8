"""Where the API answers: the index, the docs, /api/v1/ and the paths from before versioning."""

import json

import pytest
from django.contrib.staticfiles import finders

from predictor.models import Prediction

pytestmark = pytest.mark.django_db

CAT = {"height_cm": 77, "weight_kg": 36}
V1_OPERATIONS = {
    ("POST", "/api/v1/predict"): "predict",
    ("POST", "/api/v1/predict/batch"): "predict_batch",
    ("GET", "/api/v1/predictions"): "list_predictions",
    ("GET", "/api/v1/models"): "list_models",
    ("GET", "/api/v1/jobs/{job_id}"): "get_job",
}
V2_OPERATIONS = {
    ("GET", "/api/v2/models"): "v2_list_models",
    ("POST", "/api/v2/models/{slug}/predict"): "v2_predict",
    ("POST", "/api/v2/models/{slug}/predict/batch"): "v2_predict_batch",
    ("GET", "/api/v2/models/{slug}/predictions"): "v2_list_predictions",
}


@pytest.mark.parametrize("url", ["/api", "/api/"])
def test_the_api_root_answers_a_json_index_with_or_without_the_slash(client, db, url):
    response = client.get(url)
    assert response.status_code == 200
    body = response.json()
    assert body | {"endpoints": []} == {
        "name": "Animal predictor API",
        "version": "1.0",
        "docs": "/api/docs",
        "openapi": "/api/openapi.json",
        "endpoints": [],
    }
    assert {(e["method"], e["path"]): e["operation_id"] for e in body["endpoints"]} == V1_OPERATIONS
    assert all(endpoint["summary"] for endpoint in body["endpoints"])


def test_the_index_links_lead_somewhere(client, db):
    body = client.get("/api/").json()
    assert client.get(body["docs"]).status_code == 200
    assert client.get(body["openapi"]).status_code == 200


@pytest.mark.parametrize("url", ["/api/docs", "/api/docs/"])
def test_the_docs_answer_with_or_without_the_slash(client, db, url):
    response = client.get(url)
    assert response.status_code == 200
    assert "swagger-ui-bundle.js" in response.content.decode()


def test_the_docs_page_is_in_the_sites_frame_and_colours(client, db):
    html = client.get("/api/docs").content.decode()
    assert 'class="site-header"' in html
    assert "/static/predictor/site.css" in html
    assert "/static/predictor/api-docs.css" in html
    assert html.index("ninja/swagger-ui.css") < html.index("predictor/api-docs.css")  # ours wins ties
    assert finders.find("predictor/api-docs.css")
    assert "http://" not in html and "https://" not in html


def test_the_docs_stylesheet_follows_the_systems_dark_setting_with_the_sites_variables():
    with open(finders.find("predictor/api-docs.css")) as css:
        text = css.read()
    assert "@media (prefers-color-scheme: dark)" in text
    assert "var(--bg)" in text or "var(--surface)" in text
    assert "var(--fg)" in text


def test_staff_see_an_api_link_in_the_header(admin_client, db):
    html = admin_client.get("/").content.decode()
    assert '<a href="/api/docs">API</a>' in html
    docs = admin_client.get("/api/docs").content.decode()
    assert '<a href="/api/docs" aria-current="page">API</a>' in docs


def test_visitors_and_non_staff_users_see_no_api_link(client, django_user_model, db):
    assert ">API</a>" not in client.get("/").content.decode()
    client.force_login(django_user_model.objects.create_user("visitor", password="unused-password-1"))
    assert ">API</a>" not in client.get("/").content.decode()


def test_the_schema_lists_v1_and_v2_with_readable_operation_ids(client, db):
    schema = client.get("/api/openapi.json").json()
    operations = {
        (method.upper(), url): operation["operationId"]
        for url, item in schema["paths"].items()
        for method, operation in item.items()
    }
    assert operations == V1_OPERATIONS | V2_OPERATIONS


@pytest.mark.parametrize("url", ["/api/predict", "/api/v1/predict"])
def test_predict_answers_at_v1_and_at_its_path_from_before_versioning(client, trained_version, url):
    response = client.post(url, json.dumps(CAT), content_type="application/json")
    assert response.status_code == 200
    assert response.json()["species"] == "Cat"
    assert Prediction.objects.get().pk == response.json()["id"]


@pytest.mark.parametrize("url", ["/api/predict/batch", "/api/v1/predict/batch"])
def test_batch_answers_at_v1_and_at_its_path_from_before_versioning(key_client, trained_version, url):
    response = key_client.post(url, json.dumps([CAT, CAT]), content_type="application/json")
    assert response.status_code == 200
    assert len(response.json()["results"]) == 2


@pytest.mark.parametrize("name", ["predictions", "models"])
def test_history_answers_the_same_at_v1_and_at_its_path_from_before_versioning(admin_client, trained_version, name):
    versioned = admin_client.get(f"/api/v1/{name}")
    unversioned = admin_client.get(f"/api/{name}")
    assert versioned.status_code == unversioned.status_code == 200
    assert versioned.json() == unversioned.json()


def test_the_paths_from_before_versioning_need_the_same_authentication(client, db):
    assert client.get("/api/models").status_code == client.get("/api/v1/models").status_code == 401
