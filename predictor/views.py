import dataclasses
import uuid

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.db import DatabaseError
from django.http import (
    FileResponse,
    Http404,
    HttpResponse,
    HttpResponseBadRequest,
    JsonResponse,
    StreamingHttpResponse,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.formats import date_format
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import check_for_language, gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from . import (
    answers,
    artifacts,
    batch,
    candidates,
    comparison,
    exports,
    feedback,
    health,
    jobs,
    limits,
    model_metrics,
    model_service,
    permissions,
    selectors,
    training,
)
from .client import is_local
from .features import FEATURES
from .forms import BatchUploadForm, CandidateForm, HistoryFilterForm, LabelForm, PredictionForm, RetrainForm
from .models import Job, ModelVersion, Prediction
from .permissions import required

HISTORY_PAGE_SIZE = 50


def _model_status(request) -> dict:
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
        return render(request, "predictor/predict.html", {"form": PredictionForm(), **_model_status(request)})

    form = PredictionForm(request.POST)
    if not form.is_valid():
        return render(request, "predictor/predict.html", {"form": form, **_model_status(request)}, status=400)
    measurements = form.measurements()
    try:
        result = model_service.predict(measurements)
    except model_service.ModelNotReady as error:
        context = {"form": form, "features": FEATURES, "not_ready_reason": str(error), "submission_refused": True}
        return render(request, "predictor/predict.html", context, status=503)
    prediction = answers.store_form_answer(
        result=result, measurements=measurements, submission_key=form.cleaned_data["submission_key"]
    )
    return _result_page(request, prediction)  # the answer itself, not a redirect: see predictor.answers


@require_safe
def choose_language(request, language: str):
    """The footer's language links: remember the choice in Django's language cookie, then go back.

    A plain link, not a form, so the footer holds nothing per visitor and is rendered once per
    process (predictor/templatetags/rendered_once.py). Choosing a language changes nothing but
    how pages read, so a link from elsewhere can do no harm. Django's POST view at /i18n/setlang/
    does the same for forms.
    """
    if not check_for_language(language) or language not in dict(settings.LANGUAGES):
        raise Http404(_("No such language."))
    back = request.headers.get("referer", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        back = reverse("predictor:predict")
    response = redirect(back)
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME,
        language,
        max_age=settings.LANGUAGE_COOKIE_AGE,
        path=settings.LANGUAGE_COOKIE_PATH,
        samesite=settings.LANGUAGE_COOKIE_SAMESITE,
        secure=settings.LANGUAGE_COOKIE_SECURE,
        httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
    )
    return response


@require_safe
@never_cache
def health_check(request):
    """200 when this process can answer a prediction, 503 when it cannot; why, to staff and local callers only."""
    report = health.check()
    return JsonResponse(report.as_json(details=_may_see_health_details(request)), status=report.http_status)


def _may_see_health_details(request) -> bool:
    if is_local(request):
        return True
    try:
        return request.user.is_staff  # False for anonymous visitors
    except DatabaseError:
        return False  # the session cannot be read while the database is down: answer, without details


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
    species = ModelVersion.objects.known_species()
    form = HistoryFilterForm(request.GET, species=species)
    if not form.is_valid():
        return render(request, "predictor/history.html", {"form": form}, status=400)
    query = form.query()
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
        "label_species": species,
        # Offered only to those the label and upload views would let through.
        "can_label": permissions.allows(request.user, permissions.LABEL_PREDICTIONS),
        "can_upload": permissions.allows(request.user, permissions.UPLOAD_BATCHES),
        "headings": _sort_headings(query.sort),
        "filtered": query.is_filtered,
        "daily": daily,
        "chart_first_day": first_day,
        "chart_last_day": last_day,
        "scatter": scatter,
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
    form = HistoryFilterForm(request.GET, species=ModelVersion.objects.known_species())
    if not form.is_valid():
        problems = "\n".join(f"{name}: {' '.join(errors)}" for name, errors in form.errors.items())
        heading = gettext("Bad filter, nothing exported.")
        return HttpResponse(f"{heading}\n{problems}\n", status=400, content_type="text/plain")
    query = form.query()
    return exports.csv_response(Prediction.objects.matching(query).in_order(query.sort))


@require_http_methods(["GET", "HEAD", "POST"])
@required(permissions.UPLOAD_BATCHES)
def batch_upload(request):
    template = "predictor/batch_upload.html"
    limits = {"max_rows": f"{settings.BATCH_UPLOAD_MAX_ROWS:,}", "features": FEATURES}
    if request.method == "GET":
        return render(request, template, {"form": BatchUploadForm(), **limits, **_model_status(request)})

    form = BatchUploadForm(request.POST, request.FILES)
    if not form.is_valid():
        return render(request, template, {"form": form, **limits}, status=400)
    try:
        model_service.active_model()  # refused now rather than by the job: no model can answer
        job = batch.start_job(form.cleaned_data["file"], user=request.user)  # streamed, never read whole
    except batch.BatchFileError as error:
        form.add_error("file", str(error))
        return render(request, template, {"form": form, **limits}, status=400)
    except model_service.ModelNotReady as error:
        return render(request, template, {"form": form, **limits, "not_ready_reason": str(error)}, status=503)
    return redirect("predictor:job", job_id=job.pk)


def _job_for(request, job_id: uuid.UUID) -> Job:
    job = get_object_or_404(Job, pk=job_id)
    if not jobs.visible_to(job, request.user):
        permission = jobs.KINDS[job.kind].view_permission
        raise PermissionDenied(permissions.refusal(request.user, permission))
    return job


@require_safe
@never_cache
def job_detail(request, job_id):
    """A job's progress (updated by static/predictor/job.js), then its outcome; a finished batch's is its page."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    job = _job_for(request, job_id)
    if job.kind == Job.Kind.BATCH and job.status == Job.Status.SUCCEEDED:
        return redirect("predictor:batch_result", batch_id=job.outcome["batch_id"])
    context = {
        "job": job,
        # job.js fills these in as the job moves; the page shows them as they were when it was drawn.
        "count_text": gettext("%(done)s of %(total)s rows stored"),
        "status_texts": dict(Job.Status.choices),
    }
    if job.kind == Job.Kind.RETRAIN and job.status == Job.Status.SUCCEEDED:
        context["decision"] = training.gate_decision(job.outcome)
    return render(request, "predictor/job.html", context)


@require_safe
@never_cache
def job_status(request, job_id):
    """What job.js polls: the job as the API shows it, plus the page to show once it is finished."""
    if not request.user.is_authenticated:
        raise PermissionDenied(permissions.refusal(request.user, permissions.VIEW_PREDICTIONS))
    job = _job_for(request, job_id)
    return JsonResponse({**jobs.as_json(job), "page": reverse("predictor:job", args=[job.pk])})


@require_safe
@required(permissions.VIEW_PREDICTIONS)
def batch_result(request, batch_id):
    summary = batch.batch_summary(batch_id)
    if summary is None:
        raise Http404(_("No such batch."))
    return render(request, "predictor/batch_result.html", {"summary": summary})


@require_safe
@required(permissions.VIEW_PREDICTIONS)
def batch_download(request, batch_id):
    try:
        chunks = batch.results_csv(batch_id)
    except FileNotFoundError:
        raise Http404(_("No such batch.")) from None
    response = StreamingHttpResponse(chunks, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="predictions-{batch_id}.csv"'
    response["Cache-Control"] = exports.PRIVATE_DOWNLOAD
    return response


@require_POST
@required(permissions.LABEL_PREDICTIONS)
def label_prediction(request, prediction_id: int):
    prediction = get_object_or_404(Prediction, pk=prediction_id)
    form = LabelForm(request.POST, species=ModelVersion.objects.known_species())
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


@require_safe
@required(permissions.VIEW_MODELS)
def model_list(request):
    return _model_list_page(request, RetrainForm())


def _model_list_page(request, retrain_form: RetrainForm, status: int = 200):
    context = {
        "versions": ModelVersion.objects.with_live_counts(),
        # Offered only to those the retrain view lets through.
        "retrain_form": retrain_form if permissions.allows(request.user, permissions.RETRAIN) else None,
        "recent_retrainings": Job.objects.filter(kind=Job.Kind.RETRAIN).select_related("created_by")[:5],
    }
    return render(request, "predictor/model_list.html", context, status=status)


@require_POST
@required(permissions.RETRAIN)
def retrain(request):
    form = RetrainForm(request.POST, request.FILES)
    if not form.is_valid():
        return _model_list_page(request, form, status=400)
    job = training.start_job(
        user=request.user,
        algorithm=form.cleaned_data["algorithm"],
        include_feedback=form.cleaned_data["include_feedback"],
        force=form.cleaned_data["force"],
        upload=form.cleaned_data["file"] if form.cleaned_data["data"] == RetrainForm.UPLOADED else None,
    )
    return redirect("predictor:job", job_id=job.pk)


@require_safe
@required(permissions.VIEW_MODELS)
def model_detail(request, version: int):
    model_version = get_object_or_404(ModelVersion, version=version)
    return render(request, "predictor/model_detail.html", {"metrics": model_metrics.version_metrics(model_version)})


@require_safe
@required(permissions.VIEW_MODELS)
def model_picture(request, version: int, scheme: str = "light"):
    model_version = get_object_or_404(ModelVersion, version=version)
    if not model_version.picture_name:
        raise Http404(_("This version has no training picture."))
    try:
        picture = artifacts.open_picture(model_version.picture_name, scheme=scheme)
    except FileNotFoundError:
        raise Http404(_("The training picture is missing from the artifact storage.")) from None
    response = FileResponse(picture, content_type="image/png")
    response["Cache-Control"] = "private, max-age=3600"
    return response


@require_safe
@required(permissions.VIEW_MODELS)
def candidate_comparison(request, version: int):
    candidate = get_object_or_404(ModelVersion, version=version)
    figures = comparison.compare(candidate)
    context = {
        "comparison": figures,
        "disagreements": comparison.disagreements(candidate, figures.active) if figures.active else [],
        "running": candidates.current(),
        "features": FEATURES,
        "form": CandidateForm(),
        # Offered only to those the views behind them would let through.
        "can_change": permissions.allows(request.user, permissions.ACTIVATE_VERSIONS),
        "can_label": permissions.allows(request.user, permissions.LABEL_PREDICTIONS),
        "label_species": ModelVersion.objects.known_species(),
    }
    return render(request, "predictor/candidate_comparison.html", context)


@require_POST
@required(permissions.ACTIVATE_VERSIONS)
def change_candidate(request, version: int):
    form = CandidateForm(request.POST)
    if not form.is_valid():
        problems = " ".join(error for errors in form.errors.values() for error in errors)
        return HttpResponseBadRequest(problems, content_type="text/plain")
    action, percent = form.cleaned_data["action"], form.cleaned_data["percent"]
    try:
        match action:
            case "shadow":
                candidates.start_shadow(version, user=request.user)
                message = gettext("%(version)s now scores every prediction as a shadow.")
            case "canary":
                candidates.start_canary(version, percent=percent, user=request.user)
                message = gettext("%(version)s now answers %(percent)s%% of single predictions as a canary.")
            case "stop":
                candidates.stop(version_number=version, user=request.user)
                message = gettext("%(version)s is no longer tried; its stored answers stay for the comparison.")
            case "promote":
                candidates.promote(version_number=version, user=request.user)
                message = gettext("Model %(version)s is now active; running servers serve it within a second.")
    except candidates.CandidateError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, message % {"version": f"v{version}", "percent": percent})
    return redirect("predictor:candidate_comparison", version=version)
