"""The bare views of bench/throughput_ladder.py do what its rungs say: the ladder's figures rest on it."""

import pytest
from django.test import Client

from predictor.models import Prediction

FIELDS = {"height": "90", "weight": "50", "submission_key": "ladder-key-0000000001"}


@pytest.fixture
def ladder_urls(settings):
    settings.ROOT_URLCONF = "bench.floor_site.urls"


def csrf_client() -> tuple[Client, dict]:
    """A client that is held to the CSRF check, as wrk's requests are, with a token from the form."""
    client = Client(enforce_csrf_checks=True)
    client.get("/")
    return client, {**FIELDS, "csrfmiddlewaretoken": client.cookies["csrftoken"].value}


@pytest.mark.django_db
def test_the_storing_rung_answers_with_the_species_and_stores_the_row(ladder_urls, trained_version):
    client, fields = csrf_client()
    response = client.post("/floor/store/", fields)

    stored = Prediction.objects.get()
    assert response.status_code == 200
    assert stored.species in response.content.decode()
    assert (stored.inputs["height"], stored.inputs["weight"], stored.submission_key) == (
        90,
        50,
        FIELDS["submission_key"],
    )


@pytest.mark.django_db
def test_the_scoring_rung_answers_and_stores_nothing(ladder_urls, trained_version):
    client, fields = csrf_client()
    response = client.post("/floor/score/", fields)

    assert response.status_code == 200
    assert b"Cat" in response.content or b"Dog" in response.content
    assert not Prediction.objects.exists()


@pytest.mark.django_db
def test_both_bare_rungs_pay_for_the_sites_csrf_check(ladder_urls, trained_version):
    client = Client(enforce_csrf_checks=True)

    assert client.post("/floor/score/", FIELDS).status_code == 403
    assert client.post("/floor/store/", FIELDS).status_code == 403
    assert not Prediction.objects.exists()
