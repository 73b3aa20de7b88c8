"""The prediction form and its answer page: the page every visitor sees."""

from django.http import (
    Http404,
)
from django.shortcuts import get_object_or_404, render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods, require_safe

from predictor.models import Prediction
from predictor.ops import limits
from predictor.schema.features import FEATURES
from predictor.serving import model_service
from predictor.web import answers
from predictor.web.forms import PredictionForm


def model_status(request) -> dict:
    """What the form pages show beside the form: the measurements asked for, and the model or why none."""
    try:
        status = {"model": model_service.active_model()}
    except model_service.ModelNotReady as error:
        status = {"not_ready_reason": str(error)}
    return {"features": FEATURES, **status}


@require_http_methods(["GET", "HEAD", "POST"])
@limits.limit_page(limits.PREDICTIONS)
def predict(request):
    if request.method != "POST":
        return render(request, "predictor/predict.html", {"form": PredictionForm(), **model_status(request)})

    form = PredictionForm(request.POST)
    if not form.is_valid():
        return render(request, "predictor/predict.html", {"form": form, **model_status(request)}, status=400)
    try:
        result = model_service.predict(form.measurements())
    except model_service.ModelNotReady as error:
        context = {"form": form, "features": FEATURES, "not_ready_reason": str(error), "submission_refused": True}
        return render(request, "predictor/predict.html", context, status=503)
    prediction = answers.store_form_answer(result=result, submission_key=form.cleaned_data["submission_key"])
    return _result_page(request, prediction)  # the answer itself, not a redirect: see predictor.web.answers


@require_safe
def result(request, token: str):
    prediction_id = answers.prediction_id(token)
    if prediction_id is None:
        raise Http404(_("No such result."))
    prediction = get_object_or_404(Prediction.objects.select_related("model_version"), pk=prediction_id)
    return _result_page(request, prediction)


def _result_page(request, prediction: Prediction):
    context = {
        "prediction": prediction,
        "permalink": answers.permalink(prediction),
        "form": PredictionForm(),
    }
    return render(request, "predictor/result.html", context)


# Column headings of the results table: (label, sort key or None when not sortable, numeric).
