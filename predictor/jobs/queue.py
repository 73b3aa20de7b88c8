"""Starting jobs and handing them to a worker: the Tasks API's one task, and the reaper.

The Tasks API (the django-tasks backport) queues and runs one task per attempt; its body is
``runner.run``. ``reap_expired()``, run by every worker and by `manage.py reap_jobs`, queues again
(or fails, after JOB_MAX_ATTEMPTS) a job whose worker stopped renewing its lease.
"""

import logging
import threading
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.db import DatabaseError
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _
from django_tasks import task
from django_tasks.base import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from predictor.models import Job

from . import kinds, runner
from .kinds import JobLost

logger = logging.getLogger(__name__)

Status = Job.Status

WORKER_LOST = _("The worker running this job stopped %(attempts)s times before finishing it; nothing was stored.")
QUEUE_UNREACHABLE = _("The job queue cannot be reached, so the job was not started; try again later.")


@task()
def run_job(job_id: str) -> str:
    return runner.run(job_id)


def start(
    kind: str, *, user: AbstractBaseUser | AnonymousUser | None, arguments: dict[str, Any], total: int = 0
) -> Job:
    """Record a job and queue it; returns it (already failed, with the reason, if the queue is unreachable).

    The job is run, and its error worded, in the language active here (the starter's page's):
    ``runner.run`` activates the one recorded in its arguments.
    """
    kinds.get(kind)  # a kind nobody registered is a programming error: refuse before storing anything
    started_by = user if user is not None and user.is_authenticated else None
    arguments = {**arguments, runner.LANGUAGE_ARGUMENT: translation.get_language() or settings.LANGUAGE_CODE}
    job = Job.objects.create(kind=kind, created_by=started_by, arguments=arguments, progress_total=total)
    _enqueue(job)
    job.refresh_from_db()
    return job


def reap_expired(*, now: datetime | None = None) -> int:
    """Queue again, or fail after JOB_MAX_ATTEMPTS, every running job whose lease ran out; return how many.

    Also finishes the clean-up of failed jobs whose worker died while cleaning up.
    """
    now = now or timezone.now()
    reaped = 0
    for job in Job.objects.filter(status=Status.RUNNING, lease_expires_at__lt=now):
        expired = Job.objects.filter(pk=job.pk, status=Status.RUNNING, attempts=job.attempts, lease_expires_at__lt=now)
        if job.attempts < settings.JOB_MAX_ATTEMPTS:
            if expired.update(status=Status.QUEUED, lease_expires_at=None):
                logger.warning("Job %s: its worker stopped during attempt %s; queued again.", job.pk, job.attempts)
                _fail_lost_task(job, now=now)
                _enqueue(job)
                reaped += 1
        elif expired.update(
            status=Status.FAILED,
            finished_at=now,
            lease_expires_at=None,
            error=runner.in_language_of(job, WORKER_LOST) % {"attempts": job.attempts},
        ):
            logger.warning("Job %s: its worker stopped during the last attempt; failed.", job.pk)
            _fail_lost_task(job, now=now)
            runner.clean_up(job, succeeded=False)
            reaped += 1
    for kind in kinds.registered().values():
        for job in kind.unfinished_clean_ups() if kind.unfinished_clean_ups else ():
            runner.clean_up(job, succeeded=False)
    return reaped


def run_reaper_in_background(*, interval: float | None = None) -> threading.Thread:
    """Reap every ``interval`` seconds (half a lease by default) in a daemon thread of this worker."""
    interval = interval or settings.JOB_LEASE_SECONDS / 2

    def reap_forever() -> None:
        while True:
            try:
                reap_expired()
            except DatabaseError:
                logger.warning("Could not reap expired jobs; trying again in %s s.", interval, exc_info=True)
            threading.Event().wait(interval)

    thread = threading.Thread(target=reap_forever, name="job-reaper", daemon=True)
    thread.start()
    return thread


def _enqueue(job: Job) -> None:
    try:
        result = run_job.enqueue(str(job.pk))
    except Exception:
        logger.exception("Could not queue job %s.", job.pk)
        Job.objects.filter(pk=job.pk, status=Status.QUEUED).update(
            status=Status.FAILED, error=runner.in_language_of(job, QUEUE_UNREACHABLE), finished_at=timezone.now()
        )
        runner.clean_up(job, succeeded=False)
        return
    Job.objects.filter(pk=job.pk).update(task_id=str(result.id))


def _fail_lost_task(job: Job, *, now: datetime) -> None:
    """The database queue's row for the attempt the reaper took from a dead worker: failed, not RUNNING forever.

    Nothing else notices that worker's death (RQ's own registry does, for the rq backend).
    """
    if settings.JOBS_BACKEND != "database" or not job.task_id:
        return
    DBTaskResult.objects.filter(pk=job.task_id, status=TaskResultStatus.RUNNING).update(
        status=TaskResultStatus.FAILED,
        finished_at=now,
        exception_class_path=f"{JobLost.__module__}.{JobLost.__qualname__}",
        traceback=f"The worker running job {job.pk} (attempt {job.attempts}) stopped; its lease ran out.\n",
    )
