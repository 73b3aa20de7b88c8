"""The prediction history: the results page, its CSV, and labelling a prediction."""

import dataclasses

from django.conf import settings
from django.contrib import messages
from django.http import (
    HttpResponse,
    HttpResponseBadRequest,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.formats import date_format
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST, require_safe

from predictor.history import exports, feedback, selectors
from predictor.models import ModelVersion, Prediction
from predictor.ops import permissions
from predictor.ops.permissions import required
from predictor.schema.features import ANIMALS_SLUG, FEATURES
from predictor.web.forms import (
    HistoryFilterForm,
    LabelForm,
)

HISTORY_PAGE_SIZE = 50


HISTORY_COLUMNS = [
    (_("Time"), "time", False),
    *((feature.label_with_unit, feature.form_name, True) for feature in FEATURES),
    (_("Species"), None, False),
    (_("Probability"), "probability", True),
    (_("Model"), None, False),
    (_("Source"), None, False),
    (_("Actual species"), None, False),
]


def _sort_headings(current: str) -> list[dict]:
    """Each column's heading: the sort a click asks for, and aria-sort for the current one."""
    headings = []
    for label, key, numeric in HISTORY_COLUMNS:
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


@require_safe
@required(permissions.VIEW_PREDICTIONS)
def prediction_history(request):
    animals = ModelVersion.objects.filter(model__slug=ANIMALS_SLUG)  # the page is the animals model's
    species = animals.known_species()
    form = HistoryFilterForm(request.GET, species=species, current=animals.current_species())
    if not form.is_valid():
        return render(request, "predictor/history.html", {"form": form}, status=400)
    query = form.query()
    if query.model_version is not None:
        species = query.model_version.classes  # one version's predictions: its own classes
    predictions = Prediction.objects.matching(query)
    first_day, last_day = selectors.chart_window(*form.days())
    # The chart's days lie inside the date filter; its per-day ranges must be the only time bounds.
    undated = Prediction.objects.matching(dataclasses.replace(query, since=None, until=None))
    try:
        with selectors.time_limited():
            page = selectors.keyset_page(predictions, sort=query.sort, size=HISTORY_PAGE_SIZE, **form.cursors())
            daily = selectors.daily_counts(undated, species=species, first=first_day, last=last_day)
            scatter = selectors.scatter_sample(predictions)
    except selectors.QueryTooSlow:
        limit_seconds = f"{settings.STAFF_QUERY_TIMEOUT_MS / 1000:g}"
        return render(request, "predictor/query_too_slow.html", {"limit_seconds": limit_seconds}, status=503)
    context = {
        "form": form,
        "page": page,
        # Offered only to those the label and upload views would let through.
        "can_label": permissions.allows(request.user, permissions.LABEL_PREDICTIONS),
        "can_upload": permissions.allows(request.user, permissions.UPLOAD_BATCHES),
        "headings": _sort_headings(query.sort),
        "filtered": query.is_filtered,
        "daily": daily,
        "chart_first_day": first_day,
        "chart_last_day": last_day,
        "scatter": scatter,
        "scatter_window": (window := selectors.scatter_window(scatter)),
        "scatter_size": selectors.SCATTER_SAMPLE_SIZE,
        "scatter_features": selectors.SCATTER_FEATURES,
        # Read by static/predictor/charts.js; species in one fixed order so each keeps its colour and shape.
        "chart_data": {
            "species": species,
            "days": daily["days"],
            # Days as the pages write them, in the visitor's language (the site's one date format).
            "day_labels": [date_format(day, "MONTH_DAY_FORMAT") for day, _counts in daily["rows"]],
            "count_title": gettext("predictions"),
            "daily": daily["species"],
            "scatter": scatter,
            "scatter_window": window and {"x": window.x, "y": window.y},
            "axes": {
                axis: {"title": feature.label_with_unit.lower(), "unit": feature.unit}
                for axis, feature in zip("yx", selectors.SCATTER_FEATURES, strict=True)
            },
        },
    }
    return render(request, "predictor/history.html", context)


@require_safe
@required(permissions.VIEW_PREDICTIONS)
def prediction_history_csv(request):
    form = HistoryFilterForm(request.GET, species=ModelVersion.objects.filter(model__slug=ANIMALS_SLUG).known_species())
    if not form.is_valid():
        problems = "\n".join(f"{name}: {' '.join(errors)}" for name, errors in form.errors.items())
        heading = gettext("Bad filter, nothing exported.")
        return HttpResponse(f"{heading}\n{problems}\n", status=400, content_type="text/plain")
    query = form.query()
    return exports.csv_response(Prediction.objects.matching(query).in_order(query.sort))


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
    message = gettext("Recorded %(species)s as the actual species of prediction %(id)s.")
    messages.success(request, message % {"species": species, "id": prediction.pk})
    back = form.cleaned_data["next"]
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        back = reverse("predictor:history")
    # Back to the same row of the same page, not the top of the list.
    return redirect(f"{back.partition('#')[0]}#prediction-{prediction.pk}")
