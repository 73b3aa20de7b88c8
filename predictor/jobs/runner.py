"""One attempt at a job: claim it, run its kind, record the outcome; the fence on what it stores.

A Job row keeps what the Tasks API lacks: progress, outcome or error, who started it, attempts,
and a lease. A running attempt renews its lease (a heartbeat thread, and every progress report);
the reaper (``predictor.jobs.queue.reap_expired``) queues again, or fails, a job whose worker
stopped renewing it: killed, or its machine lost.

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
from django.db import DatabaseError, connection, transaction
from django.db.models import Count, F
from django.utils import timezone, translation
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from predictor.models import Job

from . import kinds
from .kinds import JobError, JobLost

logger = logging.getLogger(__name__)

Status = Job.Status

# What a failed job tells the person who started it when the cause is not theirs to fix.
UNEXPECTED_ERROR = _("The job stopped on an unexpected error; the worker's log has the details.")
# The language of the page that started the job (``queue.start`` records it in the job's
# arguments): the job runs in it, so the error it stores reads in the starter's language.
LANGUAGE_ARGUMENT = "language"


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
        fields: dict[str, Any] = {"progress_done": done, "lease_expires_at": lease_end()}
        if total is not None:
            fields["progress_total"] = total
        if not self._owned().update(**fields):
            raise JobLost(self.job_id)

    def renew(self) -> None:
        if not self._owned().update(lease_expires_at=lease_end()):
            raise JobLost(self.job_id)

    def _owned(self):
        return Job.objects.filter(pk=self.job_id, attempts=self.attempt, status=Status.RUNNING)


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


def run(job_id: str) -> str:
    """Run one attempt at a job (the task's body); returns the job's status afterwards."""
    now = timezone.now()
    claimed = Job.objects.filter(pk=job_id, status=Status.QUEUED).update(
        status=Status.RUNNING, attempts=F("attempts") + 1, started_at=now, lease_expires_at=lease_end()
    )
    if not claimed:
        logger.info("Job %s is not queued (run already, or by another worker); nothing to do.", job_id)
        return ""
    job = Job.objects.get(pk=job_id)
    progress = Progress(job_id=job.pk, attempt=job.attempts)
    kind = kinds.get(job.kind)
    with _heartbeat(progress), translation.override(language_of(job)):
        try:
            outcome = kind.run(progress, job.arguments)
        except JobLost:
            logger.warning("Job %s attempt %s was handed on by the reaper; stopped.", job.pk, progress.attempt)
            return Status.RUNNING
        except JobError as error:
            return _fail(progress, str(error))
        except Exception:
            logger.exception("Job %s (%s) failed.", job.pk, job.kind)
            return _fail(progress, str(UNEXPECTED_ERROR))
        return _succeed(progress, kind, outcome)


def language_of(job: Job) -> str:
    """The language a job's words are in: its starter's (jobs from before it was recorded: the site's)."""
    return job.arguments.get(LANGUAGE_ARGUMENT) or settings.LANGUAGE_CODE


def in_language_of(job: Job, message: Promise) -> str:
    """``message`` (a lazy translation) in the language of the job's starter."""
    with translation.override(language_of(job)):
        return str(message)


def counts_by_status() -> dict[str, int]:
    """How many jobs are queued, running, succeeded and failed (every status present, 0 when none)."""
    counts = dict(Job.objects.order_by().values_list("status").annotate(jobs=Count("pk")))
    return {status: counts.get(status, 0) for status in Status.values}


def _succeed(progress: Progress, kind: kinds.Kind, outcome: dict[str, Any]) -> str:
    publish = kind.prepare_success(progress.job_id) if kind.prepare_success else None
    with transaction.atomic():
        finished = progress._owned().update(
            status=Status.SUCCEEDED, outcome=outcome, finished_at=timezone.now(), lease_expires_at=None
        )
        if not finished:
            return Status.RUNNING  # handed on meanwhile: the other attempt's outcome counts
        if publish is not None:
            publish()  # what the job stored out of sight becomes visible with its success, in one commit
    clean_up(Job.objects.get(pk=progress.job_id), succeeded=True)
    return Status.SUCCEEDED


def _fail(progress: Progress, error: str) -> str:
    failed = progress._owned().update(
        status=Status.FAILED, error=error, finished_at=timezone.now(), lease_expires_at=None
    )
    if failed:
        clean_up(Job.objects.get(pk=progress.job_id), succeeded=False)
    return Status.FAILED if failed else Status.RUNNING


def clean_up(job: Job, *, succeeded: bool) -> None:
    """Let the job's kind remove what a failure left (or tidy up after a success); never raises."""
    try:
        kinds.get(job.kind).clean_up(job, succeeded=succeeded)
    except Exception:
        # The reaper tries again for a failed job's hidden rows; a leftover file goes with the
        # kept uploads (delete_old_uploads).
        logger.exception("Could not clean up after job %s.", job.pk)


def lease_end() -> datetime:
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
