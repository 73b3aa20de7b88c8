"""Issue 26, point 6: candidates stay consistent with the active version and with their artifacts.

Activating the version that was the running canary left it active and canary at once, and a
later promote audited a change that changed nothing; a candidate whose artifact failed its sha256
could be started and promoted without a word, while /healthz said "ok".
"""

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.utils import translation

from predictor.models import AuditEvent, Candidate, ModelVersion
from predictor.registry import versions
from predictor.serving import candidates, model_service

pytestmark = pytest.mark.django_db

Action = AuditEvent.Action


@pytest.fixture(autouse=True)
def in_english():
    """The messages are read as said in English: a request in Chinese before leaves its language active."""
    with translation.override("en"):
        yield


@pytest.fixture
def pair(make_version):
    active = make_version(stored=True, is_active=True)
    return active, make_version(stored=True)


def alter(artifact_storage, version: ModelVersion) -> None:
    path = Path(artifact_storage.path(version.artifact_name))
    path.write_bytes(path.read_bytes()[:-10])  # its sha256 no longer matches


@pytest.mark.parametrize("how", ["function", "command"])
def test_activating_the_running_canary_ends_it_as_candidate_in_the_same_change(pair, operator, how):
    active, candidate = pair
    candidates.start_canary(candidate.version, percent=20, user=operator)

    if how == "function":
        versions.activate_version(candidate.version, user=operator)
    else:
        call_command("activate_model", str(candidate.version), stdout=StringIO())

    assert ModelVersion.objects.active().get() == candidate
    assert not Candidate.objects.exists()
    stopped = AuditEvent.objects.get(action=Action.CANDIDATE_STOPPED)
    assert stopped.target == str(candidate)
    assert (stopped.details["mode"], stopped.details["canary_percent"], stopped.details["reason"]) == (
        "canary",
        20,
        "activated",
    )
    with pytest.raises(candidates.CandidateError, match="No shadow or canary is running"):
        candidates.promote(user=operator)
    assert AuditEvent.objects.filter(action=Action.ACTIVATE).count() == 1  # the activation only


def test_activating_another_version_leaves_the_candidate_running(make_version, pair):
    _active, candidate = pair
    third = make_version(stored=True)
    candidates.start_shadow(candidate.version)

    versions.activate_version(third.version)

    assert Candidate.objects.get().version == candidate
    assert not AuditEvent.objects.filter(action=Action.CANDIDATE_STOPPED).exists()


def test_a_candidate_whose_artifact_fails_its_sha256_cannot_be_started(pair, artifact_storage, operator_client):
    _active, candidate = pair
    alter(artifact_storage, candidate)

    with pytest.raises(candidates.CandidateError, match=r"v2 cannot be tried: artifact .* not the recorded"):
        candidates.start_shadow(candidate.version)
    page = operator_client.post(f"/models/{candidate.version}/candidate/", {"action": "canary", "percent": "10"})

    assert page.status_code == 302
    followed = operator_client.get(page["Location"]).content.decode()
    assert "v2 cannot be tried" in followed and "Retrain it, or choose another version." in followed
    assert not Candidate.objects.exists()
    assert not AuditEvent.objects.exists()


def test_a_candidate_without_its_artifact_cannot_be_started(make_version, pair):
    missing = make_version()  # a row whose artifact was never stored

    with pytest.raises(candidates.CandidateError, match="is missing from the artifact storage"):
        candidates.start_canary(missing.version, percent=5)


def test_a_candidate_altered_after_it_started_cannot_be_promoted(pair, artifact_storage, operator):
    active, candidate = pair
    candidates.start_shadow(candidate.version, user=operator)
    alter(artifact_storage, candidate)

    with pytest.raises(candidates.CandidateError, match="cannot be tried"):
        candidates.promote(user=operator)

    assert ModelVersion.objects.active().get() == active
    assert Candidate.objects.get().version == candidate
    assert not AuditEvent.objects.filter(action=Action.ACTIVATE).exists()


def test_health_is_degraded_while_the_candidate_cannot_answer(client, pair, artifact_storage, settings):
    settings.ML_MODEL_CHECK_SECONDS = 0
    _active, candidate = pair
    candidates.start_shadow(candidate.version)
    assert client.get("/healthz").json()["status"] == "ok"

    alter(artifact_storage, candidate)
    model_service.clear_cache()  # another server, or this one after a restart
    health = client.get("/healthz")

    assert health.status_code == 200  # the active version answers every prediction
    body = health.json()
    assert body["status"] == "degraded"
    assert body["candidate"].startswith("candidate v2 cannot be loaded")

    candidates.stop()
    assert client.get("/healthz").json()["status"] == "ok"
    assert "candidate" not in client.get("/healthz").json()
