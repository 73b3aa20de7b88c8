import datetime as dt
import uuid
from collections import Counter

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from prometheus_client import REGISTRY

from predictor import jobs
from predictor.history import batch
from predictor.models import Job, ModelVersion, PendingBatch, Prediction

pytestmark = pytest.mark.django_db

CSV = b"Height,Weight\n77,36\n90,48\n78,37\n"


def csv_file(content: bytes = CSV, name: str = "animals.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="text/csv")


def queued_batch_job(user=None, content: bytes = CSV) -> Job:
    """A batch job recorded and its file kept, as the upload page leaves it, but not yet run."""
    from django.core.files.storage import storages

    batch_id = uuid.uuid4()
    name = storages[batch.UPLOADS_STORAGE].save(f"{batch_id}.csv", csv_file(content))
    arguments = {"batch_id": str(batch_id), "upload_name": name, "rows": content.count(b"\n") - 1}
    return Job.objects.create(kind=Job.Kind.BATCH, arguments=arguments, created_by=user)


def test_an_upload_runs_as_a_job_and_its_page_leads_to_the_summary(operator_client, trained_version):
    response = operator_client.post(reverse("predictor:batch_upload"), {"file": csv_file()})
    job = Job.objects.get()
    assert response["Location"] == reverse("predictor:job", args=[job.pk])
    assert (job.status, job.progress_done, job.progress_total, job.attempts) == ("succeeded", 3, 3, 1)
    assert job.created_by.username == "operator"
    page = operator_client.get(response["Location"], follow=True)
    assert "3 rows predicted with model v1" in page.content.decode()
    assert Prediction.objects.filter(batch_id=job.outcome["batch_id"]).count() == 3
    assert not PendingBatch.objects.exists()


def test_a_batch_is_out_of_sight_until_its_job_succeeds(operator, trained_version):
    job = queued_batch_job(operator)
    batch_id = job.arguments["batch_id"]
    seen_while_running = []

    def report(self, done, total=None):
        seen_while_running.append(
            (done, Prediction.objects.count(), Prediction.with_unpublished.filter(batch_id=batch_id).count())
        )
        return original(self, done, total)

    original = jobs.Progress.report
    jobs.Progress.report = report
    try:
        assert jobs.run(str(job.pk)) == "succeeded"
    finally:
        jobs.Progress.report = original
    # Stored chunk by chunk, progress moving, and none of it visible until the end.
    assert [visible for _done, visible, _stored in seen_while_running] == [0] * len(seen_while_running)
    assert seen_while_running[-1][0] == 3
    assert Prediction.objects.count() == 3
    client = Client()
    client.force_login(operator)
    assert client.get(reverse("predictor:batch_result", args=[batch_id])).status_code == 200


def test_the_job_page_of_a_running_job_shows_its_progress_and_the_script(operator, operator_client):
    job = Job.objects.create(kind=Job.Kind.BATCH, status="running", progress_done=2500, progress_total=10000)
    page = operator_client.get(reverse("predictor:job", args=[job.pk]))
    html = page.content.decode()
    assert '<progress id="job-progress" max="10000" value="2500"' in html
    assert "2500 of 10000 rows stored" in html
    assert "predictor/job.js" in html and "style=" not in html
    status = operator_client.get(reverse("predictor:job_status", args=[job.pk])).json()
    assert status["progress"] == {"done": 2500, "total": 10000, "percent": 25}
    assert (status["status"], status["finished"]) == ("running", False)


def test_a_bad_cell_fails_the_job_with_the_line_and_stores_nothing(operator_client, trained_version, monkeypatch):
    # A file too long to check before it is queued (here: once line 2 is checked, the time is up).
    monkeypatch.setattr(batch, "PRE_QUEUE_CHECK_SECONDS", 0)
    monkeypatch.setattr(batch, "PRE_QUEUE_CHECK_CHUNK_ROWS", 1)
    response = operator_client.post(
        reverse("predictor:batch_upload"), {"file": csv_file(b"Height,Weight\n77,36\n8,x\n")}
    )
    job = Job.objects.get()
    assert job.status == "failed"
    assert job.error == "Line 3, column Weight: 'x' is not a number."
    page = operator_client.get(response["Location"]).content.decode()
    assert "Nothing from this file was stored." in page
    assert not Prediction.with_unpublished.exists()
    assert not PendingBatch.objects.exists()


def test_an_attempt_handed_on_by_the_reaper_stores_nothing_more(operator, trained_version, settings):
    job = queued_batch_job(operator)
    Job.objects.filter(pk=job.pk).update(status="running", attempts=1, lease_expires_at=timezone.now())
    stale = jobs.Progress(job_id=job.pk, attempt=1)
    assert jobs.reap_expired(now=timezone.now() + dt.timedelta(seconds=1)) == 1
    job.refresh_from_db()
    assert (job.status, job.attempts) == ("succeeded", 2)  # queued again, and run (the immediate backend)
    with pytest.raises(jobs.JobLost):
        stale.report(1)
    assert Prediction.objects.count() == 3  # once, not twice


def test_the_reaper_fails_a_job_after_its_last_attempt_and_removes_its_rows(operator, trained_version, settings):
    settings.JOB_MAX_ATTEMPTS = 1
    job = queued_batch_job(operator)
    batch_id = uuid.UUID(job.arguments["batch_id"])
    PendingBatch.objects.create(batch_id=batch_id, job=job)
    Prediction.with_unpublished.create(
        inputs={"height": 77, "weight": 36},
        species="Cat",
        probability=1,
        probabilities={"Cat": 1.0},
        model_version=trained_version,
        source="batch",
        batch_id=batch_id,
    )  # a chunk the killed worker had committed
    Job.objects.filter(pk=job.pk).update(status="running", attempts=1, lease_expires_at=timezone.now())
    assert jobs.reap_expired(now=timezone.now() + dt.timedelta(seconds=1)) == 1
    job.refresh_from_db()
    assert job.status == "failed"
    assert "stopped 1 times before finishing it; nothing was stored" in job.error
    assert not Prediction.with_unpublished.exists() and not PendingBatch.objects.exists()


def test_a_job_is_claimed_once(operator, trained_version):
    job = queued_batch_job(operator)
    assert jobs.run(str(job.pk)) == "succeeded"
    assert jobs.run(str(job.pk)) == ""  # a second delivery of the same task finds nothing to do
    assert Prediction.objects.count() == 3


def test_counts_by_status_names_every_status(db):
    Job.objects.create(kind=Job.Kind.BATCH, status="failed")
    Job.objects.create(kind=Job.Kind.BATCH, status="failed")
    Job.objects.create(kind=Job.Kind.RETRAIN)
    assert jobs.counts_by_status() == {"queued": 1, "running": 0, "succeeded": 0, "failed": 2}


def test_the_api_shows_a_job_to_those_who_may_see_it(operator, key_client, make_staff, trained_version):
    job = queued_batch_job(operator)
    jobs.run(str(job.pk))
    body = key_client.get(f"/api/v1/jobs/{job.pk}").json()
    assert (body["status"], body["progress"]["done"], body["outcome"]["rows"]) == ("succeeded", 3, 3)
    assert Client().get(f"/api/v1/jobs/{job.pk}").status_code == 401
    outsider = Client()
    outsider.force_login(make_staff("nobody"))
    assert outsider.get(f"/api/v1/jobs/{job.pk}").status_code == 403
    assert key_client.get(f"/api/v1/jobs/{uuid.uuid4()}").status_code == 404


def test_job_pages_are_for_staff_who_may_see_the_kind(client, make_staff, operator):
    job = Job.objects.create(kind=Job.Kind.RETRAIN, created_by=operator)
    page = reverse("predictor:job", args=[job.pk])
    assert client.get(page).status_code == 302  # to the log-in page
    client.force_login(make_staff("nobody"))
    assert client.get(page).status_code == 403
    assert client.get(reverse("predictor:job_status", args=[job.pk])).status_code == 403


def test_retraining_from_the_models_page_shows_the_gate_decision(operator_client, trained_version):
    page = operator_client.get(reverse("predictor:model_list")).content.decode()
    assert 'action="/models/retrain/"' in page
    response = operator_client.post(reverse("predictor:retrain"), {"data": "shipped", "algorithm": "GaussianNB"})
    job = Job.objects.get(kind=Job.Kind.RETRAIN)
    assert job.status == "succeeded", job.error
    assert ModelVersion.objects.get(training_job=job).version == job.outcome["version"] == 2
    html = operator_client.get(response["Location"]).content.decode()
    assert "v2 is now active. Its cross-validated accuracy 70.0% on 10 rows beats the majority-class guess" in html
    assert "the new version&#x27;s 70.0% is at least that." in html


def test_a_retraining_that_loses_the_gate_keeps_the_active_version_and_says_why(operator_client, trained_version):
    # The same rows minus nearly every Dog: a worse model than the active one on its own folds.
    rows = "Height,Weight,Species\n" + "".join(f"{30 + i % 20},{4 + i % 5},Cat\n" for i in range(40))
    rows += "".join(f"{31 + i % 20},{4 + i % 5},Dog\n" for i in range(5))
    upload = SimpleUploadedFile("mixed.csv", rows.encode(), content_type="text/csv")
    response = operator_client.post(
        reverse("predictor:retrain"), {"data": "upload", "file": upload, "algorithm": "KNeighborsClassifier"}
    )
    job = Job.objects.get(kind=Job.Kind.RETRAIN)
    assert job.status == "succeeded", job.error
    html = operator_client.get(response["Location"]).content.decode()
    if not job.outcome["activated"]:
        assert "Active v1 was kept" in html
    assert ModelVersion.objects.get(training_job=job).training_data_name == "mixed.csv"


def test_a_retraining_on_a_bad_file_fails_with_the_reason(operator_client, trained_version):
    upload = SimpleUploadedFile("bad.csv", b"Height,Weight\n1,2\n", content_type="text/csv")
    operator_client.post(reverse("predictor:retrain"), {"data": "upload", "file": upload, "algorithm": "GaussianNB"})
    job = Job.objects.get()
    assert job.status == "failed"
    assert job.error.startswith("The training data was refused: bad.csv")
    assert ModelVersion.objects.count() == 1


def test_retraining_needs_the_retrain_permission(make_staff, trained_version):
    labeller = Client()
    labeller.force_login(make_staff("labeller", group="labeller"))
    assert 'action="/models/retrain/"' not in labeller.get(reverse("predictor:model_list")).content.decode()
    assert (
        labeller.post(reverse("predictor:retrain"), {"data": "shipped", "algorithm": "GaussianNB"}).status_code == 403
    )
    assert not Job.objects.exists()


def batch_count(species: str, version: int = 1) -> float:
    labels = {"model": "animals", "model_version": str(version), "species": species, "source": "batch"}
    return REGISTRY.get_sample_value("mlsite_predictions_total", labels) or 0.0


def test_a_batch_job_is_counted_once_when_published(
    operator, trained_version, settings, django_capture_on_commit_callbacks
):
    settings.JOB_BATCH_CHUNK_ROWS = 1  # three chunks, three commits: still one count of three rows
    job = queued_batch_job(operator)
    before = {species: batch_count(species) for species in ("Cat", "Dog")}
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        assert jobs.run(str(job.pk)) == "succeeded"
    stored = Counter(Prediction.objects.values_list("species", flat=True))
    assert {species: batch_count(species) - before[species] for species in before} == {
        species: stored[species] for species in before
    }
    assert sum(stored.values()) == 3
    assert len([callback for callback in callbacks if "count" in callback.__qualname__]) == 1


def test_a_batch_job_that_fails_after_storing_chunks_is_never_counted(
    operator, trained_version, settings, monkeypatch, django_capture_on_commit_callbacks
):
    settings.JOB_BATCH_CHUNK_ROWS = 1
    job = queued_batch_job(operator)
    report = jobs.Progress.report

    def fail_at_the_second_chunk(self, done, total=None):
        if done == 2:
            raise RuntimeError("the disk is full")
        return report(self, done, total)

    monkeypatch.setattr(jobs.Progress, "report", fail_at_the_second_chunk)
    before = {species: batch_count(species) for species in ("Cat", "Dog")}
    with django_capture_on_commit_callbacks(execute=True):
        assert jobs.run(str(job.pk)) == "failed"
    assert {species: batch_count(species) for species in before} == before
    assert not Prediction.with_unpublished.exists()


def test_the_admin_lists_jobs_read_only_for_operators(operator_client, operator, make_staff):
    job = Job.objects.create(kind=Job.Kind.BATCH, status="running", progress_done=2500, progress_total=10000)
    Job.objects.create(kind=Job.Kind.RETRAIN, status="failed", created_by=operator, error="no data")
    listing = operator_client.get("/admin/predictor/job/")
    assert listing.status_code == 200
    html = listing.content.decode()
    assert "2,500 of 10,000 (25%)" in html and "operator" in html
    assert html.count('class="field-kind"') == 2
    detail = operator_client.get(f"/admin/predictor/job/{job.pk}/change/")
    assert detail.status_code == 200
    assert 'name="status"' not in detail.content.decode()  # shown, not editable
    assert operator_client.post(f"/admin/predictor/job/{job.pk}/change/", {"status": "failed"}).status_code == 403
    assert operator_client.get(f"/admin/predictor/job/{job.pk}/delete/").status_code == 403
    assert operator_client.get("/admin/predictor/job/add/").status_code == 403
    job.refresh_from_db()
    assert job.status == "running"
    outsider = Client()
    outsider.force_login(make_staff("nobody"))
    assert outsider.get("/admin/predictor/job/").status_code == 403


def test_a_retraining_job_reports_its_steps_before_it_ends(operator_client, trained_version, monkeypatch):
    seen = []
    report = jobs.Progress.report

    def watched(self, done, total=None):
        report(self, done, total)
        job = Job.objects.get(pk=self.job_id)
        seen.append((job.status, job.progress_done, job.progress_total))

    monkeypatch.setattr(jobs.Progress, "report", watched)
    operator_client.post(reverse("predictor:retrain"), {"data": "shipped", "algorithm": "GaussianNB"})
    job = Job.objects.get(kind=Job.Kind.RETRAIN)
    assert job.status == "succeeded", job.error
    assert seen, "no progress was reported"
    assert all(status == "running" and total > 0 for status, _done, total in seen)
    # Reading, 5 folds each for the new version, the majority-class guess, v1's algorithm and the
    # prediction sets' calibration, fitting, recording, drawing.
    assert seen[0] == ("running", 0, 24)
    assert any(0 < done < total for _status, done, total in seen)
    assert [done for _status, done, _total in seen] == sorted(done for _status, done, _total in seen)
    assert (job.progress_done, job.progress_total) == (24, 24)
    Job.objects.filter(pk=job.pk).update(status="running", progress_done=3, finished_at=None)
    page = operator_client.get(reverse("predictor:job", args=[job.pk])).content.decode()
    assert "3 of 24 steps done (reading, folds, fitting, recording)" in page
