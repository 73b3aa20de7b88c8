"""The prediction history: every answer stored, how it is queried, and batches not yet published."""

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast
from django.utils import timezone
from django.utils.translation import gettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from predictor.schema.features import FEATURES, Feature
from predictor.schema.inputs import ModelSchema
from predictor.schema.wording import one_of, probability_text

from .jobs import Job
from .registry import MLModel, ModelVersion, default_model_id

# Predictions whose actual species staff have recorded. The condition of the partial indexes on
# labelled rows: a query uses them only when its WHERE clause includes this.
LABELLED = Q(actual_species__isnull=False)
# Rows on which the second opinion (Prediction.shadow_species) differs from the answer: the condition of
# the partial index that lists them for labelling (predictor.registry.comparison).
DISAGREEING = Q(shadow_species__isnull=False) & ~Q(species=F("shadow_species"))


def number_input(name: str) -> Cast:
    """A number input of each row as SQL (its ``inputs`` JSON key as a float), to sort, filter and aggregate."""
    return Cast(KeyTextTransform(name, "inputs"), models.FloatField())


# History sort orders: URL value -> model field. Only time has an index of its own, (created_at,
# id): the newest-first page every visit opens reads one page of it. The measurements and the
# probability are sorted by the database from the rows that match the filters (a top-50 scan:
# 0.2 s at a million rows on SQLite, docs/performance.md). An index of their own would take keys in
# random order, and every stored row paid for it: on SQLite a batch job held the one write lock
# 2.6 to 4.9 times as long. Species and model version are filters, not sort orders.
SORT_FIELDS: dict[str, str] = {
    "time": "created_at",
    **{feature.form_name: feature.name for feature in FEATURES},
    "probability": "probability",
}
INPUT_SORTS = {feature.form_name for feature in FEATURES}  # sorted by their ``inputs`` JSON key
DEFAULT_SORT = "-time"
SORT_CHOICES: list[str] = [f"{sign}{key}" for key in SORT_FIELDS for sign in ("", "-")]


@dataclass(frozen=True)
class HistoryQuery:
    """Which predictions to show and in what order: the results page, its CSV, the API and the admin.

    Times are aware datetimes: ``since`` inclusive, ``until`` exclusive. None (or "") means any.
    """

    model: "MLModel | None" = None
    species: str = ""
    model_version: "ModelVersion | None" = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    labelled: bool | None = None
    outside_training_range: bool | None = None
    sort: str = DEFAULT_SORT

    @property
    def is_filtered(self) -> bool:
        chosen = [self.labelled, self.outside_training_range]
        return bool(self.model or self.species or self.model_version or self.since or self.until) or chosen != [
            None,
            None,
        ]


class PredictionQuerySet(models.QuerySet):
    def published(self) -> "PredictionQuerySet":
        """Without the rows of batches still being stored (or being removed): see PendingBatch."""
        return self.exclude(batch_id__in=PendingBatch.objects.values("batch_id"))

    def matching(self, query: HistoryQuery) -> "PredictionQuerySet":
        """The predictions that pass every filter of ``query``, in no particular order."""
        predictions = self
        if query.model is not None:
            predictions = predictions.filter(model=query.model)
        if query.species:
            predictions = predictions.filter(species=query.species)
        if query.model_version is not None:
            predictions = predictions.filter(model_version=query.model_version)
        if query.since is not None:
            predictions = predictions.filter(created_at__gte=query.since)
        if query.until is not None:
            predictions = predictions.filter(created_at__lt=query.until)
        if query.labelled is not None:
            predictions = predictions.filter(LABELLED if query.labelled else ~LABELLED)
        if query.outside_training_range is not None:
            predictions = predictions.filter(outside_training_range=query.outside_training_range)
        return predictions

    def in_order(self, sort: str = DEFAULT_SORT) -> "PredictionQuerySet":
        """Sorted by one of SORT_CHOICES ("-time": newest first); ``id`` breaks ties, so the order is total."""
        sign = "-" if sort.startswith("-") else ""
        key = sort.removeprefix("-")
        if key in INPUT_SORTS:
            value = number_input(SORT_FIELDS[key])
            return self.order_by(value.desc() if sign else value.asc(), f"{sign}id")
        return self.order_by(f"{sign}{SORT_FIELDS[key]}", f"{sign}id")


class PublishedPredictionManager(models.Manager.from_queryset(PredictionQuerySet)):
    def get_queryset(self) -> PredictionQuerySet:
        return super().get_queryset().published()


class Prediction(models.Model):
    """One answer the site gave, kept as an audit record."""

    class Source(models.TextChoices):
        FORM = "form", _("web form")
        API = "api", _("JSON API")
        BATCH = "batch", _("batch upload")

    created_at = models.DateTimeField(_("created at"), default=timezone.now)  # indexed with id, see Meta.indexes
    # The model that answered (its version's): every history view is of one model, so it leads their index.
    model = models.ForeignKey(
        MLModel,
        verbose_name=_("model"),
        on_delete=models.PROTECT,
        related_name="predictions",
        db_index=False,  # leads the (model, created_at, id) index below
        default=default_model_id,
    )
    # What was asked, keyed by input name ({"height": 42.5, "weight": 7.25}), as the answering
    # version's schema (ModelVersion.input_schema) names and bounds them: the application checks
    # them before anything is stored, since each model has inputs of its own.
    inputs = models.JSONField(_("inputs"))
    species = models.CharField(_("predicted class"), max_length=50)
    probability = models.FloatField(_("probability of the predicted class"))
    probabilities = models.JSONField(_("probability of every class"))
    model_version = models.ForeignKey(
        ModelVersion,
        verbose_name=_("model version"),
        on_delete=models.PROTECT,
        related_name="predictions",
        db_index=False,  # covered by the (model_version, created_at) index below
    )
    source = models.CharField(_("source"), max_length=10, choices=Source.choices, default=Source.FORM)
    # Groups the rows stored together by one API batch request or one CSV upload; indexed only
    # where set (see Meta.indexes).
    batch_id = models.UUIDField(_("batch"), null=True, blank=True, editable=False)
    # Feedback: written only through predictor.history.feedback, never by the prediction itself. NULL
    # means "nobody has said yet", which must not look like a species. No choices: species are
    # data (ModelVersion.objects.known_species()), checked by predictor.history.feedback.
    actual_species = models.CharField(_("actual class"), max_length=50, null=True, blank=True)  # noqa: DJ001
    labelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("labelled by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,  # indexed only where set (see Meta.indexes)
    )
    labelled_at = models.DateTimeField(_("labelled at"), null=True, blank=True)
    # Whether a measurement lay outside what the answering version was trained on (its
    # training_range): the answer is a guess beyond the data, and the visitor was told so.
    outside_training_range = models.BooleanField(_("outside the training range"), default=False)
    # The classes of the answer's conformal prediction set (ModelVersion.set_threshold), in the
    # model's class order; [] when no class cleared it; NULL when its version has no sets.
    prediction_set = models.JSONField(_("prediction set"), null=True, blank=True)
    # The random key of the form page that sent it: a form sent twice (a double click, a reload
    # that re-posts) stores one prediction. NULL for the API and batches.
    submission_key = models.CharField(max_length=64, null=True, blank=True, editable=False)  # noqa: DJ001
    # The second opinion (predictor.serving.candidates): while a shadow or canary runs, the version that did
    # not answer also scores the row; its answer is kept here, never shown to the visitor. A canary's
    # rows hold the active version's answer here. NULL when no candidate ran.
    shadow_version = models.ForeignKey(
        ModelVersion,
        verbose_name=_("second-opinion version"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,  # covered by the partial prediction_comparison index
    )
    shadow_species = models.CharField(  # noqa: DJ001
        _("second-opinion class"), max_length=50, null=True, blank=True
    )
    shadow_probability = models.FloatField(_("second-opinion probability"), null=True, blank=True)

    # The default manager leaves out the rows of unfinished batches, so every read (history, CSV,
    # API, admin, counts) sees a batch whole or not at all; only predictor.history.batch, which stores and
    # removes them, uses ``with_unpublished``.
    objects = PublishedPredictionManager()
    with_unpublished = PredictionQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]  # the same as in_order(DEFAULT_SORT)
        verbose_name = _("prediction")
        # In context: "predictions" alone is a count of them (a column's heading), 预测数.
        verbose_name_plural = pgettext_lazy("model name", "predictions")
        constraints = [
            models.UniqueConstraint(
                fields=["submission_key"],
                condition=Q(submission_key__isnull=False),
                name="prediction_unique_submission_key",
            ),
        ]
        # Every stored row pays for each index, and a batch upload stores many rows at once, so these
        # are only the indexes the history's reads need (predictor/tests/test_query_plans.py checks
        # the plans on SQLite):
        # - time order, with `id` as tie-breaker for keyset pages (no index for the other sort
        #   orders: see SORT_FIELDS);
        # - one per filter of the results page and admin (species, version, source) in time order;
        # - partial ones on the rows that have a label or a batch id, which a form row lacks, so it
        #   pays for none of them: the "labelled" filters in time order (and one model's labelled
        #   rows, which training with feedback reads), the live-accuracy counts
        #   and confusion matrix of a version, the rows of one batch, and who labelled what.
        indexes = [
            models.Index(fields=["created_at", "id"], name="prediction_time_idx"),
            models.Index(fields=["model", "created_at", "id"], name="prediction_model_time_idx"),
            models.Index(fields=["species", "created_at", "id"], name="prediction_species_time_idx"),
            models.Index(fields=["model_version", "created_at", "id"], name="prediction_version_time_idx"),
            models.Index(fields=["source", "created_at", "id"], name="prediction_source_time_idx"),
            models.Index(fields=["created_at", "id"], condition=LABELLED, name="prediction_labelled_time_idx"),
            models.Index(
                fields=["model", "created_at", "id"], condition=LABELLED, name="prediction_model_labelled_idx"
            ),
            models.Index(
                fields=["model_version", "actual_species", "species"],
                condition=LABELLED,
                name="prediction_live_accuracy",
            ),
            models.Index(fields=["batch_id"], condition=Q(batch_id__isnull=False), name="prediction_batch_idx"),
            models.Index(
                fields=["created_at", "id"],
                condition=Q(outside_training_range=True),
                name="prediction_outside_range_idx",
            ),
            # The comparison page's counts (predictor.registry.comparison): rows scored by two versions only,
            # so a row answered without a candidate pays nothing; covering, with the labelled rows
            # together, so the database counts a million pairs and groups the labelled from the index.
            models.Index(
                fields=["shadow_version", "model_version", "actual_species", "species", "shadow_species"],
                condition=Q(shadow_version__isnull=False),
                name="prediction_comparison",
            ),
            # The disagreements, newest first, for labelling; with both answers, so they are counted
            # from the index alone.
            models.Index(
                fields=["shadow_version", "model_version", "created_at", "id", "species", "shadow_species"],
                condition=DISAGREEING,
                name="prediction_disagreement",
            ),
            # For deleting a user, whose labels then stay with no name.
            models.Index(
                fields=["labelled_by"], condition=Q(labelled_by__isnull=False), name="prediction_labelled_by_idx"
            ),
        ]

    def __str__(self) -> str:
        inputs = ", ".join(f"{value} {feature.unit}".strip() for feature, value in self.measurements)
        return f"{self.species} ({probability_text(self.probability)}) for {inputs}"

    @property
    def schema(self) -> ModelSchema:
        """The inputs of the version that answered (select_related("model_version") saves a query per row)."""
        return self.model_version.input_schema

    @property
    def measurements(self) -> list[tuple[Feature, str]]:
        """Each input with this row's value as pages show it, in the schema's order."""
        return [(feature, feature.display(self.inputs.get(feature.name, ""))) for feature in self.schema.inputs]

    @property
    def measurements_text(self) -> str:
        """The inputs in a sentence: "height 42.5 cm, weight 7.25 kg"."""
        parts = (f"{feature.in_sentence} {value} {feature.unit}".strip() for feature, value in self.measurements)
        return gettext(", ").join(parts)

    @property
    def probability_percent(self) -> str:
        return probability_text(self.probability)

    @property
    def range_warnings(self) -> list[tuple[Feature, str, str, str]]:
        """(feature, value, smallest, largest) for each measurement outside the answering version's training range."""
        if not self.outside_training_range:  # as recorded when the answer was given
            return []
        warnings = []
        for feature, text in self.measurements:
            known = self.model_version.training_range(feature)
            if known and not known[0] <= self.inputs[feature.name] <= known[1]:
                warnings.append((feature, text, feature.display(known[0]), feature.display(known[1])))
        return warnings

    @property
    def set_sentence(self) -> str:
        """The answer's conformal prediction set in a sentence, "" for a version without sets.

        One class: "90% sure it is one of: Dog."; more: "Cat or Dog: at 90% the model cannot tell
        these apart."; none (possible: no class cleared the threshold) said as it is.
        """
        labels = self.prediction_set
        if labels is None:
            return ""
        figures = {"level": self.model_version.confidence_percent}
        if not labels:
            return (
                gettext(
                    "At %(level)s confidence no answer is likely enough: the model's prediction set is empty, "
                    "so treat this answer as a guess."
                )
                % figures
            )
        figures["classes"] = one_of([self.schema.class_name(label) for label in labels])
        if len(labels) == 1:
            return gettext("%(level)s sure it is one of: %(classes)s.") % figures
        return gettext("%(classes)s: at %(level)s the model cannot tell these apart.") % figures

    @property
    def sorted_probabilities(self) -> list[tuple[str, str, str]]:
        """Every species with its probability as shown and as a bar's CSS width, most likely first."""
        ranked = sorted(self.probabilities.items(), key=lambda item: item[1], reverse=True)
        return [(label, probability_text(probability), f"{probability:.4%}") for label, probability in ranked]


class PendingBatch(models.Model):
    """A batch whose rows are being stored, or removed: they stay out of every read until this row goes.

    Deleting it publishes the batch, in the same transaction that marks its job succeeded.
    """

    batch_id = models.UUIDField(_("batch"), primary_key=True)
    job = models.ForeignKey(Job, verbose_name=_("job"), on_delete=models.CASCADE, related_name="pending_batches")
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("batch being stored")
        verbose_name_plural = _("batches being stored")

    def __str__(self) -> str:
        return str(self.batch_id)
