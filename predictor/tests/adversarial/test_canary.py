"""Shadow and canary under attack: who may start, stop or promote; stale pages, bad shares, forged posts."""

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.test import Client

from predictor.models import AuditEvent, Candidate, ModelVersion, Prediction
from predictor.registry import versions
from predictor.serving import candidates, model_service

pytestmark = pytest.mark.django_db

ROLES = ["anonymous", "not staff", "staff, no group", "viewer", "labeller", "operator", "superuser"]
MAY_SEE = {"viewer", "labeller", "operator", "superuser"}
MAY_CHANGE = {"operator", "superuser"}


@pytest.fixture
def pair(make_version):
    active = make_version(stored=True, is_active=True)
    return active, make_version(stored=True)


def client_for(role: str, django_user_model, make_staff) -> Client:
    client = Client()
    match role:
        case "anonymous":
            return client
        case "not staff":
            user = django_user_model.objects.create_user("visitor", password="pw-visitor-for-tests")
        case "staff, no group":
            user = make_staff("bare")
        case "superuser":
            user = django_user_model.objects.create_superuser("root", "root@example.com", "pw-root-for-tests")
        case _:
            user = make_staff(role, group=role)
    client.force_login(user)
    return client


@pytest.mark.parametrize("role", ROLES)
def test_only_viewers_and_up_see_the_comparison_and_only_operators_change_it(role, pair, django_user_model, make_staff):
    active, candidate = pair
    client = client_for(role, django_user_model, make_staff)
    page = client.get(f"/models/{candidate.version}/comparison/")
    changes = {
        "shadow": {"action": "shadow"},
        "canary": {"action": "canary", "percent": "10"},
        "promote": {"action": "promote"},
        "stop": {"action": "stop"},  # nothing left to stop: refused with a message, still a redirect
    }
    statuses = {
        name: client.post(f"/models/{candidate.version}/candidate/", data).status_code for name, data in changes.items()
    }

    if role == "anonymous":
        assert page.status_code == 302 and page["Location"].startswith("/accounts/login/")
        assert set(statuses.values()) == {302}
    else:
        assert page.status_code == (200 if role in MAY_SEE else 403)
        assert set(statuses.values()) == ({302} if role in MAY_CHANGE else {403})
    promoted = ModelVersion.objects.active().get() == candidate
    assert promoted is (role in MAY_CHANGE)
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert actions == ({"shadow_started", "canary_started", "activate"} if role in MAY_CHANGE else set())


@pytest.mark.parametrize("role", ["viewer", "labeller"])
def test_the_admin_actions_refuse_those_who_may_not_activate(role, pair, make_staff):
    active, candidate = pair
    client = Client()
    user = make_staff(role, group=role)
    client.force_login(user)
    response = client.post(
        "/admin/predictor/modelversion/", {"action": "start_shadow", ACTION_CHECKBOX_NAME: [candidate.pk]}
    )
    assert response.status_code < 500
    assert not Candidate.objects.exists() and not AuditEvent.objects.exists()


def test_a_stale_page_for_one_version_cannot_promote_or_stop_another(operator_client, pair, make_version):
    active, candidate = pair
    newer = make_version(stored=True)
    candidates.start_shadow(newer.version)

    for action in ("promote", "stop"):
        response = operator_client.post(f"/models/{candidate.version}/candidate/", {"action": action}, follow=True)
        assert f"is not the candidate; {newer} (" in response.content.decode()
    assert ModelVersion.objects.active().get() == active and Candidate.objects.get().version == newer


@pytest.mark.parametrize("percent", ["0", "101", "-5", "ten", "", "10.5", "1e2"])
def test_a_canary_share_outside_1_to_100_whole_percent_is_refused(operator_client, pair, percent):
    response = operator_client.post(f"/models/{pair[1].version}/candidate/", {"action": "canary", "percent": percent})
    assert response.status_code == 400
    assert not Candidate.objects.exists() and not AuditEvent.objects.exists()


@pytest.mark.parametrize("action", ["", "delete", "PROMOTE", "activate"])
def test_an_unknown_action_is_refused(operator_client, pair, action):
    assert operator_client.post(f"/models/{pair[1].version}/candidate/", {"action": action}).status_code == 400
    assert not AuditEvent.objects.exists()


def test_changes_need_a_post_with_the_csrf_token(operator, pair):
    client = Client(enforce_csrf_checks=True)
    client.force_login(operator)
    url = f"/models/{pair[1].version}/candidate/"
    assert client.get(url, {"action": "promote"}).status_code == 405
    assert client.post(url, {"action": "shadow"}).status_code == 403
    assert not Candidate.objects.exists()


def test_an_unknown_version_is_not_found_or_refused(operator_client, pair):
    assert operator_client.get("/models/999/comparison/").status_code == 404
    response = operator_client.post("/models/999/candidate/", {"action": "shadow"}, follow=True)
    assert "There is no model v999." in response.content.decode() and not Candidate.objects.exists()


def test_the_active_version_cannot_be_made_its_own_shadow(operator_client, pair):
    active, _candidate = pair
    response = operator_client.post(f"/models/{active.version}/candidate/", {"action": "shadow"}, follow=True)
    assert "is the active version already" in response.content.decode()
    assert not Candidate.objects.exists()


def test_a_candidate_activated_by_hand_stops_being_scored_twice(client, pair):
    active, candidate = pair
    candidates.start_shadow(candidate.version)
    versions.activate_version(candidate.version)  # a plain rollback/forward, not a promotion
    model_service.clear_cache()
    client.post("/api/v1/predict", {"height_cm": 80.0, "weight_kg": 40.0}, content_type="application/json")

    stored = Prediction.objects.get()
    assert (stored.model_version, stored.shadow_version) == (candidate, None)


def test_a_canary_at_100_percent_still_leaves_batches_to_the_active_version(key_client, pair):
    active, candidate = pair
    candidates.start_canary(candidate.version, percent=100)
    answer = key_client.post(
        "/api/v1/predict/batch", [{"height_cm": 80.0, "weight_kg": 40.0}] * 2, content_type="application/json"
    )
    assert answer.json()["model_version"] == active.version
    assert set(Prediction.objects.values_list("model_version", "shadow_version")) == {(active.pk, candidate.pk)}
