"""The prediction form and its answer page: the page every visitor sees."""

from django.http import (
    Http404,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods, require_safe

from predictor.models import MLModel, Prediction
from predictor.ops import limits
from predictor.schema.features import ANIMALS_SLUG, FEATURES
from predictor.schema.wording import one_of
from predictor.serving import model_service
from predictor.web import answers
from predictor.web.forms import InputsForm, PredictionForm


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
        context = {"form": PredictionForm(), "other_models": other_models(), **model_status(request)}
        return render(request, "predictor/predict.html", context)

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


@require_http_methods(["GET", "HEAD", "POST"])
@limits.limit_page(limits.PREDICTIONS)
def model_form(request, slug: str):
    """Any model's form at its own address, built from its active version's inputs; the animals' is the home page."""
    if slug == ANIMALS_SLUG:
        return redirect("predictor:predict")
    model = get_object_or_404(MLModel, slug=slug)
    try:
        loaded = model_service.active_model(slug)
    except model_service.ModelNotReady as error:
        status = 503 if request.method == "POST" else 200
        context = {"ml_model": model, "not_ready_reason": str(error), "submission_refused": status == 503}
        return render(request, "predictor/model_form.html", context, status=status)
    if request.method != "POST":
        return render(request, "predictor/model_form.html", _model_context(model, loaded, InputsForm(loaded.schema)))
    form = InputsForm(loaded.schema, request.POST)
    if not form.is_valid():
        return render(request, "predictor/model_form.html", _model_context(model, loaded, form), status=400)
    try:
        result = model_service.predict(form.inputs(), model=slug)
    except model_service.ModelNotReady as error:
        context = {"ml_model": model, "not_ready_reason": str(error), "submission_refused": True}
        return render(request, "predictor/model_form.html", context, status=503)
    prediction = answers.store_form_answer(result=result, submission_key=form.cleaned_data["submission_key"])
    return _result_page(request, prediction)


def _model_context(model: MLModel, loaded, form: InputsForm) -> dict:
    schema = loaded.schema
    return {
        "ml_model": model,
        "model": loaded,
        "answering_model": loaded,  # the footer's "trained on" is this model's, not the animals'
        "schema": schema,
        "form": form,
        "choices": one_of([schema.class_name(label) for label in loaded.classes]),
    }


def other_models() -> list[model_service.ServedModel]:
    """The models besides the animals one that answer now, for the home page's list."""
    return [model for model in model_service.served_models() if model.slug != ANIMALS_SLUG]


@require_safe
def result(request, token: str):
    prediction_id = answers.prediction_id(token)
    if prediction_id is None:
        raise Http404(_("No such result."))
    prediction = get_object_or_404(Prediction.objects.select_related("model_version", "model"), pk=prediction_id)
    return _result_page(request, prediction)


def _result_page(request, prediction: Prediction):
    model = prediction.model  # the answering version's model: at hand after the insert, joined in result()
    if not model.is_default:
        schema = prediction.schema
        context = {
            "prediction": prediction,
            "permalink": answers.permalink(prediction),
            "ml_model": model,
            "schema": schema,
            "answer": schema.class_name(prediction.species),
            "bars": [(schema.class_name(label), *shown) for label, *shown in prediction.sorted_probabilities],
            "form": InputsForm(schema),
        }
        try:
            context["answering_model"] = model_service.active_model(model.slug)
        except model_service.ModelNotReady:
            context["answering_model"] = None
        return render(request, "predictor/model_result.html", context)
    context = {
        "prediction": prediction,
        "permalink": answers.permalink(prediction),
        "form": PredictionForm(),
    }
    return render(request, "predictor/result.html", context)


# Column headings of the results table: (label, sort key or None when not sortable, numeric).
