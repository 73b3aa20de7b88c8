from django.db import DatabaseError
from django.http import HttpRequest

from predictor.serving import model_service


def answering_model(request: HttpRequest) -> dict:
    """The model the site answers with, for the footer's "trained on"; nothing when there is none."""
    try:
        return {"answering_model": model_service.active_model()}
    except (model_service.ModelNotReady, DatabaseError):
        return {}
