"""The model versions: list, retraining, each version's page and picture, and its candidate trial."""

import logging

from django.contrib import messages
from django.http import (
    FileResponse,
    Http404,
    HttpResponse,
    HttpResponseBadRequest,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST, require_safe

from predictor.history import selectors
from predictor.models import Job, MLModel, ModelVersion, UnknownModel
from predictor.ops import permissions
from predictor.ops.permissions import required
from predictor.registry import artifacts, comparison, model_metrics, training
from predictor.schema.features import ANIMALS_SLUG
from predictor.serving import candidates
from predictor.web.context_processors import answering_model_of
from predictor.web.forms import CandidateForm, RetrainForm
from predictor.web.views.batches import STORAGE_UNREACHABLE

logger = logging.getLogger(__name__)

PICTURE_UNREACHABLE = _("The file store cannot be reached, so the picture cannot be shown; try again later.")


@require_safe
@required(permissions.VIEW_MODELS)
def model_list(request):
    return _model_list_page(request, RetrainForm())


def _model_list_page(request, retrain_form: RetrainForm, status: int = 200):
    versions = selectors.with_live_counts(ModelVersion.objects.select_related("model", "candidacy"))
    by_model: dict[int, list[ModelVersion]] = {}
    for version in versions.order_by("model_id", "-version"):
        by_model.setdefault(version.model_id, []).append(version)
    # The default model first (the site's own), then the others by name; each with its versions, newest first.
    models = sorted(MLModel.objects.filter(pk__in=by_model), key=lambda model: (not model.is_default, model.name))
    context = {
        "models": [{"model": model, "versions": by_model[model.pk]} for model in models],
        "default_model": MLModel.objects.default(),  # the one the retrain form trains (its CSV columns)
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
    try:
        job = training.start_job(
            user=request.user,
            algorithm=form.cleaned_data["algorithm"],
            include_feedback=form.cleaned_data["include_feedback"],
            force=form.cleaned_data["force"],
            allow_new_classes=form.cleaned_data["new_class"],
            upload=form.cleaned_data["file"] if form.cleaned_data["data"] == RetrainForm.UPLOADED else None,
        )
    except artifacts.STORAGE_ERRORS:
        # The uploaded training file could not be kept (the bucket is down): no job was recorded.
        logger.exception("Could not keep a training upload.")
        form.add_error("file", STORAGE_UNREACHABLE)
        return _model_list_page(request, form, status=503)
    return redirect("predictor:job", job_id=job.pk)


# Every version's pages take the model's slug; without one (/models/3/, the addresses from before models had
# names) they are the default model's.
def _version_or_404(slug: str, version: int) -> ModelVersion:
    return get_object_or_404(ModelVersion.objects.select_related("model"), model__slug=slug, version=version)


@require_safe
@required(permissions.VIEW_MODELS)
def model_detail(request, version: int, slug: str = ANIMALS_SLUG):
    model_version = _version_or_404(slug, version)
    context = {"metrics": model_metrics.version_metrics(model_version), **answering_model_of(slug)}
    return render(request, "predictor/model_detail.html", context)


@require_safe
@required(permissions.VIEW_MODELS)
def model_picture(request, version: int, slug: str = ANIMALS_SLUG, scheme: str = "light"):
    model_version = _version_or_404(slug, version)
    if not model_version.picture_name:
        raise Http404(_("This version has no training picture."))
    try:
        picture = artifacts.open_picture(model_version.picture_name, scheme=scheme)
    except FileNotFoundError:
        raise Http404(_("The training picture is missing from the artifact storage.")) from None
    except artifacts.STORAGE_ERRORS:
        logger.warning("Could not open the training picture of v%s.", version, exc_info=True)
        return HttpResponse(gettext(PICTURE_UNREACHABLE), status=503, content_type="text/plain; charset=utf-8")
    response = FileResponse(picture, content_type="image/png")
    response["Cache-Control"] = "private, max-age=3600"
    return response


@require_safe
@required(permissions.VIEW_MODELS)
def candidate_comparison(request, version: int, slug: str = ANIMALS_SLUG):
    candidate = _version_or_404(slug, version)
    figures = comparison.compare(candidate)
    context = {
        "comparison": figures,
        "disagreements": comparison.disagreements(candidate, figures.active) if figures.active else [],
        "running": candidates.current(candidate.model),
        **answering_model_of(slug),
        "inputs": candidate.input_schema.inputs,
        "form": CandidateForm(),
        # Offered only to those the views behind them would let through.
        "can_change": permissions.allows(request.user, permissions.ACTIVATE_VERSIONS),
        "can_label": permissions.allows(request.user, permissions.LABEL_PREDICTIONS),
    }
    return render(request, "predictor/candidate_comparison.html", context)


@require_POST
@required(permissions.ACTIVATE_VERSIONS)
def change_candidate(request, version: int, slug: str = ANIMALS_SLUG):
    try:
        model = MLModel.objects.named(slug)
    except UnknownModel as unknown:
        raise Http404(str(unknown)) from None
    form = CandidateForm(request.POST)
    if not form.is_valid():
        problems = " ".join(error for errors in form.errors.values() for error in errors)
        return HttpResponseBadRequest(problems, content_type="text/plain")
    action, percent = form.cleaned_data["action"], form.cleaned_data["percent"]
    try:
        match action:
            case "shadow":
                candidates.start_shadow(version, model=model, user=request.user)
                message = gettext("%(version)s now scores every prediction as a shadow.")
            case "canary":
                candidates.start_canary(version, percent=percent, model=model, user=request.user)
                message = gettext("%(version)s now answers %(percent)s%% of single predictions as a canary.")
            case "stop":
                candidates.stop(version_number=version, model=model, user=request.user)
                message = gettext("%(version)s is no longer tried; its stored answers stay for the comparison.")
            case "promote":
                candidates.promote(version_number=version, model=model, user=request.user)
                message = gettext("Model %(version)s is now active; running servers serve it within a second.")
    except candidates.CandidateError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, message % {"version": f"v{version}", "percent": percent})
    return redirect("predictor:candidate_comparison", *([version] if model.is_default else [slug, version]))
