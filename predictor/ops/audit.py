"""The audit trail: who labelled, activated, retrained, or created or revoked an API key, and when.

Written by the service functions that make those changes (predictor.history.feedback, versions,
training, api_keys), inside the same transaction where there is one, so every entry point (the
pages, the admin, the API, the command line, the shell) leaves a row. Nothing edits or deletes
the rows; the admin shows them read-only.
"""

from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser

from predictor.models import AuditEvent

Action = AuditEvent.Action


def record(*, action: str, user: AbstractBaseUser | None, target: object = "", **details: Any) -> AuditEvent:
    """Store one event; ``user`` None means the command line (or code run without a user)."""
    if user is not None and not user.is_authenticated:
        user = None
    return AuditEvent.objects.create(
        user=user,
        username=user.get_username() if user is not None else "",
        action=action,
        target=str(target)[: AuditEvent._meta.get_field("target").max_length],
        details=details,
    )
