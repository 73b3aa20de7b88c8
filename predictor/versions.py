"""Recording and activating model versions: the only code that changes which version answers.

Running servers notice a change within ML_MODEL_CHECK_SECONDS (see model_service).
"""

from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from .models import ModelVersion


def record_version(*, activate: bool, **fields: Any) -> ModelVersion:
    """Store a new version numbered after the latest, active (replacing the active one) if asked."""
    # Two concurrent runs can pick the same next number or both activate; the unique constraints
    # turn that into an IntegrityError, and a retry sees the other run's committed row.
    attempts = 5
    for attempt in range(attempts):
        try:
            with transaction.atomic():
                latest = ModelVersion.objects.aggregate(latest=Max("version"))["latest"] or 0
                if activate:
                    ModelVersion.objects.active().update(is_active=False)
                return ModelVersion.objects.create(
                    version=latest + 1, is_active=activate, activated_at=timezone.now() if activate else None, **fields
                )
        except IntegrityError:
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


def activate_version(version_number: int) -> ModelVersion:
    """Make an existing version the active one (a rollback or a promotion); raises ModelVersion.DoesNotExist."""
    with transaction.atomic():
        version = ModelVersion.objects.select_for_update().get(version=version_number)
        ModelVersion.objects.active().exclude(pk=version.pk).update(is_active=False)
        if not version.is_active:
            version.is_active = True
            version.activated_at = timezone.now()
            version.save(update_fields=["is_active", "activated_at"])
    return version
