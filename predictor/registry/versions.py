"""Recording and activating model versions: the only code that changes which version answers.

Running servers notice a change within ML_MODEL_CHECK_SECONDS (see model_service).
"""

from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from predictor.models import Candidate, MLModel, ModelVersion
from predictor.ops import audit
from predictor.registry import comparison


class ActiveVersionChanged(Exception):
    """Another version became active after the new one was compared with the active one: compare again."""


def record_version(*, model: MLModel, activate: bool, compared_with: int | None, **fields: Any) -> ModelVersion:
    """Store a new version of ``model`` numbered after its latest, active (replacing its active one) if asked.

    ``compared_with`` is the pk of the version that was active when the new one was judged good
    enough to replace it (None: none was). Activation happens only if that is still the active
    one, checked in the same transaction as the switch, or ActiveVersionChanged is raised and
    nothing is stored: two concurrent trainings cannot both win on a stale comparison.
    """
    # Two concurrent runs can pick the same next number or both activate; the unique constraints
    # turn that into an IntegrityError, and a retry sees the other run's committed row. The active
    # row is locked (PostgreSQL; SQLite's IMMEDIATE transactions serialise writers already) so it
    # cannot change between the check and the switch.
    attempts = 5
    for attempt in range(attempts):
        try:
            with transaction.atomic():
                versions = ModelVersion.objects.filter(model=model)
                if activate:
                    active = versions.select_for_update().active().values_list("pk", flat=True).first()
                    if active != compared_with:
                        raise ActiveVersionChanged
                latest = versions.aggregate(latest=Max("version"))["latest"] or 0
                if activate:
                    versions.active().update(is_active=False)
                return ModelVersion.objects.create(
                    model=model,
                    version=latest + 1,
                    is_active=activate,
                    activated_at=timezone.now() if activate else None,
                    **fields,
                )
        except IntegrityError:
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


def activate_version(
    version_number: int,
    *,
    model: MLModel | None = None,
    user: AbstractBaseUser | None = None,
    **audit_details: Any,
) -> ModelVersion:
    """Make an existing version of ``model`` (default: the default model) its active one (a rollback or a
    promotion); raises ModelVersion.DoesNotExist.

    ``user`` is who asked, for the audit trail; None is the command line. ``audit_details`` are
    recorded beside it (a promotion's comparison figures).
    """
    model = model or MLModel.objects.default()
    with transaction.atomic():
        version = ModelVersion.objects.select_for_update().get(model=model, version=version_number)
        _stop_as_candidate(version, user=user)
        others = ModelVersion.objects.filter(model=model).active().exclude(pk=version.pk)
        previous = list(others.values_list("version", flat=True))
        others.update(is_active=False)
        audit.record(
            action=audit.Action.ACTIVATE,
            user=user,
            target=version,
            version=version.version,
            previous_version=previous[0] if previous else None,
            **audit_details,
        )
        if not version.is_active:
            version.is_active = True
            version.activated_at = timezone.now()
            version.save(update_fields=["is_active", "activated_at"])
    return version


def _stop_as_candidate(version: ModelVersion, *, user: AbstractBaseUser | None) -> None:
    """A version made active is no longer tried beside itself: its shadow or canary ends, audited."""
    candidate = Candidate.objects.select_for_update().filter(version=version).first()
    if candidate is None:
        return
    figures = comparison.compare(version).as_record()
    candidate.delete()
    audit.record(
        action=audit.Action.CANDIDATE_STOPPED,
        user=user,
        target=version,
        mode=candidate.mode,
        canary_percent=candidate.canary_percent,
        comparison=figures,
        reason="activated",
    )
