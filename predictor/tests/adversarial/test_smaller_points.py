"""Issue 26, point 7: the smaller findings, each re-run as found and shown fixed.

An admin action posted with ``_selected_action=abc`` was a 500; the canary share took non-ASCII
digits (``١٠``); CSV downloads carried no ``Cache-Control: private, no-store``; a killed
worker's task-result row stayed RUNNING forever. (A repeated Height column and a NUL byte in a
CSV are in test_uploads.py; gunicorn's banner and header limits in test_error_pages.py.)
"""

import datetime as dt
import uuid

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone
from django_tasks.base import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from predictor import jobs
from predictor.models import ApiKey, AuditEvent, Candidate, Job, ModelVersion, Prediction
from predictor.tests.test_jobs import queued_batch_job

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser_client(django_user_model):
    user = django_user_model.objects.create_superuser("root", "root@example.com", "pw-root-for-tests")
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


@pytest.mark.parametrize(
    ("changelist", "action"),
    [
        ("/admin/predictor/prediction/", "export_csv"),
        ("/admin/predictor/modelversion/", "activate"),
        ("/admin/predictor/apikey/", "revoke_keys"),
        ("/admin/auth/user/", "delete_selected"),
        ("/admin/auth/group/", "delete_selected"),
        ("/admin/axes/accessattempt/", "delete_selected"),
    ],
)
@pytest.mark.parametrize("selected", [["abc"], ["1", "abc"], ["1e3"], [str(uuid.uuid4())]])
def test_an_admin_action_on_a_selection_that_is_not_ids_changes_nothing(
    superuser_client, trained_version, changelist, action, selected
):
    response = superuser_client.post(changelist, {"action": action, ACTION_CHECKBOX_NAME: selected, "index": "0"})

    assert response.status_code == 302
    page = superuser_client.get(response["Location"]).content.decode()
    assert "not an item of this list; nothing was changed" in page
    assert ModelVersion.objects.active().get() == trained_version
    assert not AuditEvent.objects.exists()


def test_a_real_selection_still_runs_the_action(superuser_client, trained_version, make_version):
    newer = make_version(stored=True)
    response = superuser_client.post(
        "/admin/predictor/modelversion/", {"action": "activate", ACTION_CHECKBOX_NAME: [str(newer.pk)], "index": "0"}
    )
    assert response.status_code == 302
    assert ModelVersion.objects.active().get() == newer


@pytest.mark.parametrize("percent", ["١٠", "१०", "1٠", "10.0", "٫5"])
def test_a_canary_share_in_other_scripts_digits_is_refused(operator_client, make_version, percent):
    make_version(stored=True, is_active=True)
    candidate = make_version(stored=True)

    response = operator_client.post(f"/models/{candidate.version}/candidate/", {"action": "canary", "percent": percent})

    assert response.status_code == 400
    assert not Candidate.objects.exists() and not AuditEvent.objects.exists()


def test_a_canary_share_in_full_width_digits_reads_as_the_number_like_every_number_field(operator_client, make_version):
    make_version(stored=True, is_active=True)
    candidate = make_version(stored=True)

    operator_client.post(f"/models/{candidate.version}/candidate/", {"action": "canary", "percent": "１０"})

    assert Candidate.objects.get().canary_percent == 10


def test_the_foreign_digits_message_says_which_digits_to_use(operator_client, make_version):
    make_version(stored=True, is_active=True)
    candidate = make_version(stored=True)

    response = operator_client.post(f"/models/{candidate.version}/candidate/", {"action": "canary", "percent": "٢٠"})

    assert "Write the number with the digits 0–9." in response.content.decode()


def test_every_csv_download_is_private_and_not_stored(superuser_client, trained_version):
    superuser_client.post("/", {"height": "40", "weight": "12"})
    upload = SimpleUploadedFile("animals.csv", b"Height,Weight\n77,36\n", content_type="text/csv")
    job_page = superuser_client.post("/predictions/upload/", {"file": upload})
    batch_id = Job.objects.get().arguments["batch_id"]
    assert job_page.status_code == 302
    downloads = {
        "history": superuser_client.get("/predictions.csv"),
        "batch": superuser_client.get(f"/predictions/upload/{batch_id}/results.csv"),
        "admin": superuser_client.post(
            "/admin/predictor/prediction/",
            {"action": "export_csv", ACTION_CHECKBOX_NAME: [str(Prediction.objects.first().pk)], "index": "0"},
        ),
    }

    for name, response in downloads.items():
        assert response.status_code == 200, name
        assert response["Content-Type"].startswith("text/csv"), name
        directives = {directive.strip() for directive in response["Cache-Control"].split(",")}
        assert {"private", "no-store"} <= directives, name


@pytest.mark.parametrize("attempts_allowed", [2, 1])
def test_a_reaped_attempt_leaves_no_task_result_running_forever(operator, trained_version, settings, attempts_allowed):
    settings.JOBS_BACKEND = "database"  # the queue whose rows only the reaper can tell are dead
    settings.JOB_MAX_ATTEMPTS = attempts_allowed
    job = queued_batch_job(operator)
    task = DBTaskResult.objects.create(
        status=TaskResultStatus.RUNNING,
        args_kwargs={"args": [str(job.pk)], "kwargs": {}},
        task_path="predictor.jobs.queue.run_job",
        backend_name="default",
        run_after=timezone.now(),
        started_at=timezone.now(),
    )  # what the killed worker left
    Job.objects.filter(pk=job.pk).update(
        status="running", attempts=1, lease_expires_at=timezone.now(), task_id=str(task.pk)
    )

    assert jobs.reap_expired(now=timezone.now() + dt.timedelta(seconds=1)) == 1

    task.refresh_from_db()
    assert task.status == TaskResultStatus.FAILED
    assert task.finished_at is not None
    assert task.exception_class_path == "predictor.jobs.kinds.JobLost"
    assert "stopped; its lease ran out" in task.traceback
    assert not ApiKey.objects.exists()  # nothing else touched
