from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core import signing
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from . import artifacts, feedback, history, model_metrics, model_service
from .forms import LabelForm, PredictionForm
from .models import ModelVersion, Prediction

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


@require_http_methods(["GET", "POST"])
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


@require_GET
def result(request, token: str):
    try:
        prediction_id = signing.loads(token, salt=RESULT_SALT)
    except signing.BadSignature:
        raise Http404("No such result.") from None
    prediction = get_object_or_404(Prediction.objects.select_related("model_version"), pk=prediction_id)
    return render(request, "predictor/result.html", {"prediction": prediction, "form": PredictionForm()})


@require_GET
@staff_required
def prediction_history(request):
    page = Paginator(Prediction.objects.recent(), HISTORY_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "predictor/history.html", {"page": page})


@require_POST
@staff_required
def label_prediction(request, prediction_id: int):
    prediction = get_object_or_404(Prediction, pk=prediction_id)
    form = LabelForm(request.POST)
    if not form.is_valid():
        return HttpResponseBadRequest(" ".join(form.errors["species"]), content_type="text/plain")
    feedback.label_predictions(prediction_ids=[prediction.pk], species=form.cleaned_data["species"], user=request.user)
    back = form.cleaned_data["next"]
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        back = reverse("predictor:history")
    return redirect(back)


@require_GET
@staff_required
def model_list(request):
    versions = ModelVersion.objects.with_live_counts()
    return render(request, "predictor/model_list.html", {"versions": versions})


@require_GET
@staff_required
def model_detail(request, version: int):
    model_version = get_object_or_404(ModelVersion, version=version)
    return render(request, "predictor/model_detail.html", {"metrics": model_metrics.version_metrics(model_version)})


@require_GET
@staff_required
def model_picture(request, version: int):
    model_version = get_object_or_404(ModelVersion, version=version)
    if not model_version.picture_name:
        raise Http404("This version has no training picture.")
    try:
        picture = artifacts.open_picture(model_version.picture_name)
    except FileNotFoundError:
        raise Http404("The training picture is missing from the artifact storage.") from None
    response = FileResponse(picture, content_type="image/png")
    response["Cache-Control"] = "private, max-age=3600"
    return response
