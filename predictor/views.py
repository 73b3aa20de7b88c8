from functools import wraps

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core import signing
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from . import batch, history, model_service
from .forms import BatchUploadForm, PredictionForm
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


@require_http_methods(["GET", "POST"])
@staff_required
def batch_upload(request):
    template = "predictor/batch_upload.html"
    limits = {"max_rows": f"{settings.BATCH_UPLOAD_MAX_ROWS:,}"}
    if request.method == "GET":
        return render(request, template, {"form": BatchUploadForm(), **limits, **_model_status(request)})

    form = BatchUploadForm(request.POST, request.FILES)
    if not form.is_valid():
        return render(request, template, {"form": form, **limits}, status=400)
    try:
        batch_id = batch.predict_file(form.cleaned_data["file"].read())
    except batch.BatchFileError as error:
        form.add_error("file", str(error))
        return render(request, template, {"form": form, **limits}, status=400)
    except model_service.ModelNotReady as error:
        return render(request, template, {"form": form, **limits, "not_ready_reason": str(error)}, status=503)
    return redirect("predictor:batch_result", batch_id=batch_id)


@require_GET
@staff_required
def batch_result(request, batch_id):
    summary = batch.batch_summary(batch_id)
    if summary is None:
        raise Http404("No such batch.")
    return render(request, "predictor/batch_result.html", {"summary": summary})


@require_GET
@staff_required
def batch_download(request, batch_id):
    try:
        chunks = batch.results_csv(batch_id)
    except FileNotFoundError:
        raise Http404("No such batch.") from None
    response = StreamingHttpResponse(chunks, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="predictions-{batch_id}.csv"'
    return response
