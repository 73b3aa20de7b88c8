"""What each kind of job is. The room that owns a kind registers it here when it is imported
(``predictor.apps`` imports them at start-up), so this package never names a kind itself."""

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser

from predictor.models import Job
from predictor.ops import permissions


class JobError(Exception):
    """The job cannot be done; the message says why, in words for the person who started it."""


class JobLost(Exception):
    """This attempt no longer owns its job (the reaper handed it on): stop, and store nothing more."""


@dataclass(frozen=True)
class Kind:
    """What one kind of job runs, undoes, and who may see it."""

    # run(progress, arguments) -> outcome (JSON-safe dict); raises JobError with words for the user.
    run: Callable[..., dict[str, Any]]
    # clean_up(job, succeeded=...) after the job is finished either way: removes what a failure left.
    clean_up: Callable[..., None]
    view_permission: str
    # prepare_success(job_id) -> publish, for a kind whose work becomes visible with its success:
    # called before the success is recorded (long reads stay outside SQLite's write lock);
    # publish() runs inside the transaction that records it.
    prepare_success: Callable[[uuid.UUID], Callable[[], None]] | None = None
    # Failed jobs of this kind whose clean-up did not finish (a worker died while cleaning up):
    # the reaper cleans them up again.
    unfinished_clean_ups: Callable[[], Iterable[Job]] | None = None


_KINDS: dict[str, Kind] = {}


def register(name: str, kind: Kind) -> None:
    """Make ``name`` (a ``Job.Kind``) a kind of job that can be started and run."""
    _KINDS[name] = kind


def get(name: str) -> Kind:
    if name not in _KINDS:
        raise ValueError(f"unknown job kind {name!r}; known: {', '.join(_KINDS)}")
    return _KINDS[name]


def registered() -> dict[str, Kind]:
    return dict(_KINDS)


def visible_to(job: Job, user: AbstractBaseUser | AnonymousUser | None) -> bool:
    return job.kind in kinds_visible_to(user)


def kinds_visible_to(user: AbstractBaseUser | AnonymousUser | None) -> list[str]:
    """The kinds of job ``user`` may see (pages, API, admin): each needs the permission its outcome's data does."""
    return [name for name, kind in _KINDS.items() if permissions.allows(user, kind.view_permission)]


def view_permission(job: Job) -> str:
    return get(job.kind).view_permission
