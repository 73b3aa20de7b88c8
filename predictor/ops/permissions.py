"""Who may do what: the permission each staff page, admin action and API endpoint checks.

Django's model permissions, handed out through three groups (created by migration 0007):
``viewer`` reads the history and the models, ``labeller`` also labels predictions, ``operator``
also uploads batches, activates versions, retrains and manages API keys. Superusers pass every
check. Only active staff accounts pass any: an account that loses ``is_staff`` or ``is_active``
loses its pages and its API keys at once, whatever its groups say.
"""

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext_lazy as _

VIEW_PREDICTIONS = "predictor.view_prediction"  # the history, its CSV, batch results, GET /api/v1/predictions
LABEL_PREDICTIONS = "predictor.change_prediction"  # the label buttons and the admin's label actions
UPLOAD_BATCHES = "predictor.add_prediction"  # the CSV upload page and POST /api/v1/predict/batch
VIEW_MODELS = "predictor.view_modelversion"  # the models pages, their pictures, GET /api/v1/models
ACTIVATE_VERSIONS = "predictor.change_modelversion"  # the admin's activate action (rollback, promotion)
RETRAIN = "predictor.add_modelversion"  # training a version: the models page's retraining job
VIEW_AUDIT = "predictor.view_auditevent"
MANAGE_API_KEYS = ("predictor.view_apikey", "predictor.add_apikey", "predictor.change_apikey")

_VIEWER = [VIEW_PREDICTIONS, VIEW_MODELS]
_LABELLER = [*_VIEWER, LABEL_PREDICTIONS]
_OPERATOR = [*_LABELLER, UPLOAD_BATCHES, ACTIVATE_VERSIONS, RETRAIN, *MANAGE_API_KEYS, VIEW_AUDIT]

# The groups a deployer hands out. Migration 0007 wrote these; a test checks they still match.
GROUPS = {"viewer": _VIEWER, "labeller": _LABELLER, "operator": _OPERATOR}

# What a refused staff account is told: what it lacks, and the smallest group that grants it.
_REFUSALS = {
    VIEW_PREDICTIONS: _("Seeing the prediction history needs the “viewer” group or higher."),
    VIEW_MODELS: _("Seeing the model versions needs the “viewer” group or higher."),
    LABEL_PREDICTIONS: _("Labelling predictions needs the “labeller” group or higher."),
    UPLOAD_BATCHES: _("Predicting a batch needs the “operator” group."),
}
_NOT_STAFF = _("The prediction history is for staff only.")


def allows(user: AbstractBaseUser | AnonymousUser | None, permission: str) -> bool:
    """Whether ``user`` may do what ``permission`` guards: an active staff account holding it."""
    if user is None or not user.is_active or not user.is_staff:
        return False
    return user.has_perm(permission)


def refusal(user: AbstractBaseUser | AnonymousUser | None, permission: str) -> str:
    """Why ``user`` is refused ``permission``, in words for the 403."""
    if user is None or isinstance(user, AnonymousUser) or not user.is_staff:
        return str(_NOT_STAFF)
    return str(_REFUSALS.get(permission, _("Your account does not have permission to do this.")))


def required(permission: str) -> Callable:
    """A view decorator: anonymous visitors go to the login page (and back); others without ``permission`` get 403."""

    def decorator(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not allows(request.user, permission):
                raise PermissionDenied(refusal(request.user, permission))
            return view(request, *args, **kwargs)

        return wrapper

    return decorator
