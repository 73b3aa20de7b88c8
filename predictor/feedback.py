"""Feedback: staff record the actual species of stored predictions.

Every entry point (admin action, admin change page, the results page) labels through
`label_predictions`, so who labelled a row and when is always written with the label.
"""

from collections.abc import Iterable

from django.contrib.auth.base_user import AbstractBaseUser
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext

from .models import ModelVersion, Prediction


class FeedbackError(ValueError):
    """A label that cannot be recorded; the message says which values are allowed."""


def label_predictions(*, prediction_ids: Iterable[int] | QuerySet, species: str | None, user: AbstractBaseUser) -> int:
    """Record ``species`` as the actual species of the given predictions; return how many were labelled.

    ``species=None`` removes the label (a mistaken click). Inputs and outputs are never touched.
    """
    if species is not None and species not in (known := ModelVersion.objects.known_species()):
        raise FeedbackError(
            gettext("Unknown species %(species)r: choose one of %(known)s.")
            % {"species": species, "known": ", ".join(known)}
        )
    labelled = species is not None
    # A queryset (admin's "select all") stays a subquery instead of a list of a million ids.
    ids = prediction_ids if isinstance(prediction_ids, QuerySet) else list(prediction_ids)
    return Prediction.objects.filter(pk__in=ids).update(
        actual_species=species,
        labelled_by=user if labelled else None,
        labelled_at=timezone.now() if labelled else None,
    )
