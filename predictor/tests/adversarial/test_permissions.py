"""Who may do what: every staff page and API endpoint for every kind of caller, API keys whose
owner changed, expired keys, the one-time secret, and the audit trail."""

import importlib
import json
import uuid
from datetime import timedelta

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Group, Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from conftest import permission_group
from predictor.models import ApiKey, AuditEvent, ModelVersion, Prediction
from predictor.ops import api_keys, permissions
from predictor.registry import training

pytestmark = pytest.mark.django_db

CAT = {"height_cm": 77, "weight_kg": 36}
ROLES = ["anonymous", "not staff", "staff, no group", "viewer", "labeller", "operator", "superuser"]
LOGIN = reverse("login")


def account(django_user_model, make_staff, role: str):
    match role:
        case "anonymous":
            return None
        case "not staff":
            return django_user_model.objects.create_user("visitor", password="pw-visitor-for-tests")
        case "staff, no group":
            return make_staff("bare")
        case "superuser":
            return django_user_model.objects.create_superuser("root", "root@example.com", "pw-root-for-tests")
    return make_staff(role, group=role)


def client_as(user) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def store_prediction(version) -> Prediction:
    return Prediction.objects.create(
        inputs={"height": 77, "weight": 36}, species="Cat", probability=0.9, probabilities={"Cat": 0.9, "Dog": 0.1},
        model_version=version,
    )  # fmt: skip


# --- Staff pages ---------------------------------------------------------------------------------


def staff_pages(version, prediction) -> dict[str, tuple[str, str, str]]:
    """name: (method, url, the permission it needs)."""
    missing_batch = uuid.uuid4()  # allowed callers get 404, refused ones never learn that
    return {
        "history": ("get", reverse("predictor:history"), permissions.VIEW_PREDICTIONS),
        "history csv": ("get", reverse("predictor:history_csv"), permissions.VIEW_PREDICTIONS),
        "batch result": ("get", reverse("predictor:batch_result", args=[missing_batch]), permissions.VIEW_PREDICTIONS),
        "batch csv": ("get", reverse("predictor:batch_download", args=[missing_batch]), permissions.VIEW_PREDICTIONS),
        "upload page": ("get", reverse("predictor:batch_upload"), permissions.UPLOAD_BATCHES),
        "label": ("post", reverse("predictor:label", args=[prediction.pk]), permissions.LABEL_PREDICTIONS),
        "models": ("get", reverse("predictor:model_list"), permissions.VIEW_MODELS),
        "model": ("get", reverse("predictor:model_detail", args=[version.version]), permissions.VIEW_MODELS),
        "picture": ("get", reverse("predictor:model_picture", args=[version.version]), permissions.VIEW_MODELS),
        "dark picture": (
            "get",
            reverse("predictor:model_picture_dark", args=[version.version]),
            permissions.VIEW_MODELS,
        ),
    }


GRANTED = {
    "viewer": {permissions.VIEW_PREDICTIONS, permissions.VIEW_MODELS},
    "labeller": {permissions.VIEW_PREDICTIONS, permissions.VIEW_MODELS, permissions.LABEL_PREDICTIONS},
    "operator": {
        permissions.VIEW_PREDICTIONS,
        permissions.VIEW_MODELS,
        permissions.LABEL_PREDICTIONS,
        permissions.UPLOAD_BATCHES,
    },
}
GRANTED["superuser"] = GRANTED["operator"]
ALLOWED_STATUS = {"label": 302, "batch result": 404, "batch csv": 404}


@pytest.mark.parametrize("role", ROLES)
def test_every_staff_page_answers_each_role_as_its_permissions_say(
    role, django_user_model, make_staff, trained_version
):
    prediction = store_prediction(trained_version)
    client = client_as(account(django_user_model, make_staff, role))
    answered, expected = {}, {}
    for name, (method, url, needed) in staff_pages(trained_version, prediction).items():
        response = getattr(client, method)(url, {"species": "Dog"} if method == "post" else {})
        answered[name] = response.status_code
        if role == "anonymous":
            expected[name] = 302
            assert response["Location"].startswith(f"{LOGIN}?next=")
        elif needed in GRANTED.get(role, set()):
            expected[name] = ALLOWED_STATUS.get(name, 200)
        else:
            expected[name] = 403
    assert answered == expected
    labelled = Prediction.objects.get().actual_species
    assert labelled == ("Dog" if permissions.LABEL_PREDICTIONS in GRANTED.get(role, set()) else None)


def test_a_refused_page_is_the_sites_403_saying_what_is_missing(make_staff, trained_version):
    client = client_as(make_staff("viewer", group="viewer"))
    response = client.get(reverse("predictor:batch_upload"))
    assert response.status_code == 403
    page = response.content.decode()
    assert "Not allowed" in page and "Traceback" not in page
    assert "Predicting a batch needs the “operator” group." in page


def test_a_labeller_labels_from_the_admin_and_a_viewer_cannot(make_staff, trained_version):
    prediction = store_prediction(trained_version)
    changelist = reverse("admin:predictor_prediction_changelist")
    action = {"action": "label_dog", ACTION_CHECKBOX_NAME: [prediction.pk]}

    viewer = client_as(make_staff("viewer", group="viewer"))
    assert viewer.get(changelist).status_code == 200
    viewer.post(changelist, action)
    viewer.post(reverse("admin:predictor_prediction_change", args=[prediction.pk]), {"actual_species": "Dog"})
    prediction.refresh_from_db()
    assert prediction.actual_species is None

    labeller = client_as(make_staff("labeller", group="labeller"))
    assert labeller.post(changelist, action).status_code == 302
    prediction.refresh_from_db()
    assert prediction.actual_species == "Dog"


def test_an_operator_uploads_a_batch_and_a_labeller_cannot(make_staff, trained_version):
    def upload(client):
        csv_file = SimpleUploadedFile("animals.csv", b"Height,Weight\n77,36\n90,48\n", content_type="text/csv")
        return client.post(reverse("predictor:batch_upload"), {"file": csv_file})

    assert upload(client_as(make_staff("labeller", group="labeller"))).status_code == 403
    assert not Prediction.objects.exists()
    operator = client_as(make_staff("operator", group="operator"))
    response = upload(operator)
    assert response.status_code == 302
    assert operator.get(response["Location"], follow=True).status_code == 200  # the job's page, then the batch's
    assert Prediction.objects.filter(source=Prediction.Source.BATCH).count() == 2


# --- The API -------------------------------------------------------------------------------------

API_READS = ["/api/v1/predictions", "/api/predictions", "/api/v1/models", "/api/models"]
API_BATCHES = ["/api/v1/predict/batch", "/api/predict/batch"]


def call_api(client: Client, url: str, **headers):
    if url in API_BATCHES:
        return client.post(url, json.dumps([CAT]), content_type="application/json", **headers)
    return client.get(url, **headers)


def api_statuses(client: Client, **headers) -> dict[str, int]:
    return {url: call_api(client, url, **headers).status_code for url in API_READS + API_BATCHES}


def expected_api(reads: int, batches: int) -> dict[str, int]:
    return {**dict.fromkeys(API_READS, reads), **dict.fromkeys(API_BATCHES, batches)}


API_BY_ROLE = {
    "staff, no group": expected_api(403, 403),
    "viewer": expected_api(200, 403),
    "labeller": expected_api(200, 403),
    "operator": expected_api(200, 200),
    "superuser": expected_api(200, 200),
}


@pytest.mark.parametrize("role", list(API_BY_ROLE))
def test_an_api_key_acts_with_its_owners_permissions(role, django_user_model, make_staff, trained_version):
    owner = account(django_user_model, make_staff, role)
    _key, secret = api_keys.create_key(name=role, created_by=owner)
    assert api_statuses(Client(), HTTP_X_API_KEY=secret) == API_BY_ROLE[role]
    assert api_statuses(Client(), HTTP_AUTHORIZATION=f"Bearer {secret}") == API_BY_ROLE[role]


@pytest.mark.parametrize("role", ROLES)
def test_a_session_reaches_the_api_as_its_permissions_say(role, django_user_model, make_staff, trained_version):
    client = client_as(account(django_user_model, make_staff, role))
    expected = {"anonymous": expected_api(401, 401), "not staff": expected_api(403, 403), **API_BY_ROLE}[role]
    assert api_statuses(client) == expected
    refused = call_api(client, "/api/v1/predict/batch")
    if refused.status_code in {401, 403}:
        assert set(refused.json()) == {"detail", "errors", "request_id"}  # the API's error shape, not HTML


def test_without_a_key_only_the_single_prediction_answers(client, trained_version):
    assert api_statuses(client) == expected_api(401, 401)
    assert client.post("/api/v1/predict", CAT, content_type="application/json").status_code == 200
    assert Prediction.objects.count() == 1  # the refused batches stored nothing


def demote(user):
    user.is_staff = False
    user.save()


def deactivate(user):
    user.is_active = False
    user.save()


@pytest.mark.parametrize(
    "change", [demote, deactivate, lambda user: user.delete()], ids=["demoted", "deactivated", "deleted"]
)
def test_a_key_stops_working_the_moment_its_owner_cannot_use_it(change, make_staff, trained_version):
    owner = make_staff("operator", group="operator")
    _key, secret = api_keys.create_key(name="nightly", created_by=owner)
    assert api_statuses(Client(), HTTP_X_API_KEY=secret) == expected_api(200, 200)
    change(owner)
    assert api_statuses(Client(), HTTP_X_API_KEY=secret) == expected_api(401, 401)
    response = Client().get("/api/v1/models", HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert "no longer active staff" in response.json()["detail"]


def test_an_expired_key_is_refused_and_told_so(operator, trained_version):
    api_key, secret = api_keys.create_key(
        name="temp", created_by=operator, expires_at=timezone.now() + timedelta(hours=1)
    )
    assert api_statuses(Client(), HTTP_X_API_KEY=secret) == expected_api(200, 200)
    ApiKey.objects.filter(pk=api_key.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert api_statuses(Client(), HTTP_X_API_KEY=secret) == expected_api(401, 401)
    response = Client().get("/api/v1/predictions", HTTP_X_API_KEY=secret)
    assert response.json()["detail"] == "This API key expired; ask an operator for a new one."


def test_a_revoked_key_is_refused_on_every_endpoint(operator, trained_version):
    api_key, secret = api_keys.create_key(name="old", created_by=operator)
    api_keys.revoke(api_key, user=operator)
    assert api_statuses(Client(), HTTP_X_API_KEY=secret) == expected_api(401, 401)


def test_a_key_made_without_an_owner_does_not_work(trained_version):
    _key, secret = api_keys.create_key(name="orphan", created_by=None)
    assert api_statuses(Client(), HTTP_X_API_KEY=secret) == expected_api(401, 401)


# --- API keys in the admin -----------------------------------------------------------------------


def test_the_secret_is_shown_once_on_the_answer_and_never_in_a_cookie(operator_client):
    response = operator_client.post(reverse("admin:predictor_apikey_add"), {"name": "nightly report"})
    assert response.status_code == 200
    secret = response.context["secret"]
    assert secret in response.content.decode()
    assert "no-store" in response["Cache-Control"]
    assert all(secret not in morsel.OutputString() for morsel in response.cookies.values())
    later = operator_client.get(reverse("admin:predictor_apikey_changelist"))
    assert secret not in later.content.decode()
    assert all(secret not in morsel.OutputString() for morsel in later.cookies.values())
    assert all(secret not in str(value) for value in operator_client.session.values())
    assert Client().get("/api/v1/models", HTTP_X_API_KEY=secret).status_code == 200


def test_an_expiry_set_in_the_admin_is_kept(operator_client):
    when = timezone.now() + timedelta(days=30)
    form = {"name": "temp", "expires_at_0": when.strftime("%Y-%m-%d"), "expires_at_1": when.strftime("%H:%M:%S")}
    assert operator_client.post(reverse("admin:predictor_apikey_add"), form).status_code == 200
    assert ApiKey.objects.get().expires_at is not None


def test_view_only_staff_cannot_revoke_a_key(make_staff, operator):
    api_key, secret = api_keys.create_key(name="prod", created_by=operator)
    onlooker = make_staff("onlooker")
    onlooker.user_permissions.add(Permission.objects.get(codename="view_apikey"))
    client = client_as(onlooker)
    changelist = reverse("admin:predictor_apikey_changelist")
    assert client.get(changelist).status_code == 200
    assert "revoke_keys" not in client.get(changelist).content.decode()
    client.post(changelist, {"action": "revoke_keys", ACTION_CHECKBOX_NAME: [api_key.pk]})
    api_key.refresh_from_db()
    assert api_key.revoked_at is None

    client_as(operator).post(changelist, {"action": "revoke_keys", ACTION_CHECKBOX_NAME: [api_key.pk]})
    api_key.refresh_from_db()
    assert api_key.revoked_at is not None


def test_every_admin_action_names_its_permission():
    from django.contrib import admin

    from predictor.models import AuditEvent as Audit

    for model in (Prediction, ModelVersion, ApiKey, Audit):
        model_admin = admin.site._registry[model]
        for name in model_admin.actions:
            action = getattr(model_admin, name)
            assert getattr(action, "allowed_permissions", None), f"{model.__name__}.{name} has no permissions="


# --- The audit trail -----------------------------------------------------------------------------


def events() -> list[tuple[str, str, str]]:
    return [(event.action, event.username, event.target) for event in AuditEvent.objects.order_by("id")]


def test_labelling_from_the_page_and_the_admin_is_audited(make_staff, trained_version):
    first, second = store_prediction(trained_version), store_prediction(trained_version)
    labeller = client_as(make_staff("labeller", group="labeller"))
    labeller.post(reverse("predictor:label", args=[first.pk]), {"species": "Dog"})
    labeller.post(
        reverse("admin:predictor_prediction_changelist"),
        {"action": "label_cat", ACTION_CHECKBOX_NAME: [first.pk, second.pk]},
    )
    assert events() == [("label", "labeller", f"#{first.pk}"), ("label", "labeller", "2 predictions")]
    assert AuditEvent.objects.order_by("id").last().details == {
        "species": "Cat",
        "count": 2,
        "prediction_ids": [first.pk, second.pk],
    }


def test_activation_api_keys_and_retraining_are_audited(operator, operator_client, make_version, tmp_path):
    old = make_version()
    make_version(is_active=True)
    changelist = reverse("admin:predictor_modelversion_changelist")
    operator_client.post(changelist, {"action": "activate", ACTION_CHECKBOX_NAME: [old.pk]})
    operator_client.post(reverse("admin:predictor_apikey_add"), {"name": "nightly"})
    api_key = ApiKey.objects.get()
    operator_client.post(
        reverse("admin:predictor_apikey_changelist"), {"action": "revoke_keys", ACTION_CHECKBOX_NAME: [api_key.pk]}
    )
    data = tmp_path / "small.csv"
    data.write_text(
        "Height,Weight,Species\n" + "".join(f"{20 + n},{4 + n % 3},Cat\n{60 + n},{30 + n % 3},Dog\n" for n in range(6))
    )
    retrained = training.train(data_path=data, activate=False).version

    assert events() == [
        ("activate", "operator", str(old)),
        ("api_key_created", "operator", str(api_key)),
        ("api_key_revoked", "operator", str(api_key)),
        ("retrain", "", str(retrained)),
    ]
    activation = AuditEvent.objects.get(action="activate")
    assert activation.details == {"version": old.version, "previous_version": old.version + 1}
    assert AuditEvent.objects.get(action="retrain").who == "command line"


def test_the_audit_trail_is_read_only_in_the_admin_and_for_operators(make_staff, operator, operator_client):
    api_keys.create_key(name="k", created_by=operator)
    event = AuditEvent.objects.get()
    changelist = reverse("admin:predictor_auditevent_changelist")
    change = reverse("admin:predictor_auditevent_change", args=[event.pk])
    assert "created an API key" in operator_client.get(changelist).content.decode()
    page = operator_client.get(change).content.decode()
    assert 'name="_save"' not in page and "operator" in page
    assert operator_client.get(reverse("admin:predictor_auditevent_add")).status_code == 403
    assert operator_client.post(reverse("admin:predictor_auditevent_delete", args=[event.pk])).status_code == 403
    operator_client.post(change, {"action": "label", "target": "forged"})
    assert AuditEvent.objects.get().target == str(ApiKey.objects.get())
    assert client_as(make_staff("viewer", group="viewer")).get(changelist).status_code == 403


# --- The groups ----------------------------------------------------------------------------------


def test_the_migration_made_the_groups_the_code_describes():
    migration = importlib.import_module("predictor.migrations.0007_permission_groups")
    frozen = {name: {f"predictor.{codename}" for codename in codes} for name, codes in migration.GROUPS.items()}
    assert frozen == {name: set(granted) for name, granted in permissions.GROUPS.items()}
    for name in permissions.GROUPS:
        group = permission_group(name)
        held = {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.select_related("content_type")}
        assert held == set(permissions.GROUPS[name])
    assert Group.objects.filter(name__in=permissions.GROUPS).count() == 3


def test_the_history_offers_label_buttons_and_upload_only_to_those_allowed(make_staff, trained_version):
    prediction = store_prediction(trained_version)
    label_url = reverse("predictor:label", args=[prediction.pk])
    upload_url = reverse("predictor:batch_upload")
    pages = {
        role: client_as(make_staff(role, group=role)).get(reverse("predictor:history")).content.decode()
        for role in ("viewer", "labeller", "operator")
    }
    assert [label_url in pages[role] for role in pages] == [False, True, True]
    assert [upload_url in pages[role] for role in pages] == [False, False, True]


def test_a_batch_without_a_cookie_is_asked_to_authenticate_and_a_cookie_needs_the_csrf_token(operator, trained_version):
    anonymous = Client(enforce_csrf_checks=True)
    assert call_api(anonymous, "/api/v1/predict/batch").status_code == 401  # not "CSRF check failed"
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(operator)
    assert call_api(browser, "/api/v1/predict/batch").status_code == 403  # a cross-site form can't use the session
    assert not Prediction.objects.exists()
