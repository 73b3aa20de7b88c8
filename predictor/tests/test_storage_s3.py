"""Artifacts, training pictures and kept uploads on real S3 object storage (SeaweedFS on loopback).

The site is pointed at the bucket the way an operator points it (mlsite.settings.s3_storage, or the
DJANGO_S3_* variables for another process); these tests then look behind its back with a plain
S3 client: what is in the bucket, and what happens when an object is altered or gone.
"""

import csv
import hashlib
import io
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from datetime import timedelta

import pytest
from botocore.config import Config
from django.core.files.storage import StorageHandler, storages
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from mlsite.settings import s3_storage
from predictor.history import batch
from predictor.models import ModelVersion
from predictor.registry import artifacts, training
from predictor.serving import model_service
from predictor.tests.live_server import PROJECT_DIR, running_server
from predictor.tests.load import BrowserLikeClient

pytestmark = pytest.mark.django_db

CAT = {"height": 78, "weight": 37}  # what the shipped data set calls a cat, and below a dog
DOG = {"height_cm": 89, "weight_kg": 48}
STORES = ("ml_artifacts", "batch_uploads")

DATABASE_URL = os.environ.get("DATABASE_URL", "")


def bucket_storage(s3_server, *, location: str, **overrides) -> dict:
    """The STORAGES entry for ``location`` in the test server's bucket, as the settings would make it."""
    credentials = {
        "bucket": s3_server.bucket,
        "endpoint_url": s3_server.endpoint_url,
        "region": s3_server.region,
        "access_key": s3_server.access_key,
        "secret_key": s3_server.secret_key,
    }
    return s3_storage(location=location, **{**credentials, **overrides})


@pytest.fixture(scope="module")
def bucket_stores(s3_server):
    """Both stores in the bucket under this module's prefix, made once: each S3 storage's boto3 session costs 0.2 s."""
    prefix = f"test-{uuid.uuid4().hex[:12]}"
    entries = {alias: bucket_storage(s3_server, location=f"{prefix}/{alias}") for alias in STORES}
    handler = StorageHandler(entries)
    return prefix, entries, {alias: handler[alias] for alias in STORES}


@pytest.fixture
def s3_prefix(s3_server, bucket_stores, settings, artifact_storage, batch_uploads_storage):
    """Points both stores at the bucket (after conftest's local folders); empties the prefix afterwards."""
    prefix, entries, instances = bucket_stores
    settings.STORAGES = {**settings.STORAGES, **entries}
    storages._storages.update(instances)  # the same settings: the module's instances, sessions made
    yield prefix
    for key in s3_server.keys(f"{prefix}/"):
        s3_server.client.delete_object(Bucket=s3_server.bucket, Key=key)


def stored_version(trained_model, *, version: int = 1) -> ModelVersion:
    """The trained model saved through artifacts (read back and verified) with its picture, active."""
    name, digest = artifacts.save(trained_model.artifact)
    picture = artifacts.save_picture(trained_model.picture, artifact_name=name)
    artifacts.save_picture(trained_model.picture[::-1], artifact_name=name, scheme="dark")
    fields = {**trained_model.fields, "artifact_name": name, "artifact_sha256": digest, "picture_name": picture}
    return ModelVersion.objects.create(version=version, is_active=True, activated_at=timezone.now(), **fields)


def object_bytes(s3_server, key: str) -> bytes:
    return s3_server.client.get_object(Bucket=s3_server.bucket, Key=key)["Body"].read()


def test_a_stored_model_is_in_the_bucket_as_recorded_and_nothing_is_in_the_local_folder(
    s3_server, s3_prefix, trained_model, tmp_path
):
    version = stored_version(trained_model)

    key = f"{s3_prefix}/ml_artifacts/{version.artifact_name}"
    assert hashlib.sha256(object_bytes(s3_server, key)).hexdigest() == version.artifact_sha256
    assert f"{s3_prefix}/ml_artifacts/{version.picture_name}" in s3_server.keys(s3_prefix)
    assert not (tmp_path / "ml_artifacts").exists()
    assert model_service.predict(CAT).model.version == version.version


@pytest.mark.slow  # a fresh interpreter importing Django, scikit-learn and boto3: seconds
def test_another_process_with_an_empty_local_folder_loads_the_model_from_the_bucket(
    s3_server, s3_prefix, trained_model, tmp_path
):
    version = stored_version(trained_model)
    script = (
        "import django, json, sys; django.setup()\n"
        "from django.core.files.storage import storages\n"
        "from predictor.registry import artifacts\n"
        "name, sha256, sklearn_version = sys.argv[1:]\n"
        "store = storages['ml_artifacts']\n"
        "artifact = artifacts.load(name, expected_sha256=sha256, saved_with=sklearn_version)\n"
        "print(json.dumps({'species': list(artifact.estimator.predict([[78.0, 37.0], [89.0, 48.0]])),\n"
        "    'backend': type(store).__name__, 'acl': store.default_acl, 'overwrite': store.file_overwrite}))\n"
    )
    empty = tmp_path / "empty"
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "DATABASE_URL", "AWS_"))}
    env |= s3_server.site_env(prefix=s3_prefix)
    env |= {"DJANGO_SETTINGS_MODULE": "mlsite.settings", "DJANGO_READ_DOT_ENV": "0", "DJANGO_SECRET_KEY": "x" * 50}
    env |= {"ML_ARTIFACTS_DIR": str(empty), "DJANGO_SQLITE_PATH": str(tmp_path / "unused.sqlite3")}

    loaded = subprocess.run(
        [sys.executable, "-c", script, version.artifact_name, version.artifact_sha256, version.sklearn_version],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert loaded.returncode == 0, loaded.stderr
    answer = json.loads(loaded.stdout)
    assert answer == {"species": ["Cat", "Dog"], "backend": "S3Storage", "acl": None, "overwrite": False}
    assert not empty.exists()


def test_a_tampered_object_is_refused_and_not_unpickled(s3_server, s3_prefix, trained_model):
    version = stored_version(trained_model)
    key = f"{s3_prefix}/ml_artifacts/{version.artifact_name}"
    s3_server.client.put_object(Bucket=s3_server.bucket, Key=key, Body=object_bytes(s3_server, key)[:-10])

    with pytest.raises(model_service.ModelNotReady, match="truncated or altered"):
        model_service.predict(CAT)


def test_a_missing_object_is_refused_with_the_reason(s3_server, s3_prefix, trained_model):
    version = stored_version(trained_model)
    s3_server.client.delete_object(Bucket=s3_server.bucket, Key=f"{s3_prefix}/ml_artifacts/{version.artifact_name}")

    with pytest.raises(model_service.ModelNotReady, match="missing from the artifact storage"):
        model_service.predict(CAT)


def test_an_unreachable_bucket_is_refused_with_the_reason(s3_server, s3_prefix, trained_model, settings):
    stored_version(trained_model)
    unreachable = bucket_storage(s3_server, location=f"{s3_prefix}/ml_artifacts", endpoint_url="http://127.0.0.1:9")
    # Nothing listens on port 9: refused at once, so no retries (the site's back off for seconds).
    unreachable["OPTIONS"]["client_config"] = Config(retries={"total_max_attempts": 1})
    settings.STORAGES = {**settings.STORAGES, "ml_artifacts": unreachable}

    with pytest.raises(model_service.ModelNotReady, match="cannot be read: Could not connect"):
        model_service.predict(CAT)


def test_when_the_artifact_cannot_be_stored_no_version_is_recorded(s3_server, s3_prefix, settings):
    refused = bucket_storage(s3_server, location=f"{s3_prefix}/ml_artifacts", secret_key="not-the-secret")
    settings.STORAGES = {**settings.STORAGES, "ml_artifacts": refused}

    with pytest.raises(artifacts.ArtifactError, match="refused .*(403|Forbidden|SignatureDoesNotMatch)"):
        training.train(activate=True)
    assert not ModelVersion.objects.exists()
    assert s3_server.keys(s3_prefix) == []
    # The command says so in one line (no traceback), and nothing changes.
    with pytest.raises(CommandError, match="artifact storage refused"):
        call_command("train_model")
    assert not ModelVersion.objects.exists()


def test_objects_are_private_to_the_credentials(s3_server, s3_prefix, trained_model):
    version = stored_version(trained_model)
    url = f"{s3_server.endpoint_url}/{s3_server.bucket}/{s3_prefix}/ml_artifacts/{version.artifact_name}"

    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(url, timeout=10)
    assert refused.value.code == 403


def test_the_training_picture_is_served_from_the_bucket_to_staff_only(
    s3_prefix, trained_model, operator_client, client
):
    version = stored_version(trained_model)
    light = reverse("predictor:model_picture", args=[version.version])
    dark = reverse("predictor:model_picture_dark", args=[version.version])

    response = operator_client.get(light)
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert b"".join(response.streaming_content) == trained_model.picture
    assert b"".join(operator_client.get(dark).streaming_content) == trained_model.picture[::-1]
    assert client.get(light).status_code == 302  # to the log-in page, never the bucket


def test_a_batch_upload_is_kept_in_the_bucket_and_downloaded_from_it(
    s3_server, s3_prefix, trained_model, operator_client, client
):
    stored_version(trained_model)
    batch_id = batch.predict_file(b"Height,Weight\n78,37\n89,48\n")

    assert s3_server.keys(f"{s3_prefix}/batch_uploads/") == [f"{s3_prefix}/batch_uploads/{batch_id}.csv"]
    download = reverse("predictor:batch_download", args=[batch_id])
    response = operator_client.get(download)
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [(row["Height"], row["predicted_species"]) for row in rows] == [("78", "Cat"), ("89", "Dog")]
    assert client.get(download).status_code == 302


def test_retention_deletes_old_uploads_from_the_bucket(s3_server, s3_prefix, trained_model, settings):
    stored_version(trained_model)
    batch_id = batch.predict_file(b"Height,Weight\n78,37\n")
    uploads = storages["batch_uploads"]
    assert uploads.exists(f"{batch_id}.csv")

    assert batch.delete_old_uploads() == 0  # a fresh upload is kept
    later = timezone.now() + timedelta(days=settings.BATCH_UPLOAD_RETENTION_DAYS, minutes=1)
    assert batch.delete_old_uploads(now=later) == 1

    assert s3_server.keys(f"{s3_prefix}/batch_uploads/") == []
    with pytest.raises(FileNotFoundError):
        list(batch.results_csv(batch_id))


@pytest.mark.slow
def test_a_site_on_the_bucket_serves_its_model_and_survives_a_tampered_new_one(s3_server):
    with running_server(workers=2, database_url=DATABASE_URL, s3=s3_server) as server:
        browser = BrowserLikeClient(server.base_url)
        browser.open_form()
        assert browser.submit(78, 37) == (200, True)
        server.manage("train_model", "--no-activate")
        artifact = server.query("SELECT artifact_name FROM predictor_modelversion WHERE version = 2")[0][0]
        prefix = server.env["DJANGO_S3_ARTIFACTS_PREFIX"]
        key = f"{prefix}/{artifact}"
        s3_server.client.put_object(Bucket=s3_server.bucket, Key=key, Body=object_bytes(s3_server, key)[:-10])
        server.manage("activate_model", "2")

        statuses = [browser.submit(80 + i * 0.01, 40) for i in range(10)]

        assert statuses == [(200, True)] * 10
        versions = server.query(
            "SELECT DISTINCT v.version FROM predictor_prediction p "
            "JOIN predictor_modelversion v ON v.id = p.model_version_id"
        )
        assert versions == [(1,)]
        assert not (server.workdir / "artifacts").exists()


def test_an_s3_variable_without_a_bucket_stops_start_up_naming_it(tmp_path):
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_S3_", "AWS_"))}
    env |= {"DJANGO_S3_ENDPOINT_URL": "http://127.0.0.1:9", "DJANGO_SQLITE_PATH": str(tmp_path / "unused.sqlite3")}

    started = subprocess.run(
        [sys.executable, "-c", "import mlsite.settings"], cwd=PROJECT_DIR, env=env, capture_output=True, text=True
    )

    assert started.returncode != 0
    assert "DJANGO_S3_ENDPOINT_URL set but DJANGO_S3_BUCKET is not" in started.stderr
