"""The JSON API's request and response shapes; measurement bounds come from predictor.schema.features."""

import uuid
from datetime import datetime
from typing import Annotated, Any

from django.utils import timezone
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _
from ninja import Field, Schema
from pydantic import AfterValidator, create_model, field_validator
from pydantic_core import PydanticCustomError

from predictor.history import selectors
from predictor.schema.features import FEATURES, Feature

MAX_BATCH_ITEMS = 10_000
MAX_PAGE_SIZE = 500


def _measurement(feature: Feature) -> Any:
    def check_bounds(value: float) -> float:
        if message := feature.bounds_error(value):
            raise PydanticCustomError("out_of_bounds", message)
        return value

    # strict: "42" and true are refused as wrong types instead of being quietly converted.
    return Annotated[
        float,
        Field(
            strict=True,
            description=format_lazy(
                _('{label} in {unit}: at least {min}, at most {max}. A JSON number; a string such as "42" is refused.'),
                label=feature.label,
                unit=feature.unit,
                min=f"{feature.min_value:g}",
                max=f"{feature.max_value:g}",
            ),
            json_schema_extra={"minimum": feature.min_value, "maximum": feature.max_value},
            examples=[feature.example],
        ),
        AfterValidator(check_bounds),
    ]


# One field per measurement (features.FEATURES), in and out.
MeasurementsIn = create_model(
    "MeasurementsIn", __base__=Schema, **{feature.field: (_measurement(feature), ...) for feature in FEATURES}
)
Measurements = create_model("Measurements", __base__=Schema, **{feature.field: (float, ...) for feature in FEATURES})


class PredictionOut(Measurements):
    id: int = Field(description=_("The stored prediction's id."))
    species: str = Field(description=_("The most probable species."))
    probability: float = Field(description=_("The probability of that species, 0 to 1."))
    probabilities: dict[str, float] = Field(description=_("The probability of every species the model knows."))
    model_version: int = Field(
        description=_("The version that answered: the active one, or a canary candidate for its share of requests.")
    )
    created_at: datetime
    outside_training_range: bool = Field(
        description=_(
            "True when a measurement lies outside what the answering version was trained on: "
            "the answer is a guess beyond its data."
        )
    )
    outside_features: list[str] = Field(
        description=_("The measurements outside the answering version's training range (empty when none).")
    )
    prediction_set: list[str] | None = Field(
        description=_(
            "The classes the answer may be at the stated confidence (conformal prediction): each class whose "
            "probability clears its version's calibrated threshold, in the model's class order. More than one: "
            "the model cannot tell them apart at that level; empty: no class is likely enough. Null for a "
            "version trained before prediction sets."
        )
    )
    confidence_level: float | None = Field(
        description=_(
            "The share of answers, 0 to 1, whose prediction set holds the true class, as calibrated at "
            "training; null when there is no set."
        )
    )


class PredictionRecord(PredictionOut):
    source: str = Field(description=_("Where the prediction came from: form, api or batch."))
    batch_id: uuid.UUID | None = Field(description=_("Shared by the predictions stored by one batch."))


class BatchOut(Schema):
    batch_id: uuid.UUID
    model_version: int
    results: list[PredictionOut] = Field(description=_("One result per item, in the order of the request."))


class PredictionPage(Schema):
    count: int = Field(description=_("How many predictions match the filters; at least this many when not exact."))
    count_is_exact: bool = Field(
        description=_("False when counting stopped at 10,000 (the count of a large history is not worth its time).")
    )
    page: int
    page_size: int
    items: list[PredictionRecord]


class PredictionFilters(Schema):
    # No NUL: PostgreSQL cannot compare text containing one.
    species: str | None = Field(
        None, max_length=50, pattern=r"^[^\x00]*$", description=_("Only this predicted species.")
    )
    version: int | None = Field(None, ge=1, le=2**31 - 1, description=_("Only predictions by this model version."))
    created_after: datetime | None = Field(None, description=_("Only predictions made at or after this time."))
    created_before: datetime | None = Field(None, description=_("Only predictions made before this time."))
    page: int = Field(1, ge=1, le=1_000_000)
    page_size: int = Field(50, ge=1, le=MAX_PAGE_SIZE)

    @field_validator("created_after", "created_before")
    @classmethod
    def comparable_time(cls, value: datetime | None) -> datetime | None:
        return _comparable_time(value)


def _comparable_time(value: datetime | None) -> datetime | None:
    """A time without a zone is read in the site's zone; one outside selectors.accepted_days is refused."""
    if value is None:
        return None
    first, last = selectors.accepted_days()
    try:
        aware = value if timezone.is_aware(value) else timezone.make_aware(value)
        in_range = first <= timezone.localtime(aware).date() <= last
    except (OverflowError, ValueError):
        in_range = False
    if not in_range:
        message = f"Choose a time from {first} to {last}."
        raise PydanticCustomError("datetime_range", message) from None
    return aware


class ComparisonOut(Schema):
    """A candidate against the active version, on the rows both scored (predictor.registry.comparison)."""

    # The schema's description, translated (the docstring would be, in English).
    model_config = {
        "json_schema_extra": {"description": _("A candidate against the active version, on the rows both scored.")}
    }

    active_version: int | None = Field(description=_("The version it is compared with: the active one."))
    rows: int = Field(description=_("Rows both versions scored."))
    agreement: float | None = Field(description=_("Share of those rows where both gave the same species, 0 to 1."))
    labelled: int = Field(description=_("Rows both scored that staff labelled with the actual species."))
    candidate_accuracy: float | None = Field(description=_("The candidate's accuracy on those labelled rows."))
    active_accuracy: float | None = Field(description=_("The active version's accuracy on the same labelled rows."))
    only_candidate_correct: int
    only_active_correct: int
    mcnemar_p_value: float | None = Field(
        description=_("McNemar's exact test on the labelled rows where exactly one was right; null with none.")
    )
    enough_labelled: bool = Field(description=_("False while too few labelled rows separate the two to say."))


class CandidateOut(Schema):
    mode: str = Field(description=_("shadow: scores every prediction, never shown; canary: answers a share of them."))
    canary_percent: int = Field(description=_("The share of single predictions the canary answers; 0 for a shadow."))
    started_at: datetime
    comparison: ComparisonOut


class ModelVersionOut(Schema):
    version: int
    is_active: bool
    candidate: CandidateOut | None = Field(
        None, description=_("Set on the version being tried beside the active one (shadow or canary), else null.")
    )
    algorithm: str
    created_at: datetime
    training_data_name: str
    training_rows: int
    class_counts: dict[str, int]
    cv_accuracy: float = Field(description=_("Cross-validated accuracy, 0 to 1."))
    cv_folds: int
    sklearn_version: str


class JobProgress(Schema):
    done: int = Field(description=_("Rows stored so far (a batch), or steps done (a retraining: folds, fitting)."))
    total: int = Field(description=_("Rows (a batch) or steps (a retraining) in all; 0 when unknown."))
    percent: int


class JobOut(Schema):
    id: uuid.UUID
    kind: str = Field(description=_("batch (a CSV upload) or retrain."))
    status: str = Field(description=_("queued, running, succeeded or failed."))
    finished: bool
    progress: JobProgress
    attempts: int = Field(description=_("Attempts started; a job whose worker died is tried again."))
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    outcome: dict[str, Any] | None = Field(
        description=_(
            "Once succeeded: a batch's batch_id and rows; a retraining's version, whether it was activated, the "
            "gate's figures (cv_accuracy, training_rows, chance_cv_accuracy, baseline_version, "
            "baseline_cv_accuracy) and new_classes."
        )
    )
    error: str | None = Field(description=_("Once failed: why, in words for the person who started it."))


class ServedInputOut(Schema):
    name: str = Field(description=_("The key to send it under."))
    kind: str = Field(description=_("number or category."))
    label: str
    unit: str = ""
    min: float | None = Field(None, description=_("The smallest number allowed, if bounded."))
    max: float | None = Field(None, description=_("The largest number allowed, if bounded."))
    example: float | str | None = None
    hint: str = ""
    categories: list[str] = Field([], description=_("A category's allowed values."))


class ServedModelOut(Schema):
    slug: str = Field(description=_("The model's name in addresses and commands, such as iris."))
    name: str
    title: str = Field(description=_("The question its form asks, if its schema gives one."))
    target: str = Field(description=_("What it predicts: its training CSV's target column."))
    classes: list[str]
    version: int = Field(description=_("The active version, numbered per model."))
    form_url: str = Field(description=_("Its web form."))
    inputs: list[ServedInputOut]


class ModelAnswerOut(Schema):
    id: int = Field(description=_("The stored prediction's id."))
    model: str
    prediction: str = Field(description=_("The most probable class."))
    probability: float = Field(description=_("The probability of that class, 0 to 1."))
    probabilities: dict[str, float] = Field(description=_("The probability of every class the model knows."))
    version: int = Field(description=_("The version that answered."))
    inputs: dict[str, Any] = Field(description=_("The inputs as stored: numbers as numbers."))
    outside_training_range: bool = Field(description=_("Whether a number input lay outside what it was trained on."))
    prediction_set: list[str] | None = Field(
        description=_(
            "The classes the answer may be at the stated confidence (conformal prediction): each class whose "
            "probability clears its version's calibrated threshold, in the model's class order. More than one: "
            "the model cannot tell them apart at that level; empty: no class is likely enough. Null for a "
            "version trained before prediction sets."
        )
    )
    confidence_level: float | None = Field(
        description=_(
            "The share of answers, 0 to 1, whose prediction set holds the true class, as calibrated at "
            "training; null when there is no set."
        )
    )


class ModelBatchOut(Schema):
    batch_id: uuid.UUID = Field(description=_("Shared by the predictions stored by one batch."))
    version: int = Field(description=_("The version that answered every item."))
    results: list[ModelAnswerOut] = Field(description=_("One result per item, in the order of the request."))


class ModelPredictionRecord(ModelAnswerOut):
    source: str = Field(description=_("Where the prediction came from: form, api or batch."))
    batch_id: uuid.UUID | None = Field(description=_("Shared by the predictions stored by one batch."))
    created_at: datetime
    actual: str | None = Field(description=_("The actual class, once staff have labelled the prediction; else null."))


class ModelPredictionPage(PredictionPage):
    items: list[ModelPredictionRecord]


# PredictionFilters for any model: the class filter is ``prediction``, named for no model's target. (No
# docstring: a schema's docstring becomes its OpenAPI description, untranslated.)
class ModelPredictionFilters(Schema):
    prediction: str | None = Field(
        None, max_length=50, pattern=r"^[^\x00]*$", description=_("Only this predicted class.")
    )
    version: int | None = Field(None, ge=1, le=2**31 - 1, description=_("Only predictions by this model version."))
    created_after: datetime | None = Field(None, description=_("Only predictions made at or after this time."))
    created_before: datetime | None = Field(None, description=_("Only predictions made before this time."))
    page: int = Field(1, ge=1, le=1_000_000)
    page_size: int = Field(50, ge=1, le=MAX_PAGE_SIZE)

    @field_validator("created_after", "created_before")
    @classmethod
    def comparable_time(cls, value: datetime | None) -> datetime | None:
        return _comparable_time(value)


class ErrorItem(Schema):
    loc: list[str | int] = Field(description=_('Where the problem is, for example ["body", 3, "height_cm"].'))
    field: str | None = Field(description=_("The field at fault, when there is one."))
    index: int | None = Field(None, description=_("For a batch: the position of the item at fault, from 0."))
    message: str
    type: str


class Error(Schema):
    detail: str
    errors: list[ErrorItem] = []
    request_id: str = Field(
        "", description=_("The request's id, also in the X-Request-ID header: quote it when reporting a problem.")
    )
