"""The health check a load balancer or deploy script asks before sending visitors to a process."""

from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from predictor.registry import versions

pytestmark = pytest.mark.django_db

HEALTH = reverse("predictor:health")
ALL_PARTS_OK = {"counters": "ok", "queue": "ok", "storage": "ok"}


def test_a_process_with_a_model_and_its_database_is_ready(client, trained_version):
    response = client.get(HEALTH)

    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "database": "ok",
        "model": f"v{trained_version.version}",
        **ALL_PARTS_OK,
    }
    assert "no-store" in response["Cache-Control"]


def test_a_process_without_a_model_is_unavailable_and_says_what_to_do(client):
    response = client.get(HEALTH)

    assert response.status_code == 503
    body = response.json()
    assert (body["status"], body["database"]) == ("unavailable", "ok")
    assert "train_model" in body["model"]


def test_the_health_check_follows_the_newly_activated_version(client, trained_version, make_version, settings):
    settings.ML_MODEL_CHECK_SECONDS = 0  # ask the database on every request
    assert client.get(HEALTH).json()["model"] == "v1"

    make_version(stored=True, is_active=True)

    assert client.get(HEALTH).json()["model"] == "v2"


def test_a_refused_new_version_leaves_the_process_answering_but_degraded(
    client, trained_version, make_version, settings, artifact_storage
):
    settings.ML_MODEL_CHECK_SECONDS = 0
    client.get(HEALTH)
    broken = make_version(stored=True, is_active=True)
    path = Path(artifact_storage.path(broken.artifact_name))
    path.write_bytes(path.read_bytes()[:-10])

    response = client.get(HEALTH)

    assert response.status_code == 200  # v1 still answers every prediction
    body = response.json()
    assert (body["status"], body["model"]) == ("degraded", "v1")
    assert "v2 cannot be loaded" in body["warning"]

    versions.activate_version(1)  # the rollback staff would do

    assert client.get(HEALTH).json() == {"status": "ok", "database": "ok", "model": "v1", **ALL_PARTS_OK}


def test_the_health_check_answers_plain_http_where_every_page_is_redirected_to_https(settings, trained_version):
    settings.SECURE_SSL_REDIRECT = True
    client = Client()  # its middleware is built now, with the redirect on

    assert client.get("/").status_code == 301
    assert client.get(HEALTH).status_code == 200


def test_the_health_check_only_reads(client, trained_version):
    assert client.post(HEALTH).status_code == 405
    assert client.head(HEALTH).status_code == 200
