from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest
from django.utils.translation import gettext

from predictor.schema.features import ANIMALS_SLUG
from predictor.serving import model_service


def answering_model_of(slug: str) -> dict:
    """The footer's "trained on" on a page about one model (its history, its versions): that model's."""
    try:
        return {"answering_model": model_service.active_model(slug)}
    except (model_service.ModelNotReady, DatabaseError):
        return {"answering_model": None}


def answering_model(request: HttpRequest) -> dict:
    """The model the site answers with, for the footer's "trained on"; nothing when there is none."""
    try:
        return {"answering_model": model_service.active_model()}
    except (model_service.ModelNotReady, DatabaseError):
        return {}


def product_name(request: HttpRequest) -> dict:
    """The name in the header and titles: DJANGO_SITE_NAME, else one that fits the models served."""
    if settings.SITE_NAME:
        return {"product_name": settings.SITE_NAME}
    try:
        others = any(model.slug != ANIMALS_SLUG for model in model_service.served_models())
    except DatabaseError:
        others = False
    return {"product_name": gettext("Predictor") if others else gettext("Animal predictor")}
