"""The JSON API, mounted at /api/: predictions for programs, and the history for staff and API keys.

Predictions go through the same service and history writer as the form, and validation uses the
same bounds (predictor.schema.features) and the form's wording. Every error is JSON, {"detail": ...,
"errors": [...]}, including the ones Django or django-ninja would answer in HTML or plain text
(unknown paths, wrong methods, a busy database): ``urls()`` wraps ninja's URLs for that.

The endpoints live under /api/v1/; their paths from before versioning (/api/predict ...) are
aliases served by the same views and left out of the OpenAPI schema.
"""

import logging
import uuid
from functools import wraps
from typing import Any

import numpy as np
from django.conf import settings
from django.core import signals
from django.core.exceptions import RequestDataTooBig
from django.core.paginator import EmptyPage
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpResponseNotAllowed
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, path, re_path, resolve, reverse
from django.utils.functional import lazy
from django.utils.log import log_response
from django.utils.text import format_lazy
from django.utils.translation import gettext, gettext_noop
from django.utils.translation import gettext_lazy as _
from ninja import Body, NinjaAPI, Path, Query, Router, Status
from ninja.decorators import decorate_view
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.security import APIKeyHeader, HttpBearer, SessionAuth

from predictor import jobs
from predictor.api.schemas import (
    MAX_BATCH_ITEMS,
    BatchOut,
    Error,
    JobOut,
    MeasurementsIn,
    ModelAnswerOut,
    ModelBatchOut,
    ModelPredictionFilters,
    ModelPredictionPage,
    ModelVersionOut,
    PredictionFilters,
    PredictionOut,
    PredictionPage,
    ServedModelOut,
)
from predictor.history import writer
from predictor.history.pagination import AtLeast, CappedCountPaginator
from predictor.models import ApiKey, Candidate, HistoryQuery, Job, MLModel, ModelVersion, Prediction, UnknownModel
from predictor.ops import api_keys, idempotency, limits, permissions, request_id
from predictor.ops.middleware import database_unavailable_response
from predictor.registry import comparison
from predictor.schema import wording
from predictor.schema.features import FEATURES, as_row, v1_inputs
from predictor.serving import candidates, model_service

logger = logging.getLogger(__name__)


# Wrong keys count against the client's limit (predictor.ops.limits): guessing a key gets 429.
class BearerKey(HttpBearer):
    def authenticate(self, request, token):
        return limits.authenticate_api_key(request, token)


class HeaderKey(APIKeyHeader):
    param_name = "X-API-Key"

    def authenticate(self, request, key):
        return limits.authenticate_api_key(request, key)


class PermissionRefused(Exception):
    """A known caller whose account lacks the endpoint's permission: 403, with what it lacks."""


class _NeedsPermission:
    """Mixed into an auth class: the caller it recognises (a key's owner, a session's user) must hold ``permission``.

    Checked while authenticating, so a refused caller's request body is never read.
    """

    def __init__(self, permission: str, **kwargs):
        self.permission = permission
        super().__init__(**kwargs)

    def authenticate(self, request, credential):
        caller = super().authenticate(request, credential)
        if caller:
            user = api_keys.owner(caller) if isinstance(caller, ApiKey) else caller
            if not permissions.allows(user, self.permission):
                raise PermissionRefused(permissions.refusal(user, self.permission))
        return caller


class BearerKeyWithPermission(_NeedsPermission, BearerKey):
    pass


class HeaderKeyWithPermission(_NeedsPermission, HeaderKey):
    pass


class StaffSessionWithPermission(_NeedsPermission, SessionAuth):
    def _get_key(self, request):
        # The CSRF check matters only when the session cookie is what authenticates: a program
        # calling without a cookie (or a key) is told 401, not "CSRF check failed".
        if settings.SESSION_COOKIE_NAME not in request.COOKIES:
            return None
        return super()._get_key(request)

    def authenticate(self, request, key):
        return super().authenticate(request, key) if key else None


def staff_or_key(permission: str) -> list:
    """An endpoint's auth: an API key (whose owner holds ``permission``), else a staff session that does."""
    # Keys first: a program sending a key is judged by its key, whatever cookie it also sends.
    return [
        BearerKeyWithPermission(permission),
        HeaderKeyWithPermission(permission),
        StaffSessionWithPermission(permission),
    ]


# The answers' HTTP reasons, as django-ninja writes them into the schema (Python's http.HTTPStatus).
HTTP_REASONS = (
    gettext_noop("OK"),
    gettext_noop("Bad Request"),
    gettext_noop("Unauthorized"),
    gettext_noop("Forbidden"),
    gettext_noop("Not Found"),
    gettext_noop("Conflict"),
    gettext_noop("Request Entity Too Large"),
    gettext_noop("Content Too Large"),
    gettext_noop("Unsupported Media Type"),
    gettext_noop("Unprocessable Entity"),
    gettext_noop("Unprocessable Content"),
    gettext_noop("Too Many Requests"),
    gettext_noop("Service Unavailable"),
)


class TranslatedAPI(NinjaAPI):
    """The OpenAPI schema in the request's language (LocaleMiddleware's, as the docs page's).

    django-ninja builds the schema on every request for it, so the summaries and descriptions,
    lazy translations, read in the language active then; only the answers' HTTP reasons, which
    django-ninja writes as plain English strings, are translated here.
    """

    def get_openapi_schema(self, *args, **kwargs):
        schema = super().get_openapi_schema(*args, **kwargs)
        for path_item in schema["paths"].values():
            for operation in path_item.values():
                for answer in operation.get("responses", {}).values():
                    answer["description"] = gettext(answer["description"])
        return schema


api = TranslatedAPI(
    title=_("Animal predictor API"),
    version="1.0",
    description=format_lazy(
        _(
            "Predict an animal's species from its {features}. "
            "Every prediction is stored, like the web form's. Predicting one animal needs no account; "
            "predicting a batch and reading the history or the models need an API key (created in admin, "
            "acting with its creator's permissions) sent as `Authorization: Bearer <key>` or "
            "`X-API-Key: <key>`, or a staff session with the permission. "
            "Request bodies are JSON, sent with `Content-Type: application/json`. "
            "The same endpoints answer without `/v1` (`/api/predict` ...), as before versioning."
        ),
        features=lazy(lambda: gettext(", ").join(str(f.label_with_unit).lower() for f in FEATURES), str)(),
    ),
    urls_namespace="api",
)
v1 = Router()

# The whole request body is the list (a bare JSON array), limited in the schema and in validation.
BATCH_BODY = Body(..., min_length=1, max_length=MAX_BATCH_ITEMS)
NOT_READY = {503: Error}
REFUSED = {401: Error, 403: Error}
INVALID = {400: Error, 413: Error, 415: Error, 422: Error}
BODY_METHODS = {"POST", "PUT", "PATCH"}
# The predictions' writes: counted against the client's rate limit, and safe to retry with a key.
WRITES = {409: Error, 429: Error}
IDEMPOTENCY_KEY_PARAMETER = {
    "in": "header",
    "name": idempotency.HEADER,
    "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": idempotency.MAX_KEY_LENGTH},
    "description": format_lazy(
        _(
            "Any unique string (a UUID, say) that makes a retry safe: a request repeated with the same key "
            "and the same body within {hours} hours is answered with the first "
            "answer (same status and JSON, header `Idempotent-Replayed: true`) and stores nothing more; "
            "the same key with another body is refused with 409. Keys belong to the API key sent, else to "
            "the client's address."
        ),
        hours=settings.IDEMPOTENCY_KEY_HOURS,
    ),
}
WRITE_OPENAPI = {"parameters": [IDEMPOTENCY_KEY_PARAMETER]}
SENTENCE_GAP = lazy(wording.sentence_gap, str)()
RATE_LIMIT_NOTE = _(
    "Requests are limited per client (429 with `Retry-After` past the limit). "
    "Send an `Idempotency-Key` header to make retries safe."
)


def _guarded_write(operation_id: str):
    """An operation's view, counted against the client's rate limit and answered once per Idempotency-Key."""

    def decorate(run):
        @wraps(run)
        def run_guarded(request, *args, **kwargs):
            try:
                limits.count_request(limits.PREDICTIONS, request)
            except limits.Throttled as refusal:
                return _too_many(request, refusal)
            key = request.headers.get(idempotency.HEADER)
            if key is None:
                return run(request, *args, **kwargs)
            if not idempotency.is_valid_key(key):
                message = gettext("The %(header)s header must be 1 to %(limit)s printable ASCII characters.")
                return _error(
                    request, 400, message % {"header": idempotency.HEADER, "limit": idempotency.MAX_KEY_LENGTH}
                )
            try:
                return idempotency.answer_once(
                    request=request, key=key, operation=operation_id, run=lambda: run(request, *args, **kwargs)
                )
            except idempotency.KeyReused:
                message = gettext(
                    "This %(header)s was already used with another request body; send a new key for a new request."
                )
                return _error(request, 409, message % {"header": idempotency.HEADER})

        return run_guarded

    return decorate


@v1.post(
    "/predict",
    response={200: PredictionOut, **INVALID, **WRITES, **NOT_READY},
    operation_id="predict",
    summary=_("Predict one animal"),
    description=format_lazy("{}{}{}", _("The answer is stored."), SENTENCE_GAP, RATE_LIMIT_NOTE),
    tags=["predictions"],
    openapi_extra=WRITE_OPENAPI,
)
@decorate_view(_guarded_write("predict"))
def predict(request, measurements: MeasurementsIn):
    result = model_service.predict(v1_inputs(measurements.model_dump()))
    prediction = writer.record_prediction(result=result, source=Prediction.Source.API)
    return _prediction_out(prediction, model_version=result.model.version)


@v1.post(
    "/predict/batch",
    auth=staff_or_key(permissions.UPLOAD_BATCHES),
    response={200: BatchOut, **INVALID, **WRITES, **NOT_READY, **REFUSED},
    operation_id="predict_batch",
    summary=format_lazy(_("Predict up to {count} animals at once"), count=f"{MAX_BATCH_ITEMS:,}"),
    description=format_lazy(
        "{}{}{}",
        format_lazy(
            _(
                "Needs an API key or staff session with the upload permission (the operator group). "
                "The body is a JSON array of measurements. A bad item rejects the whole batch (the error names "
                "its index and field) and nothing is stored; otherwise every result is stored in one transaction. "
                "Besides the requests, the items are limited per client ({rows} an hour by default)."
            ),
            rows=f"{settings.RATE_LIMIT_BATCH_ROWS_PER_HOUR:,}",
        ),
        SENTENCE_GAP,
        RATE_LIMIT_NOTE,
    ),
    tags=["predictions"],
    openapi_extra=WRITE_OPENAPI,
)
@decorate_view(_guarded_write("predict_batch"))
def predict_batch(request, items: list[MeasurementsIn] = BATCH_BODY):
    limits.spend(limits.BATCH_ROWS, request, len(items))
    features = np.array([as_row(item.model_dump()) for item in items], dtype=float)
    result = model_service.predict_many(features)
    batch_id = writer.record_predictions(result=result, source=Prediction.Source.API)
    stored = Prediction.objects.filter(batch_id=batch_id).select_related("model_version").order_by("id")
    return {
        "batch_id": batch_id,
        "model_version": result.model.version,
        "results": [_prediction_out(prediction, model_version=result.model.version) for prediction in stored],
    }


@v1.get(
    "/predictions",
    auth=staff_or_key(permissions.VIEW_PREDICTIONS),
    response={200: PredictionPage, 400: Error, 422: Error, **REFUSED},
    operation_id="list_predictions",
    summary=_("The stored predictions, newest first"),
    description=_("An unknown `species` or `version` is refused with 400, as on the results page."),
    tags=["history"],
)
def list_predictions(request, filters: Query[PredictionFilters]):
    animals = MLModel.objects.default()  # v1 is the animals model's, as before models had names
    if filters.species and filters.species not in ModelVersion.objects.filter(model=animals).known_species():
        message = gettext("No model predicts the species “%(value)s”.")
        return _unknown_filter("species", message % {"value": filters.species})
    model_version = None
    if filters.version is not None:
        model_version = ModelVersion.objects.filter(model=animals, version=filters.version).first()
        if model_version is None:
            message = gettext("There is no model version %(version)s.")
            return _unknown_filter("version", message % {"version": filters.version})
    query = HistoryQuery(
        model=animals,
        species=filters.species or "",
        model_version=model_version,
        since=filters.created_after,
        until=filters.created_before,
    )
    rows = Prediction.objects.matching(query).in_order(query.sort).select_related("model_version")
    paginator = CappedCountPaginator(rows, filters.page_size)
    try:
        page = list(paginator.page(filters.page))
    except EmptyPage:
        page = []
    return {
        "count": int(paginator.count),
        "count_is_exact": not isinstance(paginator.count, AtLeast),
        "page": filters.page,
        "page_size": filters.page_size,
        "items": [_prediction_record(prediction) for prediction in page],
    }


@v1.get(
    "/models",
    auth=staff_or_key(permissions.VIEW_MODELS),
    response={200: list[ModelVersionOut], **REFUSED},
    operation_id="list_models",
    summary=_("Every trained model version, newest first"),
    description=_("The version tried beside the active one, if any, has `candidate`: its mode and its comparison."),
    tags=["models"],
)
def list_models(request):
    listed = list(ModelVersion.objects.filter(model=MLModel.objects.default()).order_by("-version"))
    running = candidates.current()
    for version in listed:  # read by ModelVersionOut.candidate
        version.candidate = _candidate_out(running) if running is not None and running.version == version else None
    return listed


def _candidate_out(running: Candidate) -> dict:
    return {
        "mode": running.mode,
        "canary_percent": running.canary_percent,
        "started_at": running.started_at,
        "comparison": comparison.compare(running.version).as_record(),
    }


@v1.get(
    "/jobs/{job_id}",
    auth=staff_or_key(permissions.VIEW_PREDICTIONS),
    response={200: JobOut, 404: Error, **REFUSED},
    operation_id="get_job",
    summary=_("A background job (a CSV batch upload or a retraining): its status, progress and outcome"),
    tags=["jobs"],
)
def get_job(request, job_id: uuid.UUID):
    job = get_object_or_404(Job, pk=job_id)
    caller = request.auth
    user = api_keys.owner(caller) if isinstance(caller, ApiKey) else caller
    if not jobs.visible_to(job, user):
        permission = jobs.view_permission(job)
        raise PermissionRefused(permissions.refusal(user, permission))
    return jobs.as_json(job)


def _prediction_out(prediction: Prediction, *, model_version: int) -> dict:
    return {
        "id": prediction.pk,
        **{feature.field: prediction.inputs[feature.name] for feature in FEATURES},
        "species": prediction.species,
        "probability": prediction.probability,
        "probabilities": prediction.probabilities,
        "model_version": model_version,
        "created_at": prediction.created_at,
        "outside_training_range": prediction.outside_training_range,
        "outside_features": [feature.field for feature, *_ in prediction.range_warnings],
        **_prediction_set_out(prediction),
    }


def _prediction_set_out(prediction: Prediction) -> dict:
    """The answer's conformal set and the confidence its version promises (both null for a version without sets)."""
    labels = prediction.prediction_set
    level = None if labels is None else prediction.model_version.confidence_level
    return {"prediction_set": labels, "confidence_level": level}


def _prediction_record(prediction: Prediction) -> dict:
    return {
        **_prediction_out(prediction, model_version=prediction.model_version.version),
        "source": prediction.source,
        "batch_id": prediction.batch_id,
    }


def _unknown_filter(field: str, message: str) -> Status:
    item = {"loc": ["query", field], "field": field, "index": None, "message": message, "type": "unknown_value"}
    return Status(400, _error_body(message, [item]))


api.add_router("/v1", v1)

# API v2: every served model, each with its own inputs. An input object is checked at run time
# against the answering version's schema (GET /api/v2/models says what each model takes), so the
# OpenAPI document describes it as an object of inputs, not as fixed fields.
v2 = Router()
INPUTS_BODY = Body(...)  # the whole body is the object of inputs
SLUG = Path(..., description=_("The model's name in addresses, as GET /api/v2/models lists it, such as iris."))


@v2.get(
    "/models",
    response=list[ServedModelOut],
    operation_id="v2_list_models",
    summary=_("The served models, each with its inputs"),
    description=_(
        "Every model with an active version: its name, what it predicts, its classes and, per input, its name "
        "(the key to send), kind (number or category), label, unit, bounds, example, hint and allowed values."
    ),
    tags=["v2"],
)
def list_served_models(request):
    served = ModelVersion.objects.active().select_related("model").order_by("model__slug")
    return [_served_model_out(version) for version in served]


def _served_model_out(version: ModelVersion) -> dict:
    schema = version.input_schema
    return {
        "slug": version.model.slug,
        "name": version.model.name,
        "title": str(schema.title),
        "target": schema.target,
        "classes": version.classes,
        "version": version.version,
        "form_url": reverse("predictor:model_form", args=[version.model.slug]),
        "inputs": [
            {
                "name": item.name,
                "kind": item.kind,
                "label": str(item.label),
                "unit": item.unit,
                "min": item.min_value,
                "max": item.max_value,
                "example": item.example,
                "hint": str(item.hint),
                "categories": list(item.categories),
            }
            for item in schema.inputs
        ],
    }


@v2.post(
    "/models/{slug}/predict",
    response={200: ModelAnswerOut, 404: Error, **INVALID, **WRITES, **NOT_READY},
    operation_id="v2_predict",
    summary=_("Predict with one model"),
    description=format_lazy(
        "{}{}{}",
        _(
            "The body is one JSON object with one key per input of the model (see GET /api/v2/models): a number "
            "for a number input, one of its values for a category. A missing or unknown input, a word for a "
            "number, a number out of its bounds or an unseen category is refused with 422, naming the input, "
            "and nothing is stored; otherwise the answer is stored."
        ),
        SENTENCE_GAP,
        RATE_LIMIT_NOTE,
    ),
    tags=["v2"],
    openapi_extra=WRITE_OPENAPI,
)
@decorate_view(_guarded_write("v2_predict"))
def predict_with_model(request, slug: str = SLUG, inputs: dict[str, Any] = INPUTS_BODY):
    try:
        MLModel.objects.named(slug)
    except UnknownModel as unknown:
        return _error(request, 404, str(unknown))
    schema = model_service.active_model(slug).schema
    values, errors = schema.read(inputs)
    if errors:
        return _error(request, 422, gettext("The request is not valid: see errors."), _input_errors(errors))
    result = model_service.predict(values, model=slug)
    prediction = writer.record_prediction(result=result, source=Prediction.Source.API)
    return _model_answer_out(prediction, model=slug, version=result.model.version)


@v2.post(
    "/models/{slug}/predict/batch",
    auth=staff_or_key(permissions.UPLOAD_BATCHES),
    response={200: ModelBatchOut, 404: Error, **INVALID, **WRITES, **NOT_READY, **REFUSED},
    operation_id="v2_predict_batch",
    summary=format_lazy(_("Predict up to {count} rows at once with one model"), count=f"{MAX_BATCH_ITEMS:,}"),
    description=format_lazy(
        "{}{}{}",
        format_lazy(
            _(
                "Needs an API key or staff session with the upload permission (the operator group). "
                "The body is a JSON array of input objects, each as the body of one prediction with the model. "
                "A bad item rejects the whole batch (each error names the item's index and the input) and nothing "
                "is stored; otherwise every result is stored in one transaction. An unknown model is 404. "
                "Besides the requests, the items are limited per client ({rows} an hour by default)."
            ),
            rows=f"{settings.RATE_LIMIT_BATCH_ROWS_PER_HOUR:,}",
        ),
        SENTENCE_GAP,
        RATE_LIMIT_NOTE,
    ),
    tags=["v2"],
    openapi_extra=WRITE_OPENAPI,
)
@decorate_view(_guarded_write("v2_predict_batch"))
def predict_batch_with_model(request, slug: str = SLUG, items: list[dict[str, Any]] = BATCH_BODY):
    try:
        MLModel.objects.named(slug)
    except UnknownModel as unknown:
        return _error(request, 404, str(unknown))
    answering = model_service.active_model(slug)
    rows, errors = [], []
    for index, item in enumerate(items):
        values, item_errors = answering.schema.read(item)
        rows.append(values)
        errors += _input_errors(item_errors, index=index)
    if errors:
        return _error(request, 422, gettext("The request is not valid: see errors."), errors)
    limits.spend(limits.BATCH_ROWS, request, len(items))
    features = np.array([answering.row_of(values) for values in rows], dtype=answering.dtype)
    result = model_service.predict_many(features, model=slug)
    if result.model.version_id != answering.version_id:
        # Activated in between: the rows are in the other version's column order, which a new
        # version may not share. Nothing is stored; the retry reads them with the new one.
        raise model_service.ModelNotReady(gettext("a new version became active while answering; send the batch again."))
    batch_id = writer.record_predictions(result=result, source=Prediction.Source.API)
    stored = Prediction.objects.filter(batch_id=batch_id).select_related("model_version").order_by("id")
    version = result.model.version
    return {
        "batch_id": batch_id,
        "version": version,
        "results": [_model_answer_out(prediction, model=slug, version=version) for prediction in stored],
    }


@v2.get(
    "/models/{slug}/predictions",
    auth=staff_or_key(permissions.VIEW_PREDICTIONS),
    response={200: ModelPredictionPage, 400: Error, 404: Error, 422: Error, **REFUSED},
    operation_id="v2_list_predictions",
    summary=_("One model's stored predictions, newest first"),
    description=_(
        "Only the predictions of the model named. A `prediction` that is not one of its classes, or a `version` "
        "it does not have, is refused with 400; an unknown model is 404."
    ),
    tags=["v2"],
)
def list_model_predictions(request, filters: Query[ModelPredictionFilters], slug: str = SLUG):
    try:
        model = MLModel.objects.named(slug)
    except UnknownModel as unknown:
        return _error(request, 404, str(unknown))
    versions = ModelVersion.objects.filter(model=model)
    if filters.prediction and filters.prediction not in (classes := versions.known_species()):
        message = gettext("The model %(model)s predicts no class “%(value)s”; its classes are %(classes)s.")
        values = {"model": slug, "value": filters.prediction, "classes": gettext(", ").join(classes) or gettext("none")}
        return _unknown_filter("prediction", message % values)
    model_version = None
    if filters.version is not None:
        model_version = versions.filter(version=filters.version).first()
        if model_version is None:
            message = gettext("The model %(model)s has no version %(version)s.")
            return _unknown_filter("version", message % {"model": slug, "version": filters.version})
    query = HistoryQuery(
        model=model,
        species=filters.prediction or "",
        model_version=model_version,
        since=filters.created_after,
        until=filters.created_before,
    )
    rows = Prediction.objects.matching(query).in_order(query.sort).select_related("model_version")
    paginator = CappedCountPaginator(rows, filters.page_size)
    try:
        page = list(paginator.page(filters.page))
    except EmptyPage:
        page = []
    return {
        "count": int(paginator.count),
        "count_is_exact": not isinstance(paginator.count, AtLeast),
        "page": filters.page,
        "page_size": filters.page_size,
        "items": [
            {
                **_model_answer_out(prediction, model=slug, version=prediction.model_version.version),
                "source": prediction.source,
                "batch_id": prediction.batch_id,
                "created_at": prediction.created_at,
                "actual": prediction.actual_species,
            }
            for prediction in page
        ],
    }


def _model_answer_out(prediction: Prediction, *, model: str, version: int) -> dict:
    return {
        "id": prediction.pk,
        "model": model,
        "prediction": prediction.species,
        "probability": prediction.probability,
        "probabilities": prediction.probabilities,
        "version": version,
        "inputs": prediction.inputs,
        "outside_training_range": prediction.outside_training_range,
        **_prediction_set_out(prediction),
    }


def _input_errors(errors: dict[str, str], *, index: int | None = None) -> list[dict]:
    """ModelSchema.read's errors as the API's error items; ``index`` is a batch item's position."""
    where = ["body"] if index is None else ["body", index]
    return [
        {"loc": [*where, name], "field": name, "index": index, "message": message, "type": "invalid_input"}
        for name, message in errors.items()
    ]


api.add_router("/v2", v2)


# Every request body is JSON: a form-encoded or text body is refused before anything reads it.
# No body and no Content-Type is let through, to be refused as a missing body (422).
def _json_body_only(run):
    @wraps(run)
    def run_json_only(request, *args, **kwargs):
        has_body = request.content_type or request.META.get("CONTENT_LENGTH", "0") not in {"", "0"}
        if request.method in BODY_METHODS and has_body and request.content_type != "application/json":
            sent = request.content_type or "none"
            message = gettext(
                "Send the body as JSON with Content-Type: application/json; this request's Content-Type is “%(sent)s”."
            )
            return _error(request, 415, message % {"sent": sent})
        return run(request, *args, **kwargs)

    return run_json_only


api.add_decorator(_json_body_only, mode="view")


# Error wording: the form's for measurements (features.Feature.error_messages), plain sentences for
# the rest (pydantic's otherwise).

_FEATURES_BY_FIELD = {feature.field: feature for feature in FEATURES}
_EXAMPLE = "{" + ", ".join(f'"{feature.field}": {feature.example:g}' for feature in FEATURES) + "}"
_OBJECT_EXPECTED = format_lazy(_("Send the measurements as a JSON object, such as {example}."), example=_EXAMPLE)


def _message(error: dict, field: str | None) -> str:
    kind, context = error.get("type", ""), error.get("ctx") or {}
    if field in _FEATURES_BY_FIELD and error.get("loc", ("",))[0] == "body" and kind != "out_of_bounds":
        return _FEATURES_BY_FIELD[field].error_messages["required" if kind == "missing" else "invalid"]
    if field is None:
        match kind:
            case "list_type":
                return gettext("Send the batch as a JSON list of measurements, such as [%(example)s].") % {
                    "example": _EXAMPLE
                }
            case "too_short":
                return gettext("Send at least one item in the batch.")
            case "too_long":
                limit, actual = f"{MAX_BATCH_ITEMS:,}", context.get("actual_length")
                if actual:
                    return gettext("A batch holds at most %(limit)s items, not %(actual)s.") % {
                        "limit": limit,
                        "actual": f"{actual:,}",
                    }
                return gettext("A batch holds at most %(limit)s items.") % {"limit": limit}
            case _:
                return str(_OBJECT_EXPECTED)
    values = {"name": field.replace("_", " ").capitalize(), **context}
    match kind:
        case "int_parsing" | "int_type" | "int_from_float":
            return gettext("%(name)s must be a whole number.") % values
        case "greater_than_equal":
            return gettext("%(name)s must be at least %(ge)s.") % values
        case "less_than_equal":
            return gettext("%(name)s must be at most %(le)s.") % values
        case "datetime_parsing" | "datetime_from_date_parsing" | "datetime_type":
            return gettext("%(name)s must be a date and time in ISO 8601, such as 2026-11-30T09:30:00Z.") % values
        case "string_too_long":
            return gettext("%(name)s must be at most %(max_length)s characters.") % values
        case "string_pattern_mismatch":
            return gettext("%(name)s contains a character that is not allowed.") % values
    return error.get("msg", gettext("Invalid value."))


# The errors' JSON: the same shape for every status.


def _error_body(detail: str, errors: list | None = None) -> dict:
    # The request id lets a client quote the failure and an operator find its log lines.
    return {"detail": detail, "errors": errors or [], "request_id": request_id.current()}


def _error(request, status: int, detail: str, errors: list | None = None):
    return api.create_response(request, _error_body(detail, errors), status=status)


def _v2_body_message(error: dict) -> str | None:
    """API v2's wording for a body of the wrong shape: no model's inputs as the example, since each has its own."""
    kind, loc = error.get("type", ""), error.get("loc", ())
    is_batch = len(loc) > 1 and loc[1] == "items"
    is_item = len(loc) > 2 and isinstance(loc[2], int)
    if kind == "list_type" or (kind == "missing" and is_batch):
        return gettext(
            "Send the batch as a JSON list of objects, one per row, each with one key per input of the model "
            "(GET /api/v2/models lists them)."
        )
    if kind == "dict_type" or (kind == "missing" and not is_item):
        return gettext(
            "Send the inputs as a JSON object with one key per input of the model (GET /api/v2/models lists them)."
        )
    return None


@api.exception_handler(ValidationError)
def _validation_error(request, exc: ValidationError):
    is_v2 = request.path.startswith(f"{reverse('api:api-root')}v2/")
    errors = []
    for error in exc.errors:
        # The body parameters' own names (v2's too) are no place in the request a client could fix.
        ignored = {"items", "measurements", "filters", *(["inputs"] if is_v2 else [])}
        loc = [part for part in error.get("loc", ()) if part not in ignored]
        names = [part for part in loc[1:] if isinstance(part, str)]
        positions = [part for part in loc[1:] if isinstance(part, int)]
        field = names[-1] if names else None
        index = positions[0] if positions else None
        message = (_v2_body_message(error) if is_v2 and field is None else None) or _message(error, field)
        errors.append(
            {
                "loc": loc,
                "field": field,
                "index": index,
                "message": message,
                "type": error.get("type", "value_error"),
            }
        )
    return _error(request, 422, gettext("The request is not valid: see errors."), errors)


@api.exception_handler(AuthenticationError)
def _unauthenticated(request, exc):
    response = _error(
        request,
        401,
        gettext(
            "Authentication required: log in as staff, or send an API key as "
            "'Authorization: Bearer <key>' or 'X-API-Key: <key>'."
        ),
    )
    response["WWW-Authenticate"] = "Bearer"
    return response


@api.exception_handler(api_keys.KeyRefused)
def _key_refused(request, exc):
    response = _error(request, 401, str(exc))
    response["WWW-Authenticate"] = 'Bearer error="invalid_token"'
    return response


@api.exception_handler(PermissionRefused)
def _permission_refused(request, exc):
    return _error(request, 403, str(exc))


@api.exception_handler(HttpError)
def _http_error(request, exc: HttpError):
    return _error(request, exc.status_code, str(exc))


@api.exception_handler(Http404)
def _not_found_in_view(request, exc):
    return _error(request, 404, gettext("Not found."))


@api.exception_handler(RequestDataTooBig)
def _too_big(request, exc):
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    message = gettext("The request body is too large: at most %(limit)s bytes are accepted.")
    return _error(request, 413, message % {"limit": f"{limit:,}"})


@api.exception_handler(limits.Throttled)
def _too_many(request, refusal: limits.Throttled):
    response = _error(request, 429, refusal.message)
    response["Retry-After"] = str(refusal.retry_after)
    return response


@api.exception_handler(model_service.ModelNotReady)
def _not_ready(request, exc):
    return _error(request, 503, gettext("No model is ready: %(reason)s") % {"reason": exc})


@api.exception_handler(OperationalError)
@api.exception_handler(InterfaceError)
def _database_unavailable(request, exc):
    logger.error("Database unavailable during %s %s: %s", request.method, request.path, exc)
    return database_unavailable_response(request)  # the same answer the middleware gives outside ninja


@api.exception_handler(Exception)
def _server_error(request, exc):
    # Logged and signalled as Django does for any view (error e-mails, the test client re-raises).
    response = _error(request, 500, gettext("Something went wrong on the server; the error has been logged."))
    log_response(f"Internal Server Error: {request.path}", response=response, request=request, exception=exc)
    signals.got_request_exception.send(sender=None, request=request)
    return response


# URLs: ninja's, answering JSON for a wrong method, plus the index, the aliases and a JSON 404.

READ_METHODS = ("GET", "HEAD")


def _json_405(view, *, allow: tuple[str, ...] | None = None):
    """``view``, with a JSON 405 (and its Allow header) instead of ninja's plain text or Django's empty one."""

    @wraps(view)
    def view_answering_json(request, *args, **kwargs):
        if allow and request.method not in allow:
            response = HttpResponseNotAllowed(allow)
        else:
            response = view(request, *args, **kwargs)
        if isinstance(response, HttpResponseNotAllowed):
            allowed = response["Allow"]
            response = _error(request, 405, f"{request.method} is not allowed here; use {allowed}.")
            response["Allow"] = allowed
        return response

    view_answering_json.csrf_exempt = True  # no form posts here; the refusal must be the JSON one
    return view_answering_json


def index(request):
    """GET /api/: what the API is and where its endpoints and docs are."""
    endpoints = []
    for route, path_view in v1.path_operations.items():
        for operation in path_view.operations:
            # A path with a parameter is shown as documented ({job_id}); the others are reversed.
            written = f"{reverse('api:api-root')}v1{route}" if "{" in route else None
            endpoints.extend(
                {
                    "operation_id": operation.operation_id,
                    "method": method,
                    "path": written or reverse(f"api:{operation.view_func.__name__}"),
                    "summary": operation.summary,
                }
                for method in operation.methods
            )
    return api.create_response(
        request,
        {
            "name": api.title,
            "version": api.version,
            "docs": reverse("api:openapi-view"),
            "openapi": reverse("api:openapi-json"),
            "endpoints": endpoints,
        },
        status=200,
    )


api_index = _json_405(index, allow=READ_METHODS)


def not_found(request, *args, **kwargs):
    values = {"path": request.path, "index": reverse("api:api-root"), "trimmed": request.path.rstrip("/")}
    detail = gettext("There is nothing at %(path)s: see %(index)s for the endpoints.") % values
    if values["trimmed"] != request.path and resolve(values["trimmed"]).func is not not_found_view:
        detail = gettext("There is nothing at %(path)s; did you mean %(trimmed)s?") % values
    return _error(request, 404, detail)


not_found_view = _json_405(not_found)


def urls() -> tuple[list, str, str]:
    """What mlsite.urls mounts at api/: ninja's URLs (the docs, the schema, v1), each v1 path also
    without v1/, the index, the docs with a trailing slash, and a JSON 404 for anything else."""
    patterns, app_name, namespace = api.urls
    by_name = {pattern.name: pattern for pattern in patterns}
    read_only = {"openapi-json", "openapi-view"}
    ninja_patterns = [
        URLPattern(
            pattern.pattern,
            _json_405(pattern.callback, allow=READ_METHODS if pattern.name in read_only else None),
            pattern.default_args,
            pattern.name,
        )
        for pattern in patterns
        if pattern.name != "api-root"
    ]
    aliases = [
        path(str(pattern.pattern).removeprefix("v1/"), pattern.callback)
        for pattern in ninja_patterns
        if str(pattern.pattern).startswith("v1/")
    ]
    return (
        [
            path("", api_index, name="api-root"),
            path("docs/", _json_405(by_name["openapi-view"].callback, allow=READ_METHODS), name="openapi-view"),
            *ninja_patterns,
            *aliases,
            re_path(r"^", not_found_view),
        ],
        app_name,
        namespace,
    )
