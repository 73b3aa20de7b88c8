"""Background jobs: batch uploads and retraining, run by a worker through Django's Tasks API.

The Tasks API (the django-tasks backport) queues and runs one task per attempt; a Job row keeps
what it lacks: progress, outcome or error, who started it, attempts, and a lease. A running
attempt renews its lease (a heartbeat thread, and every progress report); ``reap_expired()``,
run by every worker and by `manage.py reap_jobs`, queues again (or fails, after
JOB_MAX_ATTEMPTS) a job whose worker stopped renewing it: killed, or its machine lost.

Exactly once: a worker claims a job with a conditional UPDATE (queued -> running, one attempt
more), and every later write of that attempt is fenced by it (``Progress.report`` updates the
row only while the job is still this attempt's, in the same transaction as the rows it stores),
so an attempt taken for dead can store nothing once the reaper has handed its job on.
"""

import logging
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.db import DatabaseError, connection, transaction
from django.db.models import Count, F
from django.utils import timezone
from django.utils.module_loading import import_string
from django.utils.translation import gettext_lazy as _
from django_tasks.base import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from . import history, permissions
from .models import Job, PendingBatch

logger = logging.getLogger(__name__)

Status = Job.Status

# What a failed job tells the person who started it when the cause is not theirs to fix.
UNEXPECTED_ERROR = _("The job stopped on an unexpected error; the worker's log has the details.")
WORKER_LOST = _("The worker running this job stopped %(attempts)s times before finishing it; nothing was stored.")
QUEUE_UNREACHABLE = _("The job queue cannot be reached, so the job was not started; try again later.")


@dataclass(frozen=True)
class Kind:
    """What one kind of job runs, undoes, and who may see it."""

    # run(progress, arguments) -> outcome (JSON-safe dict); raises JobError with words for the user.
    runner: str
    # cleanup(job, succeeded) after the job is finished either way: removes what a failure left.
    cleanup: str
    view_permission: str


KINDS: dict[str, Kind] = {
    Job.Kind.BATCH: Kind(
        runner="predictor.batch.run_job",
        cleanup="predictor.batch.clean_up_job",
        view_permission=permissions.VIEW_PREDICTIONS,
    ),
    Job.Kind.RETRAIN: Kind(
        runner="predictor.training.run_job",
        cleanup="predictor.training.clean_up_job",
        view_permission=permissions.VIEW_MODELS,
    ),
}


class JobError(Exception):
    """The job cannot be done; the message says why, in words for the person who started it."""


class JobLost(Exception):
    """This attempt no longer owns its job (the reaper handed it on): stop, and store nothing more."""


@dataclass(frozen=True)
class Progress:
    """One attempt at one job: what a runner reports through, and the fence on everything it stores."""

    job_id: uuid.UUID
    attempt: int

    def report(self, done: int, total: int | None = None) -> None:
        """Record ``done`` of ``total`` and renew the lease; raises JobLost once the job is not this attempt's.

        Call it inside the transaction that stores the work it counts: that work is then stored
        if and only if this attempt still owns the job.
        """
        fields: dict[str, Any] = {"progress_done": done, "lease_expires_at": _lease_end()}
        if total is not None:
            fields["progress_total"] = total
        if not self._owned().update(**fields):
            raise JobLost(self.job_id)

    def renew(self) -> None:
        if not self._owned().update(lease_expires_at=_lease_end()):
            raise JobLost(self.job_id)

    def _owned(self):
        return Job.objects.filter(pk=self.job_id, attempts=self.attempt, status=Status.RUNNING)


def start(
    kind: str, *, user: AbstractBaseUser | AnonymousUser | None, arguments: dict[str, Any], total: int = 0
) -> Job:
    """Record a job and queue it; returns it (already failed, with the reason, if the queue is unreachable)."""
    if kind not in KINDS:
        raise ValueError(f"unknown job kind {kind!r}; known: {', '.join(KINDS)}")
    started_by = user if user is not None and user.is_authenticated else None
    job = Job.objects.create(kind=kind, created_by=started_by, arguments=arguments, progress_total=total)
    _enqueue(job)
    job.refresh_from_db()
    return job


def as_json(job: Job) -> dict[str, Any]:
    """A job as the API and the job page's script read it."""
    return {
        "id": str(job.pk),
        "kind": job.kind,
        "status": job.status,
        "finished": job.is_finished,
        "progress": {"done": job.progress_done, "total": job.progress_total, "percent": job.percent},
        "attempts": job.attempts,
        "created_at": job.created_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
        "outcome": job.outcome if job.status == Status.SUCCEEDED else None,
        "error": job.error or None,
    }


def visible_to(job: Job, user: AbstractBaseUser | AnonymousUser | None) -> bool:
    return job.kind in kinds_visible_to(user)


def kinds_visible_to(user: AbstractBaseUser | AnonymousUser | None) -> list[str]:
    """The kinds of job ``user`` may see (pages, API, admin): each needs the permission its outcome's data does."""
    return [name for name, kind in KINDS.items() if permissions.allows(user, kind.view_permission)]


def run(job_id: str) -> str:
    """Run one attempt at a job (the task's body); returns the job's status afterwards."""
    now = timezone.now()
    claimed = Job.objects.filter(pk=job_id, status=Status.QUEUED).update(
        status=Status.RUNNING, attempts=F("attempts") + 1, started_at=now, lease_expires_at=_lease_end()
    )
    if not claimed:
        logger.info("Job %s is not queued (run already, or by another worker); nothing to do.", job_id)
        return ""
    job = Job.objects.get(pk=job_id)
    progress = Progress(job_id=job.pk, attempt=job.attempts)
    kind = KINDS[job.kind]
    with _heartbeat(progress):
        try:
            outcome = import_string(kind.runner)(progress, job.arguments)
        except JobLost:
            logger.warning("Job %s attempt %s was handed on by the reaper; stopped.", job.pk, progress.attempt)
            return Status.RUNNING
        except JobError as error:
            return _fail(progress, str(error))
        except Exception:
            logger.exception("Job %s (%s) failed.", job.pk, job.kind)
            return _fail(progress, str(UNEXPECTED_ERROR))
        return _succeed(progress, outcome)


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
            status=Status.FAILED, finished_at=now, lease_expires_at=None, error=WORKER_LOST % {"attempts": job.attempts}
        ):
            logger.warning("Job %s: its worker stopped during the last attempt; failed.", job.pk)
            _fail_lost_task(job, now=now)
            _clean_up(job, succeeded=False)
            reaped += 1
    for job in Job.objects.filter(status=Status.FAILED, pending_batches__isnull=False).distinct():
        _clean_up(job, succeeded=False)
    return reaped


def counts_by_status() -> dict[str, int]:
    """How many jobs are queued, running, succeeded and failed (every status present, 0 when none)."""
    counts = dict(Job.objects.order_by().values_list("status").annotate(jobs=Count("pk")))
    return {status: counts.get(status, 0) for status in Status.values}


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


def _succeed(progress: Progress, outcome: dict[str, Any]) -> str:
    pending = PendingBatch.objects.filter(job_id=progress.job_id)
    stored = history.published_counts(pending.values_list("batch_id", flat=True))
    with transaction.atomic():
        finished = progress._owned().update(
            status=Status.SUCCEEDED, outcome=outcome, finished_at=timezone.now(), lease_expires_at=None
        )
        if not finished:
            return Status.RUNNING  # handed on meanwhile: the other attempt's outcome counts
        # What the job stored out of sight becomes visible with its success, in one commit, and
        # is counted in the metrics with it.
        pending.delete()
        history.count_published(stored)
    _clean_up(Job.objects.get(pk=progress.job_id), succeeded=True)
    return Status.SUCCEEDED


def _fail(progress: Progress, error: str) -> str:
    failed = progress._owned().update(
        status=Status.FAILED, error=error, finished_at=timezone.now(), lease_expires_at=None
    )
    if failed:
        _clean_up(Job.objects.get(pk=progress.job_id), succeeded=False)
    return Status.FAILED if failed else Status.RUNNING


def _clean_up(job: Job, *, succeeded: bool) -> None:
    try:
        import_string(KINDS[job.kind].cleanup)(job, succeeded=succeeded)
    except Exception:
        # The reaper tries again for a failed job's hidden rows; a leftover file goes with the
        # kept uploads (delete_old_uploads).
        logger.exception("Could not clean up after job %s.", job.pk)


def _enqueue(job: Job) -> None:
    from .tasks import run_job  # the task module needs the Tasks API's settings, read once Django is set up

    try:
        result = run_job.enqueue(str(job.pk))
    except Exception:
        logger.exception("Could not queue job %s.", job.pk)
        Job.objects.filter(pk=job.pk, status=Status.QUEUED).update(
            status=Status.FAILED, error=str(QUEUE_UNREACHABLE), finished_at=timezone.now()
        )
        _clean_up(job, succeeded=False)
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


def _lease_end() -> datetime:
    return timezone.now() + timedelta(seconds=settings.JOB_LEASE_SECONDS)


@contextmanager
def _heartbeat(progress: Progress) -> Iterator[None]:
    """Renew the lease from another thread while the attempt runs: a long step reports no progress."""
    stop = threading.Event()

    def beat() -> None:
        try:
            while not stop.wait(settings.JOB_LEASE_SECONDS / 3):
                try:
                    progress.renew()
                except JobLost:
                    return
                except DatabaseError:
                    logger.warning("Could not renew the lease of job %s.", progress.job_id, exc_info=True)
        finally:
            connection.close()  # this thread's own connection

    thread = threading.Thread(target=beat, name=f"job-heartbeat-{progress.job_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
