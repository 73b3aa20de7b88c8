import os
import re
import time
import urllib.request
from io import StringIO

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.urls import reverse

from predictor.models import ModelVersion
from predictor.serving import model_service
from predictor.tests.live_server import running_server

pytestmark = pytest.mark.django_db


def active_numbers() -> list[int]:
    return list(ModelVersion.objects.active().values_list("version", flat=True))


def test_rollback_command_is_served_by_the_running_service_within_one_check(make_version, settings):
    settings.ML_MODEL_CHECK_SECONDS = 0  # check at every call; the interval itself is tested on gunicorn below
    make_version(stored=True, is_active=True)
    make_version(stored=True, is_active=True)
    assert model_service.active_model().version == 2

    call_command("activate_model", "1", stdout=StringIO())
    assert active_numbers() == [1]
    assert model_service.predict({"height": 80, "weight": 40}).model.version == 1


def test_admin_action_rolls_back_to_the_selected_version(admin_client, make_version, settings):
    settings.ML_MODEL_CHECK_SECONDS = 0
    first = make_version(stored=True, is_active=True)
    make_version(stored=True, is_active=True)
    assert model_service.active_model().version == 2

    response = admin_client.post(
        reverse("admin:predictor_modelversion_changelist"),
        {"action": "activate", ACTION_CHECKBOX_NAME: [first.pk]},
        follow=True,
    )
    assert "Model v1 is now active; running servers serve it within a second." in response.content.decode()
    assert active_numbers() == [1]
    assert model_service.active_model().version == 1


def test_admin_action_needs_exactly_one_version(admin_client, make_version):
    versions = [make_version(is_active=True) for _ in range(2)]
    response = admin_client.post(
        reverse("admin:predictor_modelversion_changelist"),
        {"action": "activate", ACTION_CHECKBOX_NAME: [v.pk for v in versions]},
        follow=True,
    )
    assert "Select exactly one version to make active." in response.content.decode()
    assert active_numbers() == [2]


def test_admin_action_is_offered_only_to_staff_allowed_to_change_versions(client, django_user_model, make_version):
    make_version(is_active=True)
    viewer = django_user_model.objects.create_user("viewer", password="pw-viewer-123", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_modelversion"))
    client.force_login(viewer)
    url = reverse("admin:predictor_modelversion_changelist")
    assert "Make the selected version active" not in client.get(url).content.decode()

    viewer.user_permissions.add(Permission.objects.get(codename="change_modelversion"))
    assert "Make the selected version active" in client.get(url).content.decode()


# --- The same rollback against real server processes: gunicorn, two workers, a throw-away database ---


def served_version(base_url: str) -> str:
    """The version the form page says it answers with ("Answering with model v2.")."""
    with urllib.request.urlopen(f"{base_url}/", timeout=5) as response:
        page = response.read().decode()
    return re.search(r"model (v\d+)", page).group(1)


@pytest.mark.slow
def test_running_server_serves_a_rollback_within_one_second():
    database_url = os.environ.get("DATABASE_URL", "")
    with running_server(workers=2, database_url=database_url, extra_env={"ML_MODEL_CHECK_SECONDS": "1"}) as server:
        assert "v2" in server.manage("train_model").stdout
        time.sleep(1.05)
        for _ in range(6):  # both workers have loaded v2
            assert served_version(server.base_url) == "v2"

        assert "v1 is now active" in server.manage("activate_model", "1").stdout
        activated_at = time.monotonic()
        # Every worker asks the database at most a second after its last check, so a second after
        # the commit every request, whichever worker takes it, is answered by v1.
        time.sleep(max(0.0, activated_at + 1.05 - time.monotonic()))
        assert [served_version(server.base_url) for _ in range(8)] == ["v1"] * 8
