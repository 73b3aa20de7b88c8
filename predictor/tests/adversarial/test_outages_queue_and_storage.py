"""Issue 26, point 1: the job queue's Redis and the S3 bucket made unreachable under a running site.

Each is paused (kill -STOP: the kernel still accepts connections, nothing answers, as when a
firewall blackholes it), not mocked, so the timeouts are the site's own. Meanwhile the form and
the API predict and store every answer, starting a job or keeping an upload is refused with a
reason and stores nothing, and /healthz says which part is down; once it answers again, work resumes.
"""

import json
import shutil
import time
import urllib.request
import uuid

import pytest
from django.core.files.storage import StorageHandler, storages
from django.core.files.uploadedfile import SimpleUploadedFile

from mlsite.settings import rq_queues, s3_storage
from predictor.jobs import queue
from predictor.models import Job, Prediction
from predictor.ops import storage_probe
from predictor.registry import artifacts
from predictor.tests.live_server import running_server, start_worker
from predictor.tests.load import LoadReport, fire
from predictor.tests.redis_server import running_redis
from predictor.web.views.batches import STORAGE_UNREACHABLE
from predictor.web.views.model_versions import PICTURE_UNREACHABLE

pytestmark = pytest.mark.django_db

FORM = {"height": "40", "weight": "12.5"}
ONE = {"height_cm": 40, "weight_kg": 12.5}
PREDICT = "/api/v1/predict"
UPLOAD = "/predictions/upload/"
CSV = b"Height,Weight\n77,36\n90,48\n"
STORES = ("ml_artifacts", "batch_uploads")
# A request waits at most one connect or read timeout per try, two tries: far below a proxy's minute.
QUEUE_TIMEOUT_SECONDS = 0.5


def upload(client):
    return client.post(UPLOAD, {"file": SimpleUploadedFile("animals.csv", CSV, content_type="text/csv")})


def predict_a_few(client, *, count: int = 4) -> list[int]:
    """``count`` form submissions and ``count`` API predictions, one after another; their status codes."""
    answers = []
    for _ in range(count):
        answers.append(client.post("/", FORM).status_code)
        answers.append(client.post(PREDICT, json.dumps(ONE), content_type="application/json").status_code)
    return answers


# --- The job queue on a Redis that does not answer ---


@pytest.fixture
def rq_on_own_redis(settings):
    """The site's jobs on RQ, on a redis-server of this test's (the counters stay in the database)."""
    if shutil.which("redis-server") is None:
        pytest.skip("needs redis-server on PATH")
    with running_redis() as server:
        settings.JOBS_BACKEND = "rq"
        settings.REDIS_URL = server.url
        settings.REDIS_TIMEOUT_SECONDS = QUEUE_TIMEOUT_SECONDS
        settings.RQ_QUEUES = rq_queues(server.url, timeout_seconds=QUEUE_TIMEOUT_SECONDS)
        settings.TASKS = {"default": {"BACKEND": "django_tasks_rq.RQBackend"}}
        yield server


def test_with_the_queue_paused_a_batch_upload_fails_fast_with_the_reason_and_predictions_go_on(
    client, operator_client, trained_version, rq_on_own_redis, batch_uploads_storage
):
    assert client.get("/healthz").json()["queue"] == "ok"
    rq_on_own_redis.pause()
    try:
        began = time.monotonic()
        response = upload(operator_client)
        waited = time.monotonic() - began
        answers = predict_a_few(client)
        health = client.get("/healthz")
    finally:
        rq_on_own_redis.resume()

    assert response.status_code == 302  # to the job's page, which says why it failed
    job = Job.objects.get()
    assert (job.status, job.error) == (Job.Status.FAILED, str(queue.QUEUE_UNREACHABLE))
    assert waited < 6 * QUEUE_TIMEOUT_SECONDS + 2
    page = operator_client.get(response["Location"]).content.decode()
    assert str(queue.QUEUE_UNREACHABLE) in page
    assert not Prediction.objects.filter(source=Prediction.Source.BATCH).exists()
    assert batch_uploads_storage.listdir("")[1] == []  # the kept upload went with the failed job
    assert answers == [200] * 8
    assert Prediction.objects.count() == 8
    assert health.status_code == 200
    assert health.json()["status"] == "degraded"
    assert health.json()["queue"].startswith("Redis unavailable (TimeoutError)")


def test_when_the_queue_answers_again_a_batch_upload_is_queued(
    client, operator_client, trained_version, rq_on_own_redis
):
    import redis

    rq_on_own_redis.pause()
    try:
        upload(operator_client)
    finally:
        rq_on_own_redis.resume()

    response = upload(operator_client)

    assert response.status_code == 302
    job = Job.objects.get(pk=response["Location"].strip("/").split("/")[-1])
    assert job.status == Job.Status.QUEUED and job.task_id
    assert redis.Redis.from_url(rq_on_own_redis.url).llen("rq:queue:default") == 1  # only the second
    health = client.get("/healthz").json()
    assert (health["status"], health["queue"]) == ("ok", "ok")


# --- The bucket that does not answer ---


@pytest.fixture(scope="module")
def own_s3_server(tmp_path_factory):
    """A SeaweedFS of this module's own: paused by its tests, so never the one the rest of the run shares."""
    from predictor.tests.s3_server import running_s3_server

    with running_s3_server(tmp_path_factory.mktemp("seaweedfs-outage")) as server:
        # A first artifact-sized write and read with time to spare: a fresh SeaweedFS may take longer
        # than the tests' one-second timeout to place its first real object (seen once in CI).
        client = server.new_client()
        client.put_object(Bucket=server.bucket, Key="warm-up/model.joblib", Body=b"0" * 200_000)
        client.get_object(Bucket=server.bucket, Key="warm-up/model.joblib")["Body"].read()
        client.delete_object(Bucket=server.bucket, Key="warm-up/model.joblib")
        yield server


@pytest.fixture
def stores_in_own_bucket(own_s3_server, settings, artifact_storage, batch_uploads_storage):
    """Both stores in the bucket under a prefix of this test's, with a one-second timeout and a fast probe."""
    prefix = f"outage-{uuid.uuid4().hex[:12]}"
    credentials = {
        "bucket": own_s3_server.bucket,
        "endpoint_url": own_s3_server.endpoint_url,
        "region": own_s3_server.region,
        "access_key": own_s3_server.access_key,
        "secret_key": own_s3_server.secret_key,
        "timeout_seconds": 1,
    }
    entries = {alias: s3_storage(location=f"{prefix}/{alias}", **credentials) for alias in STORES}
    settings.STORAGES = {**settings.STORAGES, **entries}
    handler = StorageHandler(entries)
    storages._storages.update({alias: handler[alias] for alias in STORES})
    settings.STORAGE_PROBE_SECONDS = 0.5
    settings.STORAGE_PROBE_TIMEOUT_SECONDS = 0.5
    yield prefix
    resume(own_s3_server)  # were a test to fail while it is paused
    storage_probe.forget()


def resume(server) -> None:
    """Let the paused server go on, and wait until it has caught up with what it was sent meanwhile."""
    from botocore.config import Config

    server.resume()
    client = server.new_client(Config(connect_timeout=1, read_timeout=1, retries={"total_max_attempts": 1}))
    deadline = time.monotonic() + 30
    while True:
        try:
            client.head_bucket(Bucket=server.bucket)
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@pytest.fixture
def version_in_bucket(make_version, stores_in_own_bucket, trained_model, client):
    """The trained model's artifact in the bucket, active, and loaded by this process (one prediction)."""
    name, digest = artifacts.save(trained_model.artifact)
    version = make_version(is_active=True, artifact_name=name, artifact_sha256=digest)
    assert client.post("/", FORM).status_code == 200
    return version


@pytest.mark.slow  # a SeaweedFS of its own, paused and waited for
def test_with_the_bucket_paused_predictions_answer_and_health_says_storage_is_down(
    client, version_in_bucket, own_s3_server, settings
):
    assert client.get("/healthz").json()["storage"] == "ok"
    own_s3_server.pause()
    try:
        time.sleep(settings.STORAGE_PROBE_SECONDS)  # the last probe's "ok" stands until then
        began = time.monotonic()
        first = client.get("/healthz")
        probed = time.monotonic() - began
        began = time.monotonic()
        second = client.get("/healthz")
        cached = time.monotonic() - began
        answers = predict_a_few(client)
    finally:
        resume(own_s3_server)

    assert answers == [200] * 8  # the model is in this process's memory: the bucket is not asked
    assert Prediction.objects.count() == 1 + 8
    assert first.status_code == second.status_code == 200  # it still predicts: kept in rotation
    assert first.json()["status"] == "degraded"
    assert "ml_artifacts: bucket mlsite-tests unavailable (ReadTimeoutError)" in first.json()["storage"]
    assert second.json()["storage"] == first.json()["storage"]
    assert probed < 2.5  # one HEAD per bucket, half a second each at most, no retry
    assert cached < 0.5  # within the probe period the last answer is given, the bucket not asked


@pytest.mark.slow  # a SeaweedFS of its own, paused and waited for
def test_with_the_bucket_paused_an_upload_is_a_503_with_the_reason_and_starts_no_job(
    client, operator_client, version_in_bucket, own_s3_server, stores_in_own_bucket
):
    own_s3_server.pause()
    try:
        response = upload(operator_client)
    finally:
        resume(own_s3_server)

    assert response.status_code == 503
    assert response["Content-Type"].startswith("text/html")
    assert response.context["form"].errors["file"] == [str(STORAGE_UNREACHABLE)]
    assert not Job.objects.exists()
    assert not Prediction.objects.filter(source=Prediction.Source.BATCH).exists()
    time.sleep(0.5)  # were the server to store what it was sent while paused, it would show by now
    assert own_s3_server.keys(f"{stores_in_own_bucket}/batch_uploads/") == []


@pytest.mark.slow  # a SeaweedFS of its own, paused and waited for
def test_with_the_bucket_paused_a_training_upload_and_a_picture_are_503s_not_500s(
    operator_client, version_in_bucket, own_s3_server, trained_model
):
    version_in_bucket.picture_name = artifacts.save_picture(
        trained_model.picture, artifact_name=version_in_bucket.artifact_name
    )
    version_in_bucket.save(update_fields=["picture_name"])
    training_file = SimpleUploadedFile("animals.csv", CSV * 1, content_type="text/csv")
    own_s3_server.pause()
    try:
        retrain = operator_client.post(
            "/models/retrain/", {"data": "upload", "file": training_file, "algorithm": "GaussianNB"}
        )
        picture = operator_client.get("/models/1/picture.png")
    finally:
        resume(own_s3_server)

    assert retrain.status_code == 503
    assert retrain.context["retrain_form"].errors["file"] == [str(STORAGE_UNREACHABLE)]
    assert not Job.objects.exists()
    assert (picture.status_code, picture["Content-Type"]) == (503, "text/plain; charset=utf-8")
    assert picture.content.decode() == str(PICTURE_UNREACHABLE)


@pytest.mark.slow  # a SeaweedFS of its own, paused and waited for
def test_when_the_bucket_answers_again_uploads_are_kept_and_health_is_ok(
    client, operator_client, version_in_bucket, own_s3_server, stores_in_own_bucket, settings
):
    settings.JOBS_BACKEND = "immediate"
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
    own_s3_server.pause()
    try:
        assert upload(operator_client).status_code == 503
        assert client.get("/healthz").json()["status"] == "degraded"
    finally:
        resume(own_s3_server)
    time.sleep(settings.STORAGE_PROBE_SECONDS)

    response = upload(operator_client)

    assert response.status_code == 302
    job = Job.objects.get()
    assert job.status == Job.Status.SUCCEEDED
    assert Prediction.objects.filter(source=Prediction.Source.BATCH).count() == 2
    kept = own_s3_server.keys(f"{stores_in_own_bucket}/batch_uploads/")
    assert f"{stores_in_own_bucket}/batch_uploads/{job.arguments['upload_name']}" in kept
    health = client.get("/healthz").json()
    assert (health["status"], health["storage"]) == ("ok", "ok")


# --- Under load: a live gunicorn, a real RQ worker, the part paused while visitors predict ---

START_JOB = """
import json, time
from predictor.history import batch
began = time.monotonic()
job = batch.start_job(__import__("io").BytesIO(b"Height,Weight\\n" + b"77,36\\n90,48\\n" * 50), user=None)
print(json.dumps({"id": str(job.pk), "status": job.status, "error": job.error, "seconds": time.monotonic() - began}))
"""


def start_job(server) -> dict:
    """A batch job of 100 rows started as the upload page starts one, in a process of the site's."""
    done = server.manage("shell", "-c", START_JOB)
    return json.loads(done.stdout.strip().splitlines()[-1])


def local_health(server) -> dict:
    with urllib.request.urlopen(f"{server.base_url}/healthz", timeout=30) as response:
        return json.loads(response.read())  # from loopback: every part by name


def stored_rows(server, source: str) -> int:
    [(count,)] = server.query(f"SELECT count(*) FROM predictor_prediction WHERE source = '{source}'")  # nosec B608
    return count


def predict_under_load(server, *, requests: int = 60, clients: int = 6) -> LoadReport:
    report = LoadReport()
    fire(server, report, requests=requests, clients=clients)
    return report


def wait_for(condition, *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def job_status(server, job_id: str) -> str:
    [(status,)] = server.query(f"SELECT status FROM predictor_job WHERE id = '{job_id.replace('-', '')}'")  # nosec B608
    return status


@pytest.mark.slow
def test_a_live_site_with_its_queue_paused_predicts_under_load_refuses_jobs_and_runs_them_once_back():
    if shutil.which("redis-server") is None:
        pytest.skip("needs redis-server on PATH")
    with running_redis() as redis_server:
        env = {"DJANGO_TASKS_BACKEND": "rq", "REDIS_URL": redis_server.url, "JOB_LEASE_SECONDS": "5"}
        with running_server(workers=2, extra_env=env) as server:
            worker = start_worker(server)
            try:
                first = start_job(server)
                wait_for(lambda: job_status(server, first["id"]) == "succeeded", timeout=60, what="the first job")

                redis_server.pause()
                try:
                    during = start_job(server)
                    report = predict_under_load(server)
                    health = local_health(server)
                finally:
                    redis_server.resume()

                assert (during["status"], during["error"]) == ("failed", str(queue.QUEUE_UNREACHABLE))
                assert during["seconds"] < 6 * QUEUE_TIMEOUT_SECONDS + 2
                assert (health["status"], health["database"]) == ("degraded", "ok")
                assert health["queue"].startswith("Redis unavailable")
                assert report.statuses == {200: 60} and report.errors == []
                assert stored_rows(server, "form") == report.succeeded == 60

                after = start_job(server)
                wait_for(lambda: job_status(server, after["id"]) == "succeeded", timeout=60, what="the job after")
            finally:
                worker.stop()
            assert job_status(server, during["id"]) == "failed"  # never run, even had Redis taken it late
            assert stored_rows(server, "batch") == 100 + 100  # the first job's and the last one's, once each
            assert local_health(server)["queue"] == "ok"


@pytest.mark.slow
def test_a_live_site_with_its_bucket_paused_predicts_under_load_and_health_says_storage_is_down(own_s3_server):
    env = {"DJANGO_S3_TIMEOUT_SECONDS": "1", "DJANGO_S3_PROBE_SECONDS": "0.5", "DJANGO_S3_PROBE_TIMEOUT_SECONDS": "0.5"}
    # One process with threads: each process loads the model once, so one that had not yet could not now.
    with running_server(workers=1, extra_env=env, s3=own_s3_server) as server:
        warm_up = predict_under_load(server, requests=5, clients=1)
        assert local_health(server)["storage"] == "ok"

        own_s3_server.pause()
        try:
            time.sleep(0.5)  # the probe period: the last "ok" stands until then
            report = predict_under_load(server)
            health = local_health(server)
        finally:
            resume(own_s3_server)

        assert report.statuses == {200: 60} and report.errors == [] and report.succeeded == 60
        assert stored_rows(server, "form") == warm_up.succeeded + report.succeeded
        assert (health["status"], health["model"]) == ("degraded", "v1")
        assert "unavailable" in health["storage"]
        wait_for(lambda: local_health(server)["storage"] == "ok", timeout=10, what="the probe to see the bucket")
