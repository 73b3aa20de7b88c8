import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.urls import reverse

from predictor import model_service, training
from predictor.models import ModelVersion

pytestmark = pytest.mark.django_db


def active_numbers() -> list[int]:
    return list(ModelVersion.objects.active().values_list("version", flat=True))


def test_rollback_command_is_served_by_the_running_service_within_one_check():
    training.train()
    training.train()
    assert model_service.active_model().version == 2

    call_command("activate_model", "1", stdout=StringIO())
    assert active_numbers() == [1]
    time.sleep(settings.ML_MODEL_CHECK_SECONDS + 0.05)
    assert model_service.predict(height_cm=80, weight_kg=40).model.version == 1


def test_admin_action_rolls_back_to_the_selected_version(admin_client):
    first = training.train().version
    training.train()
    assert model_service.active_model().version == 2

    response = admin_client.post(
        reverse("admin:predictor_modelversion_changelist"),
        {"action": "activate", ACTION_CHECKBOX_NAME: [first.pk]},
        follow=True,
    )
    assert "Model v1 is now active; running servers serve it within a second." in response.content.decode()
    assert active_numbers() == [1]
    time.sleep(settings.ML_MODEL_CHECK_SECONDS + 0.05)
    assert model_service.active_model().version == 1


def test_admin_action_needs_exactly_one_version(admin_client):
    versions = [training.train().version for _ in range(2)]
    response = admin_client.post(
        reverse("admin:predictor_modelversion_changelist"),
        {"action": "activate", ACTION_CHECKBOX_NAME: [v.pk for v in versions]},
        follow=True,
    )
    assert "Select exactly one version to make active." in response.content.decode()
    assert active_numbers() == [2]


def test_admin_action_is_offered_only_to_staff_allowed_to_change_versions(client, django_user_model):
    training.train()
    viewer = django_user_model.objects.create_user("viewer", password="pw-viewer-123", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_modelversion"))
    client.force_login(viewer)
    url = reverse("admin:predictor_modelversion_changelist")
    assert "Make the selected version active" not in client.get(url).content.decode()

    viewer.user_permissions.add(Permission.objects.get(codename="change_modelversion"))
    assert "Make the selected version active" in client.get(url).content.decode()


# --- The same rollback against real server processes: gunicorn, two workers, a SQLite file ---

BASE_DIR = Path(settings.BASE_DIR)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def manage(env: dict, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def served_version(port: int) -> str:
    """The version the form page says it answers with ("Answering with model v2.")."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
        page = response.read().decode()
    return re.search(r"model (v\d+)", page).group(1)


@pytest.mark.slow
def test_running_server_serves_a_rollback_within_one_second(tmp_path):
    env = {
        **os.environ,
        "DATABASE_URL": "",
        "DJANGO_SQLITE_PATH": str(tmp_path / "db.sqlite3"),
        "ML_ARTIFACTS_DIR": str(tmp_path / "artifacts"),
        "ML_MODEL_CHECK_SECONDS": "1",
    }
    manage(env, "migrate", "--noinput")
    manage(env, "train_model")
    manage(env, "train_model")
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "mlsite.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "2"],
        cwd=BASE_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                assert served_version(port) == "v2"
                break
            except OSError:
                assert time.monotonic() < deadline, "gunicorn did not start within 60 s"
                time.sleep(0.2)
        for _ in range(6):  # both workers have loaded v2
            assert served_version(port) == "v2"

        assert "v1 is now active" in manage(env, "activate_model", "1")
        activated_at = time.monotonic()
        # Every worker asks the database at most a second after its last check, so a second after
        # the commit every request, whichever worker takes it, is answered by v1.
        time.sleep(max(0.0, activated_at + 1.05 - time.monotonic()))
        assert [served_version(port) for _ in range(8)] == ["v1"] * 8
    finally:
        server.terminate()
        server.wait(timeout=30)
