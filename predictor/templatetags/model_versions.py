"""The models pages' tags: a version's page addresses, and the note on a version this server's scikit-learn
cannot load (artifacts.same_sklearn_series)."""

from django import template
from django.urls import reverse
from django.utils.translation import gettext

from predictor.models import ModelVersion
from predictor.registry import artifacts

register = template.Library()


@register.simple_tag
def sklearn_note(saved_with: str, *, detailed: bool = False) -> str:
    """Why a version saved with scikit-learn ``saved_with`` cannot answer here, translated; "" when it can."""
    if artifacts.same_sklearn_series(saved_with):
        return ""
    values = {"saved": saved_with, "running": artifacts.SKLEARN_VERSION, "series": artifacts.sklearn_series(saved_with)}
    if not detailed:
        return gettext("Cannot be loaded: saved with scikit-learn %(saved)s.") % values
    return (
        gettext(
            "This server runs scikit-learn %(running)s, so it cannot load this version, saved with scikit-learn "
            "%(saved)s. Retrain it with this scikit-learn (python manage.py train_model), or pin scikit-learn "
            "%(series)s.*."
        )
        % values
    )


@register.simple_tag
def version_url(name: str, version: ModelVersion) -> str:
    """The address of one of ``version``'s pages (``predictor:model_detail`` …), with its model's slug where needed."""
    return reverse(name, args=version.url_args)
