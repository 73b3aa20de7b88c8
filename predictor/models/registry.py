"""The trained models: each model, every version of it, and the candidate tried beside the active one."""

import math

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from predictor.schema.features import ANIMALS_SCHEMA, ANIMALS_SLUG, Feature
from predictor.schema.inputs import ModelSchema

_schemas: dict[tuple[int | None, str], ModelSchema] = {}


class UnknownModel(LookupError):
    """No model has the slug asked for; the message names it and the models that exist."""

    def __init__(self, slug: str):
        self.slug = slug
        known = gettext(", ").join(MLModel.objects.values_list("slug", flat=True))
        message = gettext("There is no model %(model)s. Known models: %(known)s.")
        super().__init__(message % {"model": slug[:60], "known": known or gettext("none")})


class MLModelQuerySet(models.QuerySet):
    def named(self, slug: str) -> "MLModel":
        """The model with this slug (the default one is created on first use, as everywhere); raises UnknownModel."""
        if slug == ANIMALS_SLUG:
            return self.default()
        model = self.filter(slug=slug).first()
        if model is None:
            raise UnknownModel(slug)
        return model

    def default(self) -> "MLModel":
        """The model the home page, API v1 and every command without ``--model`` mean: the shipped animals one."""
        model, _ = self.get_or_create(slug=ANIMALS_SLUG, defaults={"name": "Animals"})
        return model


# The shipped model's name as pages show it, in the visitor's language (the others' names are their trainers').
DEFAULT_MODEL_NAME = _("Animals")


def default_schema() -> dict:
    """The default model's inputs (height and weight), for versions recorded without a schema of their own."""
    return ANIMALS_SCHEMA.to_json()


def default_model_id() -> int:
    """The default model's id: rows written without a model belong to it, as every row did before models had names."""
    return MLModel.objects.default().pk


class MLModel(models.Model):
    """A named classifier (``animals``, ``iris``) with versions; each version brings its inputs from training."""

    slug = models.SlugField(_("slug"), max_length=50, unique=True)
    name = models.CharField(_("name"), max_length=100)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    objects = MLModelQuerySet.as_manager()

    class Meta:
        ordering = ["slug"]
        verbose_name = _("model")
        verbose_name_plural = _("models")

    def __str__(self) -> str:
        return self.slug

    @property
    def is_default(self) -> bool:
        return self.slug == ANIMALS_SLUG

    @property
    def display_name(self) -> str:
        return str(DEFAULT_MODEL_NAME) if self.is_default and self.name == "Animals" else self.name


def conformal_rank(*, rows: int, level: float) -> int:
    """Which order statistic of ``rows`` conformity scores promises ``level``: the ceil((rows+1)·level)-th smallest.

    More than ``rows`` means no score is high enough: only a set of every class keeps the promise.
    (The tolerance keeps 10 × 0.9 at 9, not the 10 its float rounding gives.)
    """
    return math.ceil((rows + 1) * level - 1e-9)


class ModelVersionQuerySet(models.QuerySet):
    def active(self) -> "ModelVersionQuerySet":
        return self.filter(is_active=True)

    def target_words(self) -> dict[str, str]:
        """Each known class with what its kind is called in a sentence: "species" for Cat (the animals' target),
        "kind" for setosa; "class" where the versions that know it disagree."""
        words: dict[str, set[str]] = {}
        for version in self.only("pk", "created_at", "artifact_sha256", "schema", "class_counts"):
            word = str(version.input_schema.target_in_sentence)
            for name in version.class_counts:
                words.setdefault(name, set()).add(word)
        return {name: found.pop() if len(found) == 1 else gettext("class") for name, found in words.items()}

    def target_word(self) -> str:
        """What the classes are called where no one model is meant: the target's word when every version agrees
        ("species" on a site of animals only), else "class"."""
        words = set(self.target_words().values())
        return words.pop() if len(words) == 1 else gettext("class")

    def known_species(self) -> list[str]:
        """The one list of species: every class a trained version knows, from the small versions table.

        Filters, search and charts offer these (a model trained on a CSV with a new species, a
        Horse, brings it there); a label is one of its own prediction's version's classes
        (``ModelVersion.classes``), and pages mark the classes outside ``current_species()``.
        """
        names: set[str] = set()
        for class_counts in self.values_list("class_counts", flat=True):
            names.update(class_counts)
        return sorted(names)

    def current_species(self) -> set[str]:
        """The classes the active version and the candidate know (every known class when none is active).

        A class outside these was known only to versions that were rolled back or never served:
        pages that offer the union of every version's classes mark it as such.
        """
        current = self.filter(Q(is_active=True) | Q(candidacy__isnull=False)).values_list("class_counts", flat=True)
        names: set[str] = set()
        for class_counts in current:
            names.update(class_counts)
        return names or set(self.known_species())


class ModelVersion(models.Model):
    """One trained version of a model: its inputs, its artifact, how it was trained and how well it did."""

    model = models.ForeignKey(
        MLModel, verbose_name=_("model"), on_delete=models.PROTECT, related_name="versions", default=default_model_id
    )
    version = models.PositiveIntegerField(_("version"))  # numbered per model
    # The inputs and target it was trained with (predictor.schema.inputs.ModelSchema.to_json).
    schema = models.JSONField(_("inputs"), default=default_schema)
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
    # The gate's floor: the majority-class guess (DummyClassifier), cross-validated on the same rows and folds.
    chance_cv_accuracy = models.FloatField(_("majority-class guess on the same rows"), null=True, blank=True)
    # Conformal prediction sets (registry.training.calibrate_sets): a class is in an answer's set when
    # 1 - its probability is at most ``set_threshold``; the set then holds the true class on at least
    # ``confidence_level`` of answers, given ``calibration_rows`` exchangeable rows. NULL before sets.
    confidence_level = models.FloatField(_("confidence level"), null=True, blank=True)
    set_threshold = models.FloatField(_("conformity-score threshold"), null=True, blank=True)
    calibration_rows = models.PositiveIntegerField(_("calibration rows"), null=True, blank=True)
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
            models.UniqueConstraint(fields=["model", "version"], name="model_version_number"),
            models.UniqueConstraint(fields=["model"], condition=Q(is_active=True), name="one_active_version_per_model"),
        ]

    def __str__(self) -> str:
        return f"v{self.version}"

    @property
    def url_args(self) -> list:
        """The arguments of its pages' URLs: /models/3/ for the default model's (as always), /models/iris/3/ else."""
        return [self.version] if self.model.is_default else [self.model.slug, self.version]

    @property
    def input_schema(self) -> ModelSchema:
        # A version's schema never changes once trained, and history pages read it once per row.
        # Its row, not its artifact, says which version it is: the same CSV with another schema
        # file's words trains the same artifact (and a restored database reuses ids).
        key = (self.pk, self.created_at, self.artifact_sha256)
        if (schema := _schemas.get(key)) is None:
            schema = _schemas[key] = ModelSchema.from_json(self.schema)
        return schema

    def training_range(self, feature: Feature) -> tuple[float, float] | None:
        """The smallest and largest value of ``feature`` this version was trained on (all classes together).

        None for versions recorded before training statistics were kept, and for a category.
        """
        stats = self.training_stats.get(feature.name)
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
    def classes(self) -> list[str]:
        """The species this version can answer, and so the ones its predictions can be labelled with."""
        return sorted(self.class_counts)

    @property
    def cv_accuracy_percent(self) -> str:
        return f"{self.cv_accuracy:.1%}"

    @property
    def cv_accuracy_summary(self) -> str:
        """The version's one accuracy figure, with the rows it was measured on: "70.0% cross-validated on 14 rows"."""
        return gettext("%(accuracy)s cross-validated on %(rows)s rows") % {
            "accuracy": self.cv_accuracy_percent,
            "rows": f"{self.training_rows:,}",
        }

    @property
    def refused_by_gate(self) -> bool:
        """Judged by the gate (its floor was measured) and never made active: the gate said no."""
        return self.activated_at is None and self.chance_cv_accuracy is not None

    @property
    def chance_cv_accuracy_percent(self) -> str:
        return "—" if self.chance_cv_accuracy is None else f"{self.chance_cv_accuracy:.1%}"

    @property
    def baseline_cv_accuracy_percent(self) -> str:
        return "—" if self.baseline_cv_accuracy is None else f"{self.baseline_cv_accuracy:.1%}"

    @property
    def confidence_percent(self) -> str:
        """The promised confidence level as pages say it: "90%", "97.5%"; "" for a version without sets."""
        # Never rounded up into a stronger promise: 97.5% stays 97.5%.
        return "" if self.confidence_level is None else f"{round(self.confidence_level * 100, 2):g}%"

    @property
    def rows_per_class_needed(self) -> int:
        """The rows of each class below which its sets' guarantee is weak: 1/(1-level), 10 at 90%."""
        return math.ceil(1 / (1 - self.confidence_level) - 1e-9) if self.confidence_level else 0

    @property
    def calibration_strength(self) -> str:
        """How much the sets' guarantee means: "trivial", "weak", "sound", or "" for a version without sets.

        Trivial: with n calibration rows, the level needs the ceil((n+1)·level)-th smallest of n scores,
        which does not exist, so every set holds every class. Weak: a class with fewer than
        1/(1-level) rows (10 at 90%) leaves the quantile resting on one or two scores of that class.
        """
        if self.set_threshold is None or not self.calibration_rows:
            return ""
        level, rows = self.confidence_level, self.calibration_rows
        if conformal_rank(rows=rows, level=level) > rows or self.set_threshold >= 1:
            return "trivial"
        if min(self.class_counts.values(), default=0) < self.rows_per_class_needed:
            return "weak"
        return "sound"

    @property
    def live_accuracy_percent(self) -> str:
        accuracy = self.live_accuracy
        return "—" if accuracy is None else f"{accuracy:.1%}"


class Candidate(models.Model):
    """The version tried beside its model's active one, as a shadow or a canary: at most one per model
    (predictor.serving.candidates)."""

    class Mode(models.TextChoices):
        SHADOW = "shadow", _("shadow")
        CANARY = "canary", _("canary")

    # One row per model at most: starting a trial replaces its model's row, stopping deletes it.
    model = models.OneToOneField(MLModel, verbose_name=_("model"), on_delete=models.CASCADE, related_name="candidate")
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
            models.CheckConstraint(
                condition=Q(mode="shadow", canary_percent=0) | Q(mode="canary", canary_percent__range=(1, 100)),
                name="candidate_share_fits_mode",
            ),
        ]

    def __str__(self) -> str:
        if self.mode == self.Mode.CANARY:
            return f"{self.version} ({self.get_mode_display()} {self.canary_percent}%)"
        return f"{self.version} ({self.get_mode_display()})"

    def save(self, *args, **kwargs) -> None:
        # The model is always the version's: stored beside it only so that one model has one candidate.
        self.model_id = self.version.model_id
        super().save(*args, **kwargs)
