"""The database tables, one module per concern; everything is re-exported here, where Django looks.

- ``registry``: trained model versions and the candidate tried beside the active one;
- ``history``: the stored predictions, how they are queried, and batches not yet published;
- ``jobs``: background jobs;
- ``access``: API keys, the audit trail, idempotent requests and limit counters.

Imports ``predictor.schema`` only.
"""

from .access import ApiKey, AuditEvent, IdempotentRequest, LimitCounter
from .history import (
    DEFAULT_SORT,
    DISAGREEING,
    INPUT_SORTS,
    LABELLED,
    SORT_CHOICES,
    SORT_FIELDS,
    HistoryQuery,
    PendingBatch,
    Prediction,
    number_input,
)
from .jobs import Job
from .registry import Candidate, MLModel, ModelVersion, UnknownModel

__all__ = [
    "DEFAULT_SORT",
    "DISAGREEING",
    "LABELLED",
    "SORT_CHOICES",
    "INPUT_SORTS",
    "SORT_FIELDS",
    "number_input",
    "ApiKey",
    "AuditEvent",
    "Candidate",
    "HistoryQuery",
    "IdempotentRequest",
    "Job",
    "LimitCounter",
    "MLModel",
    "ModelVersion",
    "PendingBatch",
    "Prediction",
    "UnknownModel",
]
