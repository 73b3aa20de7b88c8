"""The prediction history: the results page, its CSV, and labelling a prediction."""

import dataclasses

from django.conf import settings
from django.contrib import messages
from django.http import (
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponseNotFound,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.formats import date_format
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.text import capfirst
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST, require_safe

from predictor.history import exports, feedback, selectors
from predictor.models import MLModel, ModelVersion, Prediction, UnknownModel
from predictor.ops import permissions
from predictor.ops.permissions import required
from predictor.schema.features import ANIMALS_SCHEMA, ANIMALS_SLUG
from predictor.schema.inputs import ModelSchema
from predictor.web.context_processors import answering_model_of
from predictor.web.forms import (
    HistoryFilterForm,
    LabelForm,
)

HISTORY_PAGE_SIZE = 50


def _history_model(request, models: list[MLModel]) -> MLModel:
    """The model named by ``?model=`` (the animals model without one); raises UnknownModel."""
    slug = request.GET.get("model") or ANIMALS_SLUG
    # Usually one of the models the switcher lists, already read; else named() finds or refuses it.
    return next((model for model in models if model.slug == slug), None) or MLModel.objects.named(slug)


def _unknown_model(request, error: UnknownModel, models: list[MLModel]):
    context = {"message": str(error), "models": models}
    return render(request, "predictor/history_unknown_model.html", context, status=404)


def _columns(schema: ModelSchema) -> list[tuple[str, str | None, bool]]:
    """The table's columns for one model: (heading, sort key or None, numeric), its inputs in its order."""
    sortable = selectors.input_sorts(schema)
    target = schema.target_in_sentence
    return [
        (_("Time"), "time", False),
        *(
            (item.label_with_unit, item.form_name if item.form_name in sortable else None, item.is_number)
            for item in schema.inputs
        ),
        (capfirst(schema.target_label), None, False),  # a heading, even where the CSV wrote "kind"
        (_("Probability"), "probability", True),
        (_("Model"), None, False),
        (_("Source"), None, False),
        (capfirst(gettext("Actual %(target)s") % {"target": target}), None, False),
    ]


def _sort_headings(current: str, schema: ModelSchema = ANIMALS_SCHEMA) -> list[dict]:
    """Each column's heading: the sort a click asks for, and aria-sort for the current one."""
    headings = []
    for label, key, numeric in _columns(schema):
        state, next_sort = "none", None
        if key is not None:
            # A first click shows the newest or largest first; a second click flips.
            if current.removeprefix("-") == key:
                state = "descending" if current.startswith("-") else "ascending"
                next_sort = key if current.startswith("-") else f"-{key}"
            else:
                next_sort = f"-{key}"
        headings.append({"label": label, "sort": next_sort, "state": state, "numeric": numeric})
    return headings


def _table_rows(rows: list[Prediction], schema: ModelSchema, model: MLModel) -> list[dict]:
    """Each row's cells in the page's column order, classes by their display names."""
    for prediction in rows:
        # Every row is of the page's model: its version's link (version_url) need not read it once per row.
        prediction.model_version.model = model
    return [
        {
            "prediction": prediction,
            "inputs": [
                (item, item.display(prediction.inputs[item.name]) if item.name in prediction.inputs else "—")
                for item in schema.inputs
            ],
            "species": selectors.class_name(model, schema, prediction.species),
        }
        for prediction in rows
    ]


def _filter_form(request, model: MLModel, schema: ModelSchema, *, species: list[str]) -> HistoryFilterForm:
    current = ModelVersion.objects.filter(model=model).current_species()
    return HistoryFilterForm(request.GET, species=species, current=current, model=model, schema=schema)


@require_safe
@required(permissions.VIEW_PREDICTIONS)
def prediction_history(request):
    models = selectors.history_models()
    try:
        model = _history_model(request, models)
    except UnknownModel as error:
        return _unknown_model(request, error, models)
    species = ModelVersion.objects.filter(model=model).known_species()
    schema = selectors.history_schema(model)
    form = _filter_form(request, model, schema, species=species)
    # Links that start again keep the model and nothing else.
    model_param = request.GET.get("model", "")
    clear_url = reverse("predictor:history") + (f"?{urlencode({'model': model_param})}" if model_param else "")
    common = {
        **answering_model_of(model.slug),
        "form": form,
        "ml_model": model,
        "models": models,
        "model_param": model_param,
        "clear_url": clear_url,
        "form_url": reverse("predictor:predict")
        if model.is_default
        else reverse("predictor:model_form", args=[model.slug]),
    }
    if not form.is_valid():
        return render(request, "predictor/history.html", common, status=400)
    query = form.query()
    if query.model_version is not None:
        species = query.model_version.classes  # one version's predictions: its own classes
        schema = selectors.history_schema(model, version=query.model_version)
    axes = selectors.scatter_inputs(schema)
    predictions = Prediction.objects.matching(query)
    first_day, last_day = selectors.chart_window(*form.days())
    # The chart's days lie inside the date filter; its per-day ranges must be the only time bounds.
    undated = Prediction.objects.matching(dataclasses.replace(query, since=None, until=None))
    try:
        with selectors.time_limited():
            page = selectors.keyset_page(predictions, sort=query.sort, size=HISTORY_PAGE_SIZE, **form.cursors())
            daily = selectors.daily_counts(undated, species=species, first=first_day, last=last_day)
            scatter = selectors.scatter_sample(predictions, axes=axes) if axes else []
    except selectors.QueryTooSlow:
        limit_seconds = f"{settings.STAFF_QUERY_TIMEOUT_MS / 1000:g}"
        return render(request, "predictor/query_too_slow.html", {"limit_seconds": limit_seconds}, status=503)
    target = schema.target_in_sentence
    context = common | {
        "page": page,
        "rows": _table_rows(page.rows, schema, model),
        # Offered only to those the label and upload views would let through.
        "can_label": permissions.allows(request.user, permissions.LABEL_PREDICTIONS),
        "can_upload": permissions.allows(request.user, permissions.UPLOAD_BATCHES),
        "headings": _sort_headings(query.sort, schema),
        # Every page is of one model: that alone is no filter (no "filtered rows", no "clear the filters").
        "filtered": dataclasses.replace(query, model=None).is_filtered,
        "target": target,
        "daily": daily,
        "daily_names": [selectors.class_name(model, schema, name) for name in daily["species"]],
        "chart_first_day": first_day,
        "chart_last_day": last_day,
        "scatter": scatter,
        "scatter_window": (window := selectors.scatter_window(scatter)),
        "scatter_size": selectors.SCATTER_SAMPLE_SIZE,
        "scatter_features": axes,  # None: fewer than two number inputs, no scatter
        # Read by static/predictor/charts.js; species in one fixed order so each keeps its colour and shape.
        "chart_data": {
            "species": species,
            "names": {name: selectors.class_name(model, schema, name) for name in species},
            "days": daily["days"],
            # Days as the pages write them, in the visitor's language (the site's one date format).
            "day_labels": [date_format(day, "MONTH_DAY_FORMAT") for day, _counts in daily["rows"]],
            "count_title": gettext("predictions"),
            "daily": daily["species"],
            "scatter": scatter if axes else None,
            "scatter_window": window and {"x": window.x, "y": window.y},
            "axes": axes
            and {
                axis: {"title": str(feature.label_with_unit).lower(), "unit": feature.unit}
                for axis, feature in zip("yx", axes, strict=True)
            },
        },
    }
    return render(request, "predictor/history.html", context)


@require_safe
@required(permissions.VIEW_PREDICTIONS)
def prediction_history_csv(request):
    try:
        model = MLModel.objects.named(request.GET.get("model") or ANIMALS_SLUG)
    except UnknownModel as error:
        return HttpResponseNotFound(f"{error}\n", content_type="text/plain; charset=utf-8")
    schema = selectors.history_schema(model)
    form = _filter_form(request, model, schema, species=ModelVersion.objects.filter(model=model).known_species())
    if not form.is_valid():
        problems = "\n".join(f"{name}: {' '.join(errors)}" for name, errors in form.errors.items())
        heading = gettext("Bad filter, nothing exported.")
        return HttpResponse(f"{heading}\n{problems}\n", status=400, content_type="text/plain")
    query = form.query()
    # One header for the whole file: the model's inputs (exports.columns), whichever version answered a row.
    slug = "" if model.is_default else model.slug
    return exports.csv_response(Prediction.objects.matching(query).in_order(query.sort), schema=schema, model=slug)


@require_POST
@required(permissions.LABEL_PREDICTIONS)
def label_prediction(request, prediction_id: int):
    prediction = get_object_or_404(Prediction.objects.select_related("model_version"), pk=prediction_id)
    # The classes of the version that answered: a class only another (rolled-back) version knew is no answer here.
    form = LabelForm(request.POST, species=prediction.model_version.classes)
    if not form.is_valid():
        return HttpResponseBadRequest(" ".join(form.errors["species"]), content_type="text/plain")
    species = form.cleaned_data["species"]
    feedback.label_predictions(prediction_ids=[prediction.pk], species=species, user=request.user)
    schema = prediction.schema
    message = gettext("Recorded %(species)s as the actual %(target)s of prediction %(id)s.")
    named = selectors.class_name(prediction.model, schema, species)
    shown = {"species": named, "target": schema.target_in_sentence, "id": prediction.pk}
    messages.success(request, message % shown)
    back = form.cleaned_data["next"]
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        back = reverse("predictor:history")
    # Back to the same row of the same page, not the top of the list.
    return redirect(f"{back.partition('#')[0]}#prediction-{prediction.pk}")
