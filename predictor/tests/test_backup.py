import hashlib
import json
import os
import threading
import time
import urllib.error
import urllib.request
import uuid
from io import StringIO
from pathlib import Path

import psycopg
import pytest
from django.core.files.storage import storages
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client
from django.urls import reverse

from conftest import permission_group
from mlsite.settings import s3_storage
from predictor.history import batch, feedback, writer
from predictor.models import ModelVersion, Prediction
from predictor.ops import api_keys, backup
from predictor.registry import artifacts
from predictor.serving import model_service
from predictor.tests.live_server import running_server
from predictor.tests.load import BrowserLikeClient
from predictor.tests.tabular import IRIS_FLOWER

pytestmark = pytest.mark.django_db

INPUTS = [(30.0, 5.0), (85.0, 40.0), (60.0, 20.5)]


def fill_site(client, operator, key_client) -> str:
    """Answers from the form and the API, a kept batch upload, a label, and an API key; returns the key."""
    for height, weight in INPUTS[:2]:
        assert client.post(reverse("predictor:predict"), {"height": height, "weight": weight}).status_code in {200, 302}
    response = key_client.post("/api/v1/predict", {"height_cm": 60, "weight_kg": 20}, content_type="application/json")
    assert response.status_code == 200
    batch.predict_file(b"Height,Weight\n30,5\n90,45\n")
    feedback.label_predictions(prediction_ids=[Prediction.objects.earliest("id").pk], species="Cat", user=operator)
    _key, secret = api_keys.create_key(name="nightly report", created_by=operator)
    return secret


def site_contents() -> dict:
    """Every backed-up row and every stored file, as a restored site must hold them."""
    rows = {
        model._meta.label_lower: list(model._base_manager.order_by("pk").values_list())
        for model in backup.backed_up_models()
    }
    files = {}
    for alias in backup.STORAGE_ALIASES:
        storage = storages[alias]
        for name in backup.stored_names(storage):
            with storage.open(name, "rb") as stored:
                files[f"{alias}/{name}"] = hashlib.sha256(stored.read()).hexdigest()
    return {"rows": rows, "files": files}


def empty_the_site(settings, tmp_path) -> None:
    """What `migrate` leaves in a new database (the permission groups) and empty storages."""
    for model in reversed(backup.backed_up_models()):
        model._base_manager.all()._raw_delete(connection.alias)
    for name in ("viewer", "labeller", "operator"):
        permission_group(name)
    settings.STORAGES = {
        **settings.STORAGES,
        **{
            alias: {
                "BACKEND": "django.core.files.storage.FileSystemStorage",
                "OPTIONS": {"location": tmp_path / "new-site" / alias, "base_url": None},
            }
            for alias in backup.STORAGE_ALIASES
        },
    }
    model_service.clear_cache()


def test_a_restored_empty_site_holds_every_row_and_file_and_answers_the_same(
    client, operator, key_client, trained_version, settings, tmp_path
):
    secret = fill_site(client, operator, key_client)
    history_before = Client().get("/api/v1/predictions?page_size=100", HTTP_X_API_KEY=secret).json()
    answer_before = model_service.predict({"height": 60, "weight": 20})
    before = site_contents()
    out = StringIO()
    call_command("backup_site", str(tmp_path / "backup"), stdout=out)
    assert "Backed up" in out.getvalue()

    empty_the_site(settings, tmp_path)
    assert not Prediction.objects.exists()
    assert site_contents()["files"] == {}
    call_command("restore_site", str(tmp_path / "backup"), stdout=(out := StringIO()))
    assert "Restored" in out.getvalue()

    assert site_contents() == before
    answer_after = model_service.predict({"height": 60, "weight": 20})
    assert answer_after.model.version == answer_before.model.version
    assert answer_after.probabilities == answer_before.probabilities
    assert Client().get("/api/v1/predictions?page_size=100", HTTP_X_API_KEY=secret).json() == history_before
    # The restored site goes on numbering its rows after the restored ones.
    response = key_client.post("/api/v1/predict", {"height_cm": 60, "weight_kg": 20}, content_type="application/json")
    assert response.json()["id"] == max(row[0] for row in before["rows"]["predictor.prediction"]) + 1


def test_restore_refuses_a_site_that_holds_data_and_changes_nothing(trained_version, tmp_path):
    backup.backup_site(folder=tmp_path / "backup")
    before = site_contents()
    with pytest.raises(CommandError, match="already holds data .*1 model versions"):
        call_command("restore_site", str(tmp_path / "backup"), stdout=StringIO())
    assert site_contents() == before


def test_restore_refuses_an_unfinished_backup(tmp_path):
    (tmp_path / "backup" / "tables").mkdir(parents=True)
    with pytest.raises(CommandError, match="no manifest.json: it is not a backup, or the backup did not finish"):
        call_command("restore_site", str(tmp_path / "backup"), stdout=StringIO())


def test_restore_refuses_a_backup_made_at_other_migrations(trained_version, settings, tmp_path):
    backup.backup_site(folder=tmp_path / "backup")
    manifest_path = tmp_path / "backup" / backup.MANIFEST
    manifest = json.loads(manifest_path.read_text())
    manifest["migrations"].append(["predictor", "0099_from_the_future"])
    manifest_path.write_text(json.dumps(backup.signed(manifest)))  # as the site's own code would
    empty_the_site(settings, tmp_path)
    with pytest.raises(backup.BackupError, match=r"other migrations .*\+predictor.0099_from_the_future"):
        backup.restore_site(folder=tmp_path / "backup")


def test_backup_refuses_a_folder_that_holds_files(tmp_path):
    (tmp_path / "backup").mkdir()
    (tmp_path / "backup" / "old.txt").write_text("an older backup")
    with pytest.raises(CommandError, match="is not empty: back up into a new folder"):
        call_command("backup_site", str(tmp_path / "backup"), stdout=StringIO())


def test_backup_names_an_artifact_missing_from_storage(trained_version, artifact_storage, tmp_path):
    artifact_storage.delete(trained_version.picture_name)
    err = StringIO()
    call_command("backup_site", str(tmp_path / "backup"), stdout=StringIO(), stderr=err)
    assert f"{trained_version.picture_name} is named by a model version but missing from storage" in err.getvalue()


def point_stores_at_bucket(settings, s3_server, prefix: str) -> None:
    settings.STORAGES = {
        **settings.STORAGES,
        **{
            alias: s3_storage(
                bucket=s3_server.bucket,
                location=f"{prefix}/{alias}",
                endpoint_url=s3_server.endpoint_url,
                region=s3_server.region,
                access_key=s3_server.access_key,
                secret_key=s3_server.secret_key,
            )
            for alias in backup.STORAGE_ALIASES
        },
    }


def test_a_site_with_its_files_in_a_bucket_is_restored_into_an_empty_bucket(
    s3_server, trained_model, settings, tmp_path
):
    old_prefix, new_prefix = (f"backup-test-{uuid.uuid4().hex[:10]}-{name}" for name in ("old", "new"))
    point_stores_at_bucket(settings, s3_server, old_prefix)
    try:
        name, digest = artifacts.save(trained_model.artifact)
        picture = artifacts.save_picture(trained_model.picture, artifact_name=name)
        fields = {**trained_model.fields, "artifact_name": name, "artifact_sha256": digest, "picture_name": picture}
        ModelVersion.objects.create(version=1, is_active=True, **fields)
        batch.predict_file(b"Height,Weight\n30,5\n90,45\n")
        before = site_contents()
        assert len(before["files"]) == 2 + 1  # the artifact, its picture, the kept upload
        backup.backup_site(folder=tmp_path / "backup")

        empty_the_site(settings, tmp_path)
        point_stores_at_bucket(settings, s3_server, new_prefix)
        assert site_contents()["files"] == {}
        backup.restore_site(folder=tmp_path / "backup")

        assert site_contents() == before
        assert sorted(key.split("/", 1)[1] for key in s3_server.keys(f"{new_prefix}/")) == sorted(before["files"])
        assert model_service.predict({"height": 30, "weight": 5}).model.version == 1
    finally:
        for prefix in (old_prefix, new_prefix):
            for key in s3_server.keys(f"{prefix}/"):
                s3_server.client.delete_object(Bucket=s3_server.bucket, Key=key)


# --- The whole round trip on real servers: fill one site, back it up while it answers, restore into a new one ---


def postgres_url() -> str:
    url = os.environ.get("DATABASE_URL", "")
    url = url if url.startswith("postgres") else "postgres://postgres@127.0.0.1:5432/postgres"
    try:
        psycopg.connect(url, connect_timeout=3).close()
    except psycopg.OperationalError as error:
        pytest.skip(f"no PostgreSQL at {url}: {error}")
    return url


def call_api(base_url: str, path: str, *, body=None, key: str = "") -> tuple[int, dict | list]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base_url + path, data=data, headers={"Content-Type": "application/json"})
    if key:
        request.add_header("X-API-Key", key)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


FILL_SITE = """
from django.contrib.auth.models import Group, User
from predictor.history import batch, feedback, writer
from predictor.ops import api_keys
from predictor.models import Prediction
ann = User.objects.create_user("ann", password="a long password for ann", is_staff=True)
ann.groups.add(Group.objects.get(name="operator"))
batch.predict_file(b"Height,Weight\\n30,5\\n90,45\\n")
feedback.label_predictions(prediction_ids=[Prediction.objects.earliest("id").pk], species="Cat", user=ann)
print(api_keys.create_key(name="nightly report", created_by=ann)[1])
"""


def stored_rows(server) -> list[tuple]:
    """Every prediction row as stored, its probabilities parsed (SQLite keeps JSON as text, spaced either way)."""
    rows = server.query("SELECT * FROM predictor_prediction ORDER BY id")
    return [
        tuple(json.loads(value) if isinstance(value, str) and value.startswith("{") else value for value in row)
        for row in rows
    ]


def folder_digests(folder: Path) -> dict[str, str]:
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in sorted(folder.iterdir())}


@pytest.mark.slow
@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_a_site_restored_from_a_backup_taken_while_it_answers_serves_the_same(database, tmp_path):
    database_url = postgres_url() if database == "postgresql" else ""
    old_uploads, new_uploads = tmp_path / "old-uploads", tmp_path / "new-uploads"
    # Each throw-away site has a secret key of its own: the backup key is named on both, as docs/deployment.md says.
    signing = {"DJANGO_BACKUP_SIGNING_KEY": "the backup key of both sites"}
    old_env = {"BATCH_UPLOADS_DIR": str(old_uploads), **signing}
    with running_server(workers=2, database_url=database_url, extra_env=old_env) as old:
        visitor = BrowserLikeClient(old.base_url)
        visitor.open_form()
        assert visitor.submit(*INPUTS[0]) == (200, True)
        assert call_api(old.base_url, "/api/v1/predict", body={"height_cm": 85, "weight_kg": 40})[0] == 200
        secret = old.manage("shell", "-c", FILL_SITE).stdout.strip().splitlines()[-1]
        assert (
            call_api(old.base_url, "/api/v1/predict/batch", body=[{"height_cm": 40, "weight_kg": 9}], key=secret)[0]
            == 200
        )
        rows_before_backup = len(stored_rows(old))

        # Visitors keep predicting while the backup runs: it is a snapshot, whatever they add meanwhile.
        stop = threading.Event()
        statuses_meanwhile = []

        def predict_meanwhile() -> None:
            while not stop.wait(0.02):
                body = {"height_cm": 50, "weight_kg": 15}
                statuses_meanwhile.append(call_api(old.base_url, "/api/v1/predict", body=body)[0])

        traffic = threading.Thread(target=predict_meanwhile)
        traffic.start()
        try:
            backed_up = old.manage("backup_site", str(tmp_path / "backup"))
        finally:
            stop.set()
            traffic.join()
        assert "Backed up" in backed_up.stdout
        # The snapshot blocks no writer, SQLite's single write lock included.
        assert statuses_meanwhile and set(statuses_meanwhile) == {200}
        old_rows = stored_rows(old)
        old_versions = call_api(old.base_url, "/api/v1/models", key=secret)

        new_env = {"BATCH_UPLOADS_DIR": str(new_uploads), **signing}
        with running_server(workers=2, database_url=database_url, train=False, extra_env=new_env) as new:
            assert call_api(new.base_url, "/api/v1/predict", body={"height_cm": 85, "weight_kg": 40})[0] == 503
            restored = new.manage("restore_site", str(tmp_path / "backup"))
            assert "Restored" in restored.stdout, restored.stderr

            new_rows = stored_rows(new)
            assert rows_before_backup <= len(new_rows) <= len(old_rows)
            assert new_rows == old_rows[: len(new_rows)]  # the same rows, labels and times, none half-stored
            assert call_api(new.base_url, "/api/v1/models", key=secret) == old_versions  # the key still works
            status, history = call_api(new.base_url, "/api/v1/predictions?page_size=100", key=secret)
            assert status == 200
            assert history["count"] == len(new_rows)
            assert [item["id"] for item in history["items"]] == sorted((row[0] for row in new_rows), reverse=True)[:100]
            assert folder_digests(new.workdir / "artifacts") == folder_digests(old.workdir / "artifacts")
            for name, sha256 in new.query("SELECT artifact_name, artifact_sha256 FROM predictor_modelversion"):
                assert folder_digests(new.workdir / "artifacts")[name] == sha256
            assert folder_digests(new_uploads) == folder_digests(old_uploads)

            # Each worker asks which version is active once per ML_MODEL_CHECK_SECONDS (1 s): one that
            # answered "no model" just before the restore may say so for up to that long.
            time.sleep(1.5)
            answers = {}
            for server in (old, new):  # the same answers, from the same version
                for height, weight in INPUTS:
                    body = {"height_cm": height, "weight_kg": weight}
                    answers.setdefault(server.base_url, []).append(
                        call_api(server.base_url, "/api/v1/predict", body=body)[1]
                    )
            same = [(answer["model_version"], answer["probabilities"]) for answer in answers[old.base_url]]
            assert [(answer["model_version"], answer["probabilities"]) for answer in answers[new.base_url]] == same
            assert answers[new.base_url][0]["id"] == new_rows[-1][0] + 1  # numbering goes on after the restored rows


def test_a_backup_holds_every_model_and_a_restored_site_serves_them_all(three_models, settings, tmp_path):
    fruit = {"colour": "yellow", "weight_g": 120, "diameter_cm": 7}
    answers = {"iris": model_service.predict(IRIS_FLOWER, model="iris"), "fruit": model_service.predict(fruit, "fruit")}
    for answer in answers.values():
        writer.record_prediction(result=answer)
    before = site_contents()
    call_command("backup_site", str(tmp_path / "backup"), stdout=StringIO())
    empty_the_site(settings, tmp_path)
    call_command("restore_site", str(tmp_path / "backup"), stdout=StringIO())

    assert site_contents() == before
    assert sorted(ModelVersion.objects.active().values_list("model__slug", flat=True)) == [
        "animals",
        "fruit",
        "iris",
        "wine",
    ]
    assert model_service.predict(IRIS_FLOWER, model="iris").probabilities == answers["iris"].probabilities
    assert model_service.predict(fruit, model="fruit").species == answers["fruit"].species == "banana"
    assert set(Prediction.objects.values_list("model__slug", flat=True)) == {"iris", "fruit"}
