import hashlib
import secrets
from datetime import datetime

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from .features import FEATURES, HEIGHT, WEIGHT


class ModelVersionQuerySet(models.QuerySet):
    def active(self) -> "ModelVersionQuerySet":
        return self.filter(is_active=True)


class ModelVersion(models.Model):
    """One trained model: its artifact, how it was trained and how well it did."""

    version = models.PositiveIntegerField(unique=True)
    algorithm = models.CharField(max_length=100)
    parameters = models.JSONField(default=dict, blank=True)
    training_data_name = models.CharField("training data", max_length=255)
    training_data_sha256 = models.CharField("training data sha256", max_length=64)
    training_rows = models.PositiveIntegerField()
    class_counts = models.JSONField("rows per class", default=dict)
    cv_accuracy = models.FloatField("cross-validated accuracy")
    cv_folds = models.PositiveSmallIntegerField("cross-validation folds")
    sklearn_version = models.CharField("scikit-learn version", max_length=30)
    artifact_name = models.CharField(max_length=255, unique=True)
    artifact_sha256 = models.CharField("artifact sha256", max_length=64)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    is_active = models.BooleanField("active", default=False)

    objects = ModelVersionQuerySet.as_manager()

    class Meta:
        ordering = ["-version"]
        verbose_name = "model version"
        constraints = [
            models.UniqueConstraint(fields=["is_active"], condition=Q(is_active=True), name="one_active_model_version"),
        ]

    def __str__(self) -> str:
        return f"v{self.version}"


class PredictionQuerySet(models.QuerySet):
    def recent(self) -> "PredictionQuerySet":
        return self.select_related("model_version").order_by("-created_at", "-id")

    def matching(
        self,
        *,
        species: str | None = None,
        version: int | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
    ) -> "PredictionQuerySet":
        """The predictions that pass every filter given; None means any. ``created_before`` is exclusive."""
        conditions = {
            "species": species,
            "model_version__version": version,
            "created_at__gte": created_after,
            "created_at__lt": created_before,
        }
        return self.filter(**{lookup: value for lookup, value in conditions.items() if value is not None})


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
        FORM = "form", "web form"
        API = "api", "JSON API"
        BATCH = "batch", "batch upload"

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    height_cm = models.FloatField(f"{HEIGHT.label.lower()} ({HEIGHT.unit})")
    weight_kg = models.FloatField(f"{WEIGHT.label.lower()} ({WEIGHT.unit})")
    species = models.CharField("predicted species", max_length=50, db_index=True)
    probability = models.FloatField("probability of the predicted species")
    probabilities = models.JSONField("probability of every species")
    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="predictions")
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.FORM)
    # Groups the rows stored together by one API batch request or one CSV upload.
    batch_id = models.UUIDField("batch", null=True, blank=True, db_index=True, editable=False)

    objects = PredictionQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "prediction"
        constraints = [_bounds_constraint(feature) for feature in FEATURES]

    def __str__(self) -> str:
        return f"{self.species} ({self.probability:.0%}) for {self.height_cm:g} cm, {self.weight_kg:g} kg"

    @property
    def probability_percent(self) -> str:
        return f"{self.probability:.1%}"

    @property
    def sorted_probabilities(self) -> list[tuple[str, str]]:
        """Every species with its probability as a percentage, most likely first."""
        ranked = sorted(self.probabilities.items(), key=lambda item: item[1], reverse=True)
        return [(label, f"{probability:.1%}") for label, probability in ranked]


class ApiKeyQuerySet(models.QuerySet):
    def usable(self) -> "ApiKeyQuerySet":
        return self.filter(revoked_at__isnull=True)


class ApiKey(models.Model):
    """A secret that lets a program read the history over the API; only its sha256 is stored."""

    PREFIX_LENGTH = 8

    name = models.CharField(max_length=100, help_text="Who or what uses this key, for example “nightly report”.")
    prefix = models.CharField(max_length=PREFIX_LENGTH, editable=False, help_text="The key's first characters.")
    # The key is 256 random bits, so a fast hash is enough: nobody can guess their way to it.
    key_sha256 = models.CharField("key sha256", max_length=64, unique=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, editable=False
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = ApiKeyQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    @staticmethod
    def hash(key: str) -> str:
        return hashlib.sha256(key.encode()).hexdigest()

    def set_new_key(self) -> str:
        """Give this key a fresh secret and return it: the only time it can be seen."""
        key = secrets.token_urlsafe(32)
        self.prefix = key[: self.PREFIX_LENGTH]
        self.key_sha256 = self.hash(key)
        return key
