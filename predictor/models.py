import datetime as dt
import hashlib
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings
from django.db import models
from django.db.models import Count, F, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.text import format_lazy
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from .features import FEATURES, Feature


def one_of(names: Sequence[str]) -> str:
    """Species as alternatives, for page copy: "Cat or Dog", "Cat, Dog or Horse"."""
    *others, last = names
    if not others:
        return last
    return gettext("%(others)s or %(last)s") % {"others": gettext(", ").join(others), "last": last}


def probability_text(probability: float) -> str:
    """How every page shows a probability: one decimal, never rounded to certainty (">99.9%", "<0.1%")."""
    if probability >= 0.9995:
        return ">99.9%"
    if probability < 0.0005:
        return "<0.1%"
    return f"{probability:.1%}"


# Predictions whose actual species staff have recorded. The condition of the partial indexes on
# labelled rows: a query uses them only when its WHERE clause includes this.
LABELLED = Q(actual_species__isnull=False)
# Rows on which the second opinion (Prediction.shadow_species) differs from the answer: the condition of
# the partial index that lists them for labelling (predictor.comparison).
DISAGREEING = Q(shadow_species__isnull=False) & ~Q(species=F("shadow_species"))


class ModelVersionQuerySet(models.QuerySet):
    def active(self) -> "ModelVersionQuerySet":
        return self.filter(is_active=True)

    def known_species(self) -> list[str]:
        """The one list of species: every class a trained version knows, from the small versions table.

        Labels, filters, search, feedback and charts offer these; a model trained on a CSV with a
        new species (a Horse) brings it everywhere.
        """
        names: set[str] = set()
        for class_counts in self.values_list("class_counts", flat=True):
            names.update(class_counts)
        return sorted(names)

    def with_live_counts(self) -> "ModelVersionQuerySet":
        """Annotate how many predictions each version made, how many are labelled and how many were right.

        One correlated count per figure, each answered from an index (`prediction_version_time_idx`
        for all, the partial `prediction_live_accuracy` for the labelled): a join with GROUP BY
        would push every prediction row through a sorter instead.
        """
        return self.annotate(
            prediction_count=_count_predictions(Q()),
            labelled_count=_count_predictions(LABELLED, labelled=True),
            correct_count=_count_predictions(LABELLED & Q(actual_species=F("species")), labelled=True),
        )


def _count_predictions(condition: Q, *, labelled: bool = False) -> Coalesce:
    # Labelled rows were seen to be labelled, so none belongs to an unfinished batch (see
    # model_metrics.labelled_pairs); the others must leave those batches out.
    rows = Prediction.with_unpublished if labelled else Prediction.objects
    matching = rows.filter(condition, model_version=OuterRef("pk")).order_by()
    return Coalesce(Subquery(matching.values("model_version").annotate(count=Count("pk")).values("count")), 0)


class ModelVersion(models.Model):
    """One trained model: its artifact, how it was trained and how well it did."""

    version = models.PositiveIntegerField(_("version"), unique=True)
    algorithm = models.CharField(_("algorithm"), max_length=100)
    parameters = models.JSONField(_("parameters"), default=dict, blank=True)
    training_data_name = models.CharField(_("training data"), max_length=255)
    training_data_sha256 = models.CharField(_("training data sha256"), max_length=64)
    training_rows = models.PositiveIntegerField(_("training rows"))
    rows_from_csv = models.PositiveIntegerField(_("rows from the CSV"), default=0)
    rows_from_feedback = models.PositiveIntegerField(_("rows from labelled predictions"), default=0)
    feedback_sha256 = models.CharField(
        _("labelled predictions sha256"),
        max_length=64,
        blank=True,
        help_text=_("Empty when no labelled rows were used."),
    )
    # Per feature field: {"mean": …, "min": …, "max": …} over every training row; live inputs are
    # compared with these to show drift.
    training_stats = models.JSONField(_("training data statistics"), default=dict, blank=True)
    class_counts = models.JSONField(_("rows per class"), default=dict)
    cv_accuracy = models.FloatField(_("cross-validated accuracy"))
    cv_folds = models.PositiveSmallIntegerField(_("cross-validation folds"))
    sklearn_version = models.CharField(_("scikit-learn version"), max_length=30)
    artifact_name = models.CharField(_("artifact"), max_length=255, unique=True)
    artifact_sha256 = models.CharField(_("artifact sha256"), max_length=64)
    picture_name = models.CharField(_("training picture"), max_length=255, blank=True)
    # The gate: the active version's algorithm, cross-validated on this version's rows and folds.
    baseline_version = models.PositiveIntegerField(_("compared with version"), null=True, blank=True)
    baseline_cv_accuracy = models.FloatField(_("its accuracy on the same rows"), null=True, blank=True)
    created_at = models.DateTimeField(_("trained at"), default=timezone.now, db_index=True)
    is_active = models.BooleanField(_("active"), default=False)
    # When it last became active: the service falls back to the most recently active version
    # whose artifact still verifies when the active one cannot be loaded.
    activated_at = models.DateTimeField(_("activated at"), null=True, blank=True)
    # The retraining job that made it, if one did: a job retried after its worker died finds the
    # version its first attempt recorded instead of training a second one (unique).
    training_job = models.OneToOneField(
        "Job",
        verbose_name=_("training job"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        editable=False,
        related_name="model_version",
    )

    objects = ModelVersionQuerySet.as_manager()

    class Meta:
        ordering = ["-version"]
        verbose_name = _("model version")
        verbose_name_plural = _("model versions")
        constraints = [
            models.UniqueConstraint(fields=["is_active"], condition=Q(is_active=True), name="one_active_model_version"),
        ]

    def __str__(self) -> str:
        return f"v{self.version}"

    def training_range(self, feature: Feature) -> tuple[float, float] | None:
        """The smallest and largest value of ``feature`` this version was trained on (all species together).

        None for versions recorded before training statistics were kept.
        """
        stats = self.training_stats.get(feature.field)
        return (stats["min"], stats["max"]) if stats else None

    @property
    def live_accuracy(self) -> float | None:
        """Accuracy on labelled predictions; needs the counts from ``with_live_counts()``."""
        return self.correct_count / self.labelled_count if self.labelled_count else None

    @property
    def training_summary(self) -> str:
        """What it was trained on, for page copy: "10 rows: Cat 5, Dog 5"."""
        counts = gettext(", ").join(f"{species} {rows:,}" for species, rows in sorted(self.class_counts.items()))
        return gettext("%(rows)s rows: %(counts)s") % {"rows": f"{self.training_rows:,}", "counts": counts}

    @property
    def cv_accuracy_percent(self) -> str:
        return f"{self.cv_accuracy:.1%}"

    @property
    def baseline_cv_accuracy_percent(self) -> str:
        return "—" if self.baseline_cv_accuracy is None else f"{self.baseline_cv_accuracy:.1%}"

    @property
    def live_accuracy_percent(self) -> str:
        accuracy = self.live_accuracy
        return "—" if accuracy is None else f"{accuracy:.1%}"


# History sort orders: URL value -> model field. Only time has an index of its own, (created_at,
# id): the newest-first page every visit opens reads one page of it. The measurements and the
# probability are sorted by the database from the rows that match the filters (a top-50 scan:
# 0.2 s at a million rows on SQLite, docs/performance.md). An index of their own would take keys in
# random order, and every stored row paid for it: on SQLite a batch job held the one write lock
# 2.6 to 4.9 times as long. Species and model version are filters, not sort orders.
SORT_FIELDS: dict[str, str] = {
    "time": "created_at",
    **{feature.form_name: feature.field for feature in FEATURES},
    "probability": "probability",
}
DEFAULT_SORT = "-time"
SORT_CHOICES: list[str] = [f"{sign}{key}" for key in SORT_FIELDS for sign in ("", "-")]


@dataclass(frozen=True)
class HistoryQuery:
    """Which predictions to show and in what order: the results page, its CSV, the API and the admin.

    Times are aware datetimes: ``since`` inclusive, ``until`` exclusive. None (or "") means any.
    """

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
        return bool(self.species or self.model_version or self.since or self.until) or chosen != [None, None]


class PredictionQuerySet(models.QuerySet):
    def published(self) -> "PredictionQuerySet":
        """Without the rows of batches still being stored (or being removed): see PendingBatch."""
        return self.exclude(batch_id__in=PendingBatch.objects.values("batch_id"))

    def matching(self, query: HistoryQuery) -> "PredictionQuerySet":
        """The predictions that pass every filter of ``query``, in no particular order."""
        predictions = self
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
        return self.order_by(f"{sign}{SORT_FIELDS[sort.removeprefix('-')]}", f"{sign}id")


class PublishedPredictionManager(models.Manager.from_queryset(PredictionQuerySet)):
    def get_queryset(self) -> PredictionQuerySet:
        return super().get_queryset().published()


def _measurement_field(field: str) -> models.FloatField:
    feature = next(feature for feature in FEATURES if feature.field == field)
    return models.FloatField(format_lazy("{} ({})", feature.name, feature.unit))


def _bounds_constraint(feature) -> models.CheckConstraint:
    # NaN fails `<=` on PostgreSQL and is stored as NULL by SQLite, so this also keeps it out.
    field = feature.field
    return models.CheckConstraint(
        condition=Q(**{f"{field}__gt": 0, f"{field}__lte": feature.max_value}),
        name=f"prediction_{field}_in_bounds",
    )


class Prediction(models.Model):
    """One answer the site gave, kept as an audit record."""

    class Source(models.TextChoices):
        FORM = "form", _("web form")
        API = "api", _("JSON API")
        BATCH = "batch", _("batch upload")

    created_at = models.DateTimeField(_("created at"), default=timezone.now)  # indexed with id, see Meta.indexes
    # One field per entry of features.FEATURES (its docstring says how to add a measurement).
    height_cm = _measurement_field("height_cm")
    weight_kg = _measurement_field("weight_kg")
    species = models.CharField(_("predicted species"), max_length=50)
    probability = models.FloatField(_("probability of the predicted species"))
    probabilities = models.JSONField(_("probability of every species"))
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
    # Feedback: written only through predictor.feedback, never by the prediction itself. NULL
    # means "nobody has said yet", which must not look like a species. No choices: species are
    # data (ModelVersion.objects.known_species()), checked by predictor.feedback.
    actual_species = models.CharField(_("actual species"), max_length=50, null=True, blank=True)  # noqa: DJ001
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
    # The random key of the form page that sent it: a form sent twice (a double click, a reload
    # that re-posts) stores one prediction. NULL for the API and batches.
    submission_key = models.CharField(max_length=64, null=True, blank=True, editable=False)  # noqa: DJ001
    # The second opinion (predictor.candidates): while a shadow or canary runs, the version that did
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
        _("second-opinion species"), max_length=50, null=True, blank=True
    )
    shadow_probability = models.FloatField(_("second-opinion probability"), null=True, blank=True)

    # The default manager leaves out the rows of unfinished batches, so every read (history, CSV,
    # API, admin, counts) sees a batch whole or not at all; only predictor.batch, which stores and
    # removes them, uses ``with_unpublished``.
    objects = PublishedPredictionManager()
    with_unpublished = PredictionQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]  # the same as in_order(DEFAULT_SORT)
        verbose_name = _("prediction")
        verbose_name_plural = _("predictions")
        constraints = [
            *(_bounds_constraint(feature) for feature in FEATURES),
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
        #   pays for none of them: the "labelled" filters in time order, the live-accuracy counts
        #   and confusion matrix of a version, the rows of one batch, and who labelled what.
        indexes = [
            models.Index(fields=["created_at", "id"], name="prediction_time_idx"),
            models.Index(fields=["species", "created_at", "id"], name="prediction_species_time_idx"),
            models.Index(fields=["model_version", "created_at", "id"], name="prediction_version_time_idx"),
            models.Index(fields=["source", "created_at", "id"], name="prediction_source_time_idx"),
            models.Index(fields=["created_at", "id"], condition=LABELLED, name="prediction_labelled_time_idx"),
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
            # The comparison page's counts (predictor.comparison): rows scored by two versions only,
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
        inputs = ", ".join(f"{value} {feature.unit}" for feature, value in self.measurements)
        return f"{self.species} ({probability_text(self.probability)}) for {inputs}"

    @property
    def measurements(self) -> list[tuple[Feature, str]]:
        """Each feature with this animal's value as pages show it, in FEATURES order."""
        return [(feature, feature.display(getattr(self, feature.field))) for feature in FEATURES]

    @property
    def measurements_text(self) -> str:
        """The measurements in a sentence: "height 42.5 cm, weight 7.25 kg"."""
        return gettext(", ").join(f"{feature.name} {value} {feature.unit}" for feature, value in self.measurements)

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
            if known and not known[0] <= getattr(self, feature.field) <= known[1]:
                warnings.append((feature, text, feature.display(known[0]), feature.display(known[1])))
        return warnings

    @property
    def sorted_probabilities(self) -> list[tuple[str, str, str]]:
        """Every species with its probability as shown and as a bar's CSS width, most likely first."""
        ranked = sorted(self.probabilities.items(), key=lambda item: item[1], reverse=True)
        return [(label, probability_text(probability), f"{probability:.4%}") for label, probability in ranked]


class ApiKey(models.Model):
    """A secret that lets a program read the history over the API; only its sha256 is stored."""

    PREFIX_LENGTH = 8

    name = models.CharField(
        _("name"), max_length=100, help_text=_("Who or what uses this key, for example “nightly report”.")
    )
    prefix = models.CharField(
        _("prefix"), max_length=PREFIX_LENGTH, editable=False, help_text=_("The key's first characters.")
    )
    # The key is 256 random bits, so a fast hash is enough: nobody can guess their way to it.
    key_sha256 = models.CharField(_("key sha256"), max_length=64, unique=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        editable=False,
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True, editable=False)
    expires_at = models.DateTimeField(
        _("expires at"), null=True, blank=True, help_text=_("Leave empty for a key that works until it is revoked.")
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("API key")
        verbose_name_plural = _("API keys")

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and not self.has_expired

    @property
    def has_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()

    @staticmethod
    def hash(key: str) -> str:
        return hashlib.sha256(key.encode()).hexdigest()

    def set_new_key(self) -> str:
        """Give this key a fresh secret and return it: the only time it can be seen."""
        key = secrets.token_urlsafe(32)
        self.prefix = key[: self.PREFIX_LENGTH]
        self.key_sha256 = self.hash(key)
        return key


class AuditEvent(models.Model):
    """One change staff (or the command line) made: written by the service that made it, never edited."""

    class Action(models.TextChoices):
        LABEL = "label", _("labelled predictions")
        ACTIVATE = "activate", _("activated a model version")
        RETRAIN = "retrain", _("trained a model version")
        API_KEY_CREATED = "api_key_created", _("created an API key")
        API_KEY_REVOKED = "api_key_revoked", _("revoked an API key")
        SHADOW_STARTED = "shadow_started", _("started a shadow")
        CANARY_STARTED = "canary_started", _("started a canary")
        CANDIDATE_STOPPED = "candidate_stopped", _("stopped a shadow or canary")

    created_at = models.DateTimeField(_("when"), default=timezone.now, db_index=True)
    # NULL for the command line, and once the account is deleted: `username` keeps the name.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("who"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    username = models.CharField(_("username"), max_length=150, blank=True)
    action = models.CharField(_("what"), max_length=20, choices=Action.choices)
    target = models.CharField(_("which"), max_length=200, blank=True)
    details = models.JSONField(_("details"), default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.who}: {self.get_action_display()} {self.target}".rstrip()

    @property
    def who(self) -> str:
        return self.username or gettext("command line")


class Candidate(models.Model):
    """The version tried beside the active one, as a shadow or a canary: at most one (predictor.candidates)."""

    class Mode(models.TextChoices):
        SHADOW = "shadow", _("shadow")
        CANARY = "canary", _("canary")

    # The one row there can be; starting a trial replaces it, stopping deletes it.
    ONLY = 1

    id = models.PositiveSmallIntegerField(primary_key=True, default=ONLY, editable=False)
    version = models.OneToOneField(
        ModelVersion, verbose_name=_("model version"), on_delete=models.CASCADE, related_name="candidacy"
    )
    mode = models.CharField(_("mode"), max_length=10, choices=Mode.choices)
    # The share of single predictions the candidate answers (canary); 0 for a shadow.
    canary_percent = models.PositiveSmallIntegerField(_("canary share (%)"), default=0)
    started_at = models.DateTimeField(_("started at"), default=timezone.now)

    class Meta:
        verbose_name = _("candidate")
        verbose_name_plural = _("candidates")
        constraints = [
            models.CheckConstraint(condition=Q(id=1), name="one_candidate"),
            models.CheckConstraint(
                condition=Q(mode="shadow", canary_percent=0) | Q(mode="canary", canary_percent__range=(1, 100)),
                name="candidate_share_fits_mode",
            ),
        ]

    def __str__(self) -> str:
        if self.mode == self.Mode.CANARY:
            return f"{self.version} ({self.get_mode_display()} {self.canary_percent}%)"
        return f"{self.version} ({self.get_mode_display()})"


class IdempotentRequestQuerySet(models.QuerySet):
    def expired(self, now: dt.datetime | None = None) -> "IdempotentRequestQuerySet":
        return self.filter(expires_at__lte=now or timezone.now())


class IdempotentRequest(models.Model):
    """An API write sent with an Idempotency-Key, and its answer, replayed to a retry (predictor.idempotency)."""

    scope = models.CharField(_("scope"), max_length=64, help_text=_("sha256 of the API key or client address."))
    key = models.CharField(_("idempotency key"), max_length=255)
    request_sha256 = models.CharField(_("request sha256"), max_length=64)
    status = models.PositiveSmallIntegerField(_("status"))
    response = models.TextField(_("response"))
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    expires_at = models.DateTimeField(_("expires at"), db_index=True)

    objects = IdempotentRequestQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("idempotent request")
        verbose_name_plural = _("idempotent requests")
        constraints = [models.UniqueConstraint(fields=["scope", "key"], name="idempotency_key_once_per_scope")]

    def __str__(self) -> str:
        return self.key


class Job(models.Model):
    """Work run by a background worker (predictor.jobs): what the Tasks API does not keep.

    Its progress, its outcome or error, who started it, its attempts, and the lease a live
    worker renews; the reaper queues again (or fails) a job whose lease ran out.
    """

    class Kind(models.TextChoices):
        BATCH = "batch", _("batch upload")
        RETRAIN = "retrain", _("retraining")

    class Status(models.TextChoices):
        QUEUED = "queued", _("queued")
        RUNNING = "running", _("running")
        SUCCEEDED = "succeeded", _("succeeded")
        FAILED = "failed", _("failed")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    status = models.CharField(_("status"), max_length=20, choices=Status.choices, default=Status.QUEUED)
    arguments = models.JSONField(_("arguments"), default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("started by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now, db_index=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    lease_expires_at = models.DateTimeField(_("lease expires at"), null=True, blank=True)
    progress_done = models.PositiveBigIntegerField(_("done"), default=0)
    progress_total = models.PositiveBigIntegerField(_("total"), default=0)
    outcome = models.JSONField(_("outcome"), default=dict, blank=True)
    error = models.TextField(_("error"), blank=True)
    task_id = models.CharField(_("task id"), max_length=64, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("job")
        verbose_name_plural = _("jobs")
        indexes = [models.Index(fields=["status", "lease_expires_at"], name="job_status_lease_idx")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.pk} ({self.get_status_display()})"

    @property
    def is_finished(self) -> bool:
        return self.status in {self.Status.SUCCEEDED, self.Status.FAILED}

    @property
    def percent(self) -> int:
        """Whole percent done, 0 while the total is unknown."""
        return int(100 * self.progress_done / self.progress_total) if self.progress_total else 0


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


class LimitCounter(models.Model):
    """One client's count against one limit in one window (predictor.counters), when no Redis holds them.

    The key names the window, so a counter only ever grows until it expires and is deleted.
    """

    key = models.CharField(_("key"), max_length=255, primary_key=True)
    count = models.BigIntegerField(_("count"))
    expires_at = models.DateTimeField(_("expires at"), db_index=True)

    class Meta:
        verbose_name = _("rate-limit counter")
        verbose_name_plural = _("rate-limit counters")

    def __str__(self) -> str:
        return f"{self.key}: {self.count}"
