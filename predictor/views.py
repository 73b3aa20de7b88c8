from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core import signing
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_safe

from . import history, model_service
from .forms import PredictionForm
from .models import Prediction

RESULT_SALT = "predictor.result"
HISTORY_PAGE_SIZE = 50


def staff_required(view):
    """Anonymous visitors go to the login page (and back); logged-in non-staff get 403."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not request.user.is_staff:
            raise PermissionDenied("The prediction history is for staff only.")
        return view(request, *args, **kwargs)

    return wrapper


def _model_status(request) -> dict:
    try:
        return {"model": model_service.active_model()}
    except model_service.ModelNotReady as error:
        return {"not_ready_reason": str(error)}


@require_http_methods(["GET", "HEAD", "POST"])
def predict(request):
    if request.method == "GET":
        return render(request, "predictor/predict.html", {"form": PredictionForm(), **_model_status(request)})

    form = PredictionForm(request.POST)
    if not form.is_valid():
        return render(request, "predictor/predict.html", {"form": form, **_model_status(request)}, status=400)
    measurements = form.measurements()
    try:
        result = model_service.predict(**measurements)
    except model_service.ModelNotReady as error:
        context = {"form": form, "not_ready_reason": str(error), "submission_refused": True}
        return render(request, "predictor/predict.html", context, status=503)
    prediction = history.record_prediction(result=result, source=Prediction.Source.FORM, **measurements)
    # Post/redirect/get: reloading the result page shows the stored row instead of storing another.
    return redirect("predictor:result", token=signing.dumps(prediction.pk, salt=RESULT_SALT))


@require_safe
def result(request, token: str):
    try:
        prediction_id = signing.loads(token, salt=RESULT_SALT)
    except signing.BadSignature:
        raise Http404("No such result.") from None
    prediction = get_object_or_404(Prediction.objects.select_related("model_version"), pk=prediction_id)
    return render(request, "predictor/result.html", {"prediction": prediction, "form": PredictionForm()})


@require_safe
@staff_required
def prediction_history(request):
    page = Paginator(Prediction.objects.recent(), HISTORY_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "predictor/history.html", {"page": page})
