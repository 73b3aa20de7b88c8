"""Background jobs (batch uploads, retraining), run by a worker through Django's Tasks API.

- ``kinds``: what a kind of job is; the rooms that own a kind register it (this package never
  names one);
- ``runner``: one attempt at a job, its progress and the fence on what it stores;
- ``queue``: starting a job, the Tasks API's task, and the reaper of jobs whose worker died;
- ``collector``: the jobs' counts on /metrics.

The names below are the room's interface; callers write ``jobs.start(...)``. Imports
``predictor.models`` and ``predictor.ops``.
"""

from .kinds import JobError, JobLost, Kind, kinds_visible_to, register, view_permission, visible_to
from .queue import reap_expired, run_reaper_in_background, start
from .runner import Progress, as_json, counts_by_status, run

__all__ = [
    "JobError",
    "JobLost",
    "Kind",
    "Progress",
    "as_json",
    "counts_by_status",
    "kinds_visible_to",
    "reap_expired",
    "register",
    "run",
    "run_reaper_in_background",
    "start",
    "view_permission",
    "visible_to",
]
