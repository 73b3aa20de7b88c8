"""Whether this process can answer predictions: for load balancers, orchestrators and deploy scripts.

Anonymous callers from elsewhere learn only the status; the details (which version, why not,
artifact names, the command to run) are for staff and for callers on this machine, because they
map the deployment for an attacker.

Each dependency is reported by name. The status is 503 only when this process cannot answer a
prediction and store it (no model, no database, no writes); the optional parts (the counters in
Redis, the job queue, the storage, a candidate) make it "degraded" but keep it at 200, because
predictions still answer: a load balancer should keep such a node in rotation.
"""

import logging
import os
import sys
from dataclasses import dataclass

from django.conf import settings
from django.core.files.storage import FileSystemStorage, storages
from django.db import DatabaseError, connection

from predictor.ops import storage_probe
from predictor.ops.counters import counters
from predictor.serving import model_service

logger = logging.getLogger(__name__)

WRITES_LOCKED_OUT = "writes are locked out"
OK = "ok"
# A storage backend other than local folders and S3 is not asked: nothing cheap is known to ask it.
NOT_PROBED = "not probed"


@dataclass(frozen=True)
class Health:
    database: str  # "ok", or what is wrong with it
    model: str  # the version served ("v3"), or why none is
    ready: bool  # a model answers and the database reads
    warning: str = ""  # ready, but not as intended: the active version was refused, an older one answers
    writable: bool = True  # predictions can be stored; without that, answers fail, so out of rotation
    # The optional parts, each "ok" or what is wrong: predictions answer without them.
    counters: str = OK  # where the rate-limit counts are kept
    queue: str = OK  # where background jobs are queued
    storage: str = OK  # where artifacts and uploads are kept
    candidate: str = ""  # why the running candidate cannot answer; "" when it can, or none runs

    @property
    def status(self) -> str:
        if not self.ready:
            return "unavailable"
        parts_down = any(part not in {OK, NOT_PROBED} for part in (self.counters, self.queue, self.storage))
        if self.warning or self.candidate or not self.writable or parts_down:
            return "degraded"
        return "ok"

    @property
    def http_status(self) -> int:
        return 200 if self.ready and self.writable else 503

    def as_json(self, *, details: bool) -> dict[str, str]:
        if not details:
            return {"status": self.status}
        report = {
            "status": self.status,
            "database": self.database,
            "model": self.model,
            "counters": self.counters,
            "queue": self.queue,
            "storage": self.storage,
        }
        if self.candidate:
            report["candidate"] = self.candidate
        return {**report, "warning": self.warning} if self.warning else report


def check() -> Health:
    """Ask the database for one row and whether it takes writes, the model service for its model, and the rest."""
    optional = {"counters": _counters_problem(), "queue": _queue_problem(), "storage": _storage_problem()}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        write_problem = _write_problem()
        model = model_service.active_model()  # asks the database which version is active, once a second
    except DatabaseError as error:
        logger.error("Health check: the database is unavailable: %s", error)
        return Health(
            database="unavailable", model="unknown while the database is unavailable", ready=False, **optional
        )
    except model_service.ModelNotReady as error:
        return Health(database="ok", model=str(error), ready=False, **optional)
    if write_problem:
        logger.error("Health check: the database %s.", write_problem)
    return Health(
        database=write_problem or "ok",
        model=f"v{model.version}",
        ready=True,
        warning=model_service.refused_activation(),
        writable=not write_problem,
        candidate=model_service.refused_candidate(),
        **optional,
    )


def _counters_problem() -> str:
    return counters().problem() or OK


def _queue_problem() -> str:
    if settings.JOBS_BACKEND != "rq":
        return OK  # in the database (checked above), or run inside the request
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    timeout = settings.REDIS_TIMEOUT_SECONDS
    client = redis.Redis.from_url(
        settings.REDIS_URL, socket_connect_timeout=timeout, socket_timeout=timeout, retry=Retry(NoBackoff(), 0)
    )
    try:
        client.ping()
    except (redis.RedisError, OSError) as error:
        return f"Redis unavailable ({type(error).__name__}): jobs cannot be queued"
    finally:
        client.close()
    return OK


def _storage_problem() -> str:
    """Whether the local folders for artifacts and uploads take files, and their S3 bucket answers (seldom asked)."""
    problems = []
    not_probed = False
    for alias in ("ml_artifacts", "batch_uploads"):
        storage = storages[alias]
        if _is_s3(storage):
            if problem := storage_probe.s3_problem(storage):
                problems.append(f"{alias}: {problem}")
            continue
        if not isinstance(storage, FileSystemStorage):
            not_probed = True
            continue
        folder = storage.location
        while not os.path.exists(folder) and os.path.dirname(folder) != folder:
            folder = os.path.dirname(folder)  # the storage makes a missing folder on its first save
        if not os.access(folder, os.W_OK | os.X_OK):
            problems.append(f"{alias} folder is not writable")
    return "; ".join(problems) or (NOT_PROBED if not_probed else OK)


def _is_s3(storage: object) -> bool:
    # An S3 storage has imported its module; a site on local folders is spared that second's import.
    module = sys.modules.get("storages.backends.s3")
    return module is not None and isinstance(storage, module.S3Storage)


def _write_problem() -> str:
    """Why the database would refuse a write now, or "": a read is not enough to know."""
    if connection.vendor == "sqlite":
        return _sqlite_write_problem()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SHOW transaction_read_only")  # "on" on a standby or a read-only database
            (read_only,) = cursor.fetchone()
        return "is read-only" if read_only == "on" else ""
    return ""


def _sqlite_write_problem() -> str:
    # Take the write lock as a prediction would, but wait only briefly, and give it straight back.
    # Inside a transaction (a test's) the lock is this connection's already, and BEGIN would fail.
    if connection.in_atomic_block:
        return ""
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA busy_timeout")
        (previous_ms,) = cursor.fetchone()
        cursor.execute(f"PRAGMA busy_timeout = {int(settings.HEALTH_WRITE_PROBE_MS)}")
        try:
            cursor.execute("BEGIN IMMEDIATE")
            cursor.execute("ROLLBACK")
        except DatabaseError as error:
            if "locked" not in str(error) and "busy" not in str(error):
                raise
            return WRITES_LOCKED_OUT
        finally:
            cursor.execute(f"PRAGMA busy_timeout = {int(previous_ms)}")
    return ""
