"""Feedback: staff record the actual class of stored predictions (the animals' species, iris's kind).

Every entry point (admin action, admin change page, the results page) labels through
`label_predictions`, so who labelled a row and when is always written with the label, and the
audit trail records each labelling.
"""

from collections.abc import Iterable

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext

from predictor.models import ModelVersion, Prediction
from predictor.ops import audit
from predictor.schema.wording import one_of

# The audit row names at most this many of the labelled predictions (an admin "select all" can be millions).
AUDITED_IDS = 1000


class FeedbackError(ValueError):
    """A label that cannot be recorded; the message says which values are allowed."""


def label_predictions(*, prediction_ids: Iterable[int] | QuerySet, species: str | None, user: AbstractBaseUser) -> int:
    """Record ``species`` as the actual species of the given predictions; return how many were labelled.

    ``species=None`` removes the label (a mistaken click). Inputs and outputs are never touched.
    """
    if species is not None and species not in (known := ModelVersion.objects.known_species()):
        raise FeedbackError(
            gettext("Unknown %(target)s %(species)r: choose one of %(known)s.")
            % {"target": ModelVersion.objects.target_word(), "species": species, "known": ", ".join(known)}
        )
    labelled = species is not None
    # A queryset (admin's "select all") stays a subquery instead of a list of a million ids.
    ids = prediction_ids if isinstance(prediction_ids, QuerySet) else list(prediction_ids)
    rows = Prediction.objects.filter(pk__in=ids)
    if labelled:
        _refuse_classes_unknown_to_their_version(rows, species)
    with transaction.atomic():
        # Read before the update: a queryset filtered on the label would match other rows after it.
        audited_ids = list(rows.order_by("pk").values_list("pk", flat=True)[:AUDITED_IDS])
        count = rows.update(
            actual_species=species,
            labelled_by=user if labelled else None,
            labelled_at=timezone.now() if labelled else None,
        )
        if count:
            target = f"#{audited_ids[0]}" if count == 1 else f"{count:,} predictions"
            audit.record(
                action=audit.Action.LABEL,
                user=user,
                target=target,
                species=species,
                count=count,
                prediction_ids=audited_ids,
            )
    return count


def _refuse_classes_unknown_to_their_version(rows: QuerySet, species: str) -> None:
    # A prediction is labelled with a class of the version that answered it: a class only a
    # rolled-back version knew would be a label no answer of this version could ever match.
    # The versions table is small: find the versions that lack the class, then ask the
    # predictions' version index whether any selected row is theirs.
    versions = ModelVersion.objects.only("pk", "version", "class_counts", "created_at", "artifact_sha256", "schema")
    lacking = [version for version in versions if species not in version.class_counts]
    if not lacking:
        return
    found = list(rows.filter(model_version__in=lacking).order_by().values_list("model_version", flat=True)[:1])
    if found:
        version = next(version for version in lacking if version.pk == found[0])
        raise FeedbackError(
            gettext("%(species)s is not a %(target)s %(version)s knows; choose %(known)s.")
            % {
                "species": species,
                "target": version.input_schema.target_in_sentence,
                "version": version,
                "known": one_of(version.classes),
            }
        )
