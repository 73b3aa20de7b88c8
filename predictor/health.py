"""Whether this process can answer predictions: for load balancers, orchestrators and deploy scripts."""

import logging
from dataclasses import dataclass

from django.db import DatabaseError, connection

from . import model_service

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Health:
    database: str  # "ok", or what is wrong with it
    model: str  # the version served ("v3"), or why none is
    ready: bool
    warning: str = ""  # ready, but not as intended: the active version was refused, an older one answers

    def as_json(self) -> dict[str, str]:
        status = "degraded" if self.ready and self.warning else "ok" if self.ready else "unavailable"
        report = {"status": status, "database": self.database, "model": self.model}
        return {**report, "warning": self.warning} if self.warning else report


def check() -> Health:
    """Ask the database for one row and the model service for its model, as a prediction would."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        model = model_service.active_model()  # asks the database which version is active, once a second
    except DatabaseError as error:
        logger.error("Health check: the database is unavailable: %s", error)
        return Health(database="unavailable", model="unknown while the database is unavailable", ready=False)
    except model_service.ModelNotReady as error:
        return Health(database="ok", model=str(error), ready=False)
    return Health(database="ok", model=f"v{model.version}", ready=True, warning=model_service.refused_activation())
