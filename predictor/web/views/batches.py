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
from predictor.models import Job
from predictor.ops import permissions
from predictor.ops.permissions import required
from predictor.registry import artifacts, training
from predictor.schema.features import FEATURES
from predictor.serving import model_service
from predictor.web.forms import BatchUploadForm
from predictor.web.views.form import model_status

logger = logging.getLogger(__name__)

STORAGE_UNREACHABLE = _(
    "The file store cannot be reached, so the file was not kept and no job was started; try again later."
)


@require_http_methods(["GET", "HEAD", "POST"])
@required(permissions.UPLOAD_BATCHES)
def batch_upload(request):
    template = "predictor/batch_upload.html"
    limits = {"max_rows": f"{settings.BATCH_UPLOAD_MAX_ROWS:,}", "features": FEATURES}
    if request.method == "GET":
        return render(request, template, {"form": BatchUploadForm(), **limits, **model_status(request)})

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
    except artifacts.STORAGE_ERRORS:
        # The kept upload could not be written (the bucket is down): nothing was recorded, no job.
        logger.exception("Could not keep a batch upload.")
        form.add_error("file", STORAGE_UNREACHABLE)
        return render(request, template, {"form": form, **limits}, status=503)
    return redirect("predictor:job", job_id=job.pk)


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
