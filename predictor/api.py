"""The JSON API, mounted at /api/: predictions for programs, and the history for staff and API keys.

Predictions go through the same service and history writer as the form, and validation uses the
same bounds (predictor.features). Every error is JSON: {"detail": ..., "errors": [...]}.
"""

import numpy as np
from django.core.exceptions import RequestDataTooBig
from django.core.paginator import EmptyPage
from ninja import Body, NinjaAPI, Query
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.security import APIKeyHeader, HttpBearer, SessionAuthIsStaff

from . import api_keys, history, model_service
from .features import FEATURE_FIELDS, FEATURES, as_row
from .models import HistoryQuery, ModelVersion, Prediction
from .pagination import AtLeast, CappedCountPaginator
from .schemas import (
    MAX_BATCH_ITEMS,
    BatchOut,
    Error,
    MeasurementsIn,
    ModelVersionOut,
    PredictionFilters,
    PredictionOut,
    PredictionPage,
)


class BearerKey(HttpBearer):
    def authenticate(self, request, token):
        return api_keys.authenticate(token)


class HeaderKey(APIKeyHeader):
    param_name = "X-API-Key"

    def authenticate(self, request, key):
        return api_keys.authenticate(key or "")


STAFF_OR_KEY = [SessionAuthIsStaff(), BearerKey(), HeaderKey()]

api = NinjaAPI(
    title="Animal predictor API",
    version="1.0",
    description=(
        f"Predict an animal's species from its {', '.join(f.label_with_unit.lower() for f in FEATURES)}. "
        "Every prediction is stored, like the web form's. Reading the history needs a staff session "
        "or an API key (created in admin) sent as `Authorization: Bearer <key>` or `X-API-Key: <key>`."
    ),
    urls_namespace="api",
)

# The whole request body is the list (a bare JSON array), limited in the schema and in validation.
BATCH_BODY = Body(..., min_length=1, max_length=MAX_BATCH_ITEMS)
NOT_READY = {503: Error}
INVALID = {400: Error, 413: Error, 422: Error}


@api.post(
    "/predict",
    response={200: PredictionOut, **INVALID, **NOT_READY},
    summary="Predict one animal",
    tags=["predictions"],
)
def predict(request, measurements: MeasurementsIn):
    values = measurements.model_dump()
    result = model_service.predict(values)
    prediction = history.record_prediction(result=result, measurements=values, source=Prediction.Source.API)
    return _prediction_out(prediction, model_version=result.model.version)


@api.post(
    "/predict/batch",
    response={200: BatchOut, **INVALID, **NOT_READY},
    summary=f"Predict up to {MAX_BATCH_ITEMS:,} animals at once",
    description=(
        "The body is a JSON array of measurements. A bad item rejects the whole batch (the error names "
        "its index and field) and nothing is stored; otherwise every result is stored in one transaction."
    ),
    tags=["predictions"],
)
def predict_batch(request, items: list[MeasurementsIn] = BATCH_BODY):
    features = np.array([as_row(item.model_dump()) for item in items], dtype=float)
    result = model_service.predict_many(features)
    batch_id = history.record_predictions(result=result, features=features, source=Prediction.Source.API)
    stored = Prediction.objects.filter(batch_id=batch_id).order_by("id")
    return {
        "batch_id": batch_id,
        "model_version": result.model.version,
        "results": [_prediction_out(prediction, model_version=result.model.version) for prediction in stored],
    }


@api.get(
    "/predictions",
    auth=STAFF_OR_KEY,
    response={200: PredictionPage, 401: Error, 422: Error},
    summary="The stored predictions, newest first",
    tags=["history"],
)
def predictions(request, filters: Query[PredictionFilters]):
    model_version = None
    if filters.version is not None:
        model_version = ModelVersion.objects.filter(version=filters.version).first()
        if model_version is None:
            raise HttpError(400, f"There is no model version {filters.version}.")
    query = HistoryQuery(
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


@api.get(
    "/models",
    auth=STAFF_OR_KEY,
    response={200: list[ModelVersionOut], 401: Error},
    summary="Every trained model version, newest first",
    tags=["models"],
)
def models(request):
    return list(ModelVersion.objects.order_by("-version"))


def _prediction_out(prediction: Prediction, *, model_version: int) -> dict:
    return {
        "id": prediction.pk,
        **{field: getattr(prediction, field) for field in FEATURE_FIELDS},
        "species": prediction.species,
        "probability": prediction.probability,
        "probabilities": prediction.probabilities,
        "model_version": model_version,
        "created_at": prediction.created_at,
    }


def _prediction_record(prediction: Prediction) -> dict:
    return {
        **_prediction_out(prediction, model_version=prediction.model_version.version),
        "source": prediction.source,
        "batch_id": prediction.batch_id,
    }


def _error(request, status: int, detail: str, errors: list | None = None):
    return api.create_response(request, {"detail": detail, "errors": errors or []}, status=status)


@api.exception_handler(ValidationError)
def _validation_error(request, exc: ValidationError):
    errors = []
    for error in exc.errors:
        loc = [part for part in error.get("loc", ()) if part not in {"items", "measurements", "filters"}]
        names = [part for part in loc[1:] if isinstance(part, str)]
        positions = [part for part in loc[1:] if isinstance(part, int)]
        errors.append(
            {
                "loc": loc,
                "field": names[-1] if names else None,
                "index": positions[0] if positions else None,
                "message": error.get("msg", "invalid value"),
                "type": error.get("type", "value_error"),
            }
        )
    return _error(request, 422, "The request is not valid: see errors.", errors)


@api.exception_handler(AuthenticationError)
def _unauthenticated(request, exc):
    response = _error(
        request,
        401,
        "Authentication required: log in as staff, or send an API key as "
        "'Authorization: Bearer <key>' or 'X-API-Key: <key>'.",
    )
    response["WWW-Authenticate"] = "Bearer"
    return response


@api.exception_handler(HttpError)
def _http_error(request, exc: HttpError):
    return _error(request, exc.status_code, str(exc))


@api.exception_handler(RequestDataTooBig)
def _too_big(request, exc):
    return _error(request, 413, f"The request body is too large: {exc}.")


@api.exception_handler(model_service.ModelNotReady)
def _not_ready(request, exc):
    return _error(request, 503, f"No model is ready: {exc}")
