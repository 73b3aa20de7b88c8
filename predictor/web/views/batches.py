"""Batch uploads and the jobs that run them (and retrainings): upload, progress, results."""

import logging
import uuid

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import (
    Http404,
    JsonResponse,
    StreamingHttpResponse,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_safe

from predictor import jobs
from predictor.history import batch, exports
from predictor.models import Job, MLModel, UnknownModel
from predictor.ops import permissions
from predictor.ops.permissions import required
from predictor.registry import artifacts, training
from predictor.schema.features import ANIMALS_SLUG
from predictor.serving import model_service
from predictor.web.forms import BatchUploadForm

logger = logging.getLogger(__name__)

STORAGE_UNREACHABLE = _(
    "The file store cannot be reached, so the file was not kept and no job was started; try again later."
)


@require_http_methods(["GET", "HEAD", "POST"])
@required(permissions.UPLOAD_BATCHES)
def batch_upload(request):
    """The upload page of one model (``?model=iris``; the animals one by default), and the upload it posts."""
    template = "predictor/batch_upload.html"
    if request.method != "POST":
        try:
            model = batch.model_named(request.GET.get("model", ""))
        except UnknownModel as unknown:
            context = {"form": BatchUploadForm(), "unknown_model": str(unknown), **_about(ANIMALS_SLUG)}
            return render(request, template, context, status=404)
        form = BatchUploadForm(initial={"model": model.slug})
        return render(request, template, {"form": form, **_about(model.slug)})

    form = BatchUploadForm(request.POST, request.FILES)
    if not form.is_valid():
        about = _about(form.cleaned_data.get("model") or ANIMALS_SLUG)
        return render(request, template, {"form": form, **about}, status=400)
    slug = form.cleaned_data["model"]
    about = _about(slug)
    try:
        job = batch.start_job(form.cleaned_data["file"], user=request.user, model=slug)  # streamed, never read whole
    except batch.BatchFileError as error:
        form.add_error("file", str(error))
        return render(request, template, {"form": form, **about}, status=400)
    except UnknownModel as unknown:  # removed since the form was checked
        form.add_error("model", str(unknown))
        return render(request, template, {"form": form, **about}, status=400)
    except model_service.ModelNotReady as error:
        return render(request, template, {"form": form, **about, "not_ready_reason": str(error)}, status=503)
    except artifacts.STORAGE_ERRORS:
        # The kept upload could not be written (the bucket is down): nothing was recorded, no job.
        logger.exception("Could not keep a batch upload.")
        form.add_error("file", STORAGE_UNREACHABLE)
        return render(request, template, {"form": form, **about}, status=503)
    return redirect("predictor:job", job_id=job.pk)


def _about(slug: str) -> dict:
    """What the upload page says of the model a file is for: its columns, the row cap, or why it cannot answer."""
    model = MLModel.objects.named(slug)
    schema = batch.expected_schema(model)
    context = {
        "max_rows": f"{settings.BATCH_UPLOAD_MAX_ROWS:,}",
        "ml_model": model,
        "features": schema.inputs if schema else (),
    }
    try:
        loaded = model_service.active_model(slug)
    except model_service.ModelNotReady as error:
        context["not_ready_reason"] = str(error)
    else:
        context["model"] = loaded
        if not model.is_default:
            context["answering_model"] = loaded  # the footer's "trained on" is this model's, not the animals'
    return context


def _job_for(request, job_id: uuid.UUID) -> Job:
    job = get_object_or_404(Job, pk=job_id)
    if not jobs.visible_to(job, request.user):
        permission = jobs.view_permission(job)
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
        "count_text": gettext("%(done)s of %(total)s rows stored")
        if job.kind == Job.Kind.BATCH
        else gettext("%(done)s of %(total)s steps done (reading, folds, fitting, recording)"),
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
