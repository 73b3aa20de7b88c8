import copy
from dataclasses import dataclass
from typing import Any

import django
import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import Group, Permission
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.db import transaction
from django.db.models import Max
from django.test import Client, override_settings
from django.utils import timezone

from predictor.models import ModelVersion
from predictor.ops import api_keys, permissions
from predictor.registry import training
from predictor.serving import model_service


def _temporary_storage(settings, alias: str, location) -> Any:
    settings.STORAGES = {
        **settings.STORAGES,
        # The hashed-name manifest exists only after collectstatic; tests render without it.
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        alias: {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": location, "base_url": None},
        },
    }
    storage = storages[alias]
    assert storage.location == str(location)
    return storage


@pytest.fixture(autouse=True)
def artifact_storage(tmp_path, settings):
    """Every test trains into, and loads from, its own temporary artifact storage."""
    return _temporary_storage(settings, "ml_artifacts", tmp_path / "ml_artifacts")


@pytest.fixture(autouse=True)
def batch_uploads_storage(tmp_path, settings):
    """Uploaded batch CSVs are kept in a temporary directory, never in batch_uploads/."""
    return _temporary_storage(settings, "batch_uploads", tmp_path / "batch_uploads")


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    """A real S3 server (SeaweedFS on loopback), started once per run, by the first test that asks for it."""
    from predictor.tests.s3_server import running_s3_server

    with running_s3_server(tmp_path_factory.mktemp("seaweedfs")) as server:
        yield server


@pytest.fixture(autouse=True)
def fast_password_hasher(settings):
    """Users created by tests get a cheap hash: the real PBKDF2 costs a noticeable fraction of a second per user."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def fresh_model_cache():
    """The service keeps its model per process; without this, one test's model leaks into the next."""
    model_service.clear_cache()
    yield
    model_service.clear_cache()


@dataclass(frozen=True)
class TrainedModel:
    """What training the shipped data set produced: the artifact, its picture and the version's fields."""

    artifact: bytes
    picture: bytes
    fields: dict[str, Any]


# Given afresh to each version a test makes, never copied from the one training made.
PER_VERSION_FIELDS = {
    "id",
    "model_id",
    "version",
    "artifact_name",
    "picture_name",
    "created_at",
    "is_active",
    "activated_at",
}


@pytest.fixture(scope="session")
def trained_model(django_db_setup, django_db_blocker, tmp_path_factory) -> TrainedModel:
    """The shipped data set trained once per run, into a throw-away storage, in a rolled-back transaction."""
    location = tmp_path_factory.mktemp("trained_model")
    storage_settings = {
        **django_settings.STORAGES,
        "ml_artifacts": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": location, "base_url": None},
        },
    }
    with django_db_blocker.unblock(), override_settings(STORAGES=storage_settings), transaction.atomic():
        version = training.train().version
        storage = storages["ml_artifacts"]
        with storage.open(version.artifact_name, "rb") as artifact, storage.open(version.picture_name, "rb") as picture:
            trained = TrainedModel(
                artifact=artifact.read(),
                picture=picture.read(),
                fields={
                    field.attname: getattr(version, field.attname)
                    for field in ModelVersion._meta.concrete_fields
                    if field.attname not in PER_VERSION_FIELDS
                },
            )
        transaction.set_rollback(True)
    return trained


@pytest.fixture
def make_version(db, artifact_storage, trained_model):
    """Makes model version rows like the trained one, numbered on from the newest.

    ``make_version()`` is a row only (its artifact is not stored: enough for lists, filters and
    foreign keys); ``make_version(stored=True, is_active=True)`` can also be loaded and served.
    Keyword arguments override any field.
    """

    def make(*, stored: bool = False, **overrides: Any) -> ModelVersion:
        number = overrides.pop("version", None)
        if number is None:
            number = (ModelVersion.objects.aggregate(newest=Max("version"))["newest"] or 0) + 1
        # A deep copy: the JSON fields are dicts that a test may change in place.
        fields = {**copy.deepcopy(trained_model.fields), "artifact_name": f"model-v{number}.joblib", **overrides}
        if stored:
            name = artifact_storage.save(fields["artifact_name"], ContentFile(trained_model.artifact))
            picture = ContentFile(trained_model.picture)
            picture_name = artifact_storage.save(name.removesuffix(".joblib") + ".png", picture)
            fields.update(artifact_name=name, picture_name=picture_name)
        if fields.get("is_active"):
            fields.setdefault("activated_at", timezone.now())
            ModelVersion.objects.active().update(is_active=False)
        return ModelVersion.objects.create(version=number, **fields)

    return make


@pytest.fixture
def trained_version(make_version):
    """The shipped data set's model, stored in the temporary storage and active (trained once per run)."""
    return make_version(stored=True, is_active=True)


@pytest.fixture
def three_models(tmp_path, trained_version):
    """The animals model (trained_version), iris, wine and fruit (predictor.tests.tabular), all served at once."""
    from predictor.tests.tabular import train_three_models

    train_three_models(tmp_path)
    return trained_version


def permission_group(name: str) -> Group:
    """One of the groups migration 0007 made (viewer, labeller, operator), remade if a test flushed it."""
    group, created = Group.objects.get_or_create(name=name)
    if created:
        for permission in permissions.GROUPS[name]:
            app_label, codename = permission.split(".")
            group.permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    return group


@pytest.fixture
def make_staff(db, django_user_model):
    """Makes an active staff account, in one of the permission groups or (group=None) in none.

    ``make_staff("ann", group="labeller")``; other keyword arguments set user fields.
    """

    def make(username: str, *, group: str | None = None, **fields: Any):
        fields.setdefault("is_staff", True)
        user = django_user_model.objects.create_user(username, password=f"pw-{username}-for-tests", **fields)
        if group:
            user.groups.add(permission_group(group))
        return user

    return make


@pytest.fixture
def operator(make_staff):
    return make_staff("operator", group="operator")


@pytest.fixture
def operator_client(operator):
    """A client logged in as an operator: may do everything the site offers staff except the admin's user pages."""
    client = Client()
    client.force_login(operator)
    return client


@pytest.fixture
def key_client(operator):
    """A client that sends an operator's API key with every request (what a program predicting batches does)."""
    _api_key, secret = api_keys.create_key(name="tests", created_by=operator)
    return Client(HTTP_X_API_KEY=secret)


def pytest_collection_modifyitems(items):
    # Tests marked sql_plan pin SQL and query-plan text as one Django version writes it; on any
    # other version they still run but may fail (xfail) until someone re-reads them and moves the
    # marker's version on.
    running = "{}.{}".format(*django.VERSION[:2])
    for item in items:
        marker = item.get_closest_marker("sql_plan")
        if marker and marker.kwargs.get("django") != running:
            reason = (
                f"SQL text pinned for Django {marker.kwargs.get('django')}, running {running}: "
                "re-check the plans, then update the sql_plan marker"
            )
            item.add_marker(pytest.mark.xfail(reason=reason, strict=False))
