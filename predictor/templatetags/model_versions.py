"""The models pages' note on a version this server's scikit-learn cannot load (artifacts.same_sklearn_series)."""

from django import template
from django.utils.translation import gettext

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
