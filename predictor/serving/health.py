"""Whether this process can answer predictions: for load balancers, orchestrators and deploy scripts.

Anonymous callers from elsewhere learn only the status; the details (which version, why not,
artifact names, the command to run) are for staff and for callers on this machine, because they
map the deployment for an attacker.
"""

import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import DatabaseError, connection

from predictor.serving import model_service

logger = logging.getLogger(__name__)

WRITES_LOCKED_OUT = "writes are locked out"


@dataclass(frozen=True)
class Health:
    database: str  # "ok", or what is wrong with it
    model: str  # the version served ("v3"), or why none is
    ready: bool  # a model answers and the database reads
    warning: str = ""  # ready, but not as intended: the active version was refused, an older one answers
    writable: bool = True  # predictions can be stored; without that, answers fail, so out of rotation

    @property
    def status(self) -> str:
        if not self.ready:
            return "unavailable"
        return "degraded" if self.warning or not self.writable else "ok"

    @property
    def http_status(self) -> int:
        return 200 if self.ready and self.writable else 503

    def as_json(self, *, details: bool) -> dict[str, str]:
        if not details:
            return {"status": self.status}
        report = {"status": self.status, "database": self.database, "model": self.model}
        return {**report, "warning": self.warning} if self.warning else report


def check() -> Health:
    """Ask the database for one row, whether it takes writes, and the model service for its model."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        write_problem = _write_problem()
        model = model_service.active_model()  # asks the database which version is active, once a second
    except DatabaseError as error:
        logger.error("Health check: the database is unavailable: %s", error)
        return Health(database="unavailable", model="unknown while the database is unavailable", ready=False)
    except model_service.ModelNotReady as error:
        return Health(database="ok", model=str(error), ready=False)
    if write_problem:
        logger.error("Health check: the database %s.", write_problem)
    return Health(
        database=write_problem or "ok",
        model=f"v{model.version}",
        ready=True,
        warning=model_service.refused_activation(),
        writable=not write_problem,
    )


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
