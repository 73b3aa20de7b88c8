"""How each model version is doing live: accuracy on labelled predictions and input drift.

Everything is computed by the database (COUNT, AVG, MIN, MAX with filters, one GROUP BY for the
confusion matrix): no prediction row is loaded into Python, so a page stays fast at a million rows.
"""

from dataclasses import dataclass

from django.db.models import Avg, Count, Max, Min, Q, QuerySet
from django.db.models.lookups import GreaterThan, LessThan

from predictor.models import LABELLED, ModelVersion, Prediction, number_input
from predictor.schema.features import Feature


@dataclass(frozen=True)
class FeatureDrift:
    feature: Feature
    training_mean: float | None
    training_min: float | None
    training_max: float | None
    live_mean: float | None  # None until the version has answered
    live_min: float | None
    live_max: float | None
    outside: int | None  # inputs outside [training_min, training_max]; None without training stats
    outside_share: float | None

    @property
    def outside_percent(self) -> str:
        return percent(self.outside_share)

    # As every page shows a measurement (Feature.display); "—" when there is nothing to show.
    @property
    def training_mean_text(self) -> str:
        return self._text(self.training_mean)

    @property
    def live_mean_text(self) -> str:
        return self._text(self.live_mean)

    @property
    def training_range_text(self) -> str:
        return self._range(self.training_min, self.training_max)

    @property
    def live_range_text(self) -> str:
        return self._range(self.live_min, self.live_max)

    def _text(self, value: float | None) -> str:
        return "—" if value is None else self.feature.display(value)

    def _range(self, low: float | None, high: float | None) -> str:
        return "—" if low is None else f"{self._text(low)}–{self._text(high)}"


@dataclass(frozen=True)
class VersionMetrics:
    version: ModelVersion
    predictions: int
    labelled: int
    correct: int
    accuracy: float | None  # None while nothing is labelled
    species: tuple[str, ...]  # row and column order of the confusion matrix
    confusion: tuple[tuple[int, ...], ...]  # confusion[actual][predicted]
    drift: tuple[FeatureDrift, ...]
    outside_any: int | None  # inputs with at least one feature outside the training range
    outside_any_share: float | None

    @property
    def accuracy_percent(self) -> str:
        return percent(self.accuracy)

    @property
    def outside_any_percent(self) -> str:
        return percent(self.outside_any_share)

    @property
    def confusion_rows(self) -> list[tuple[str, tuple[int, ...]]]:
        return list(zip(self.species, self.confusion, strict=True))


def share(part: int | None, whole: int | None) -> float | None:
    return None if part is None or not whole else part / whole


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def labelled_pairs(version: ModelVersion) -> QuerySet:
    """(actual species, predicted species, count) for every pair among the version's labelled predictions.

    The label condition is in the WHERE clause, so the partial prediction_live_accuracy index
    answers this without reading the table.
    """
    # Labelled rows were seen to be labelled, so none belongs to an unfinished batch: no need to
    # look each one's batch up (which would make the index no longer cover the query).
    labelled = Prediction.with_unpublished.filter(LABELLED, model_version=version).order_by()
    return labelled.values_list("actual_species", "species").annotate(count=Count("pk"))


def version_metrics(version: ModelVersion) -> VersionMetrics:
    """Live accuracy, confusion matrix and drift of one version, in two aggregate queries."""
    # The labelled and correct counts are sums over the confusion matrix: a COUNT filtered on the
    # label in the SELECT list would read every prediction of the version instead of the index.
    counts = {(actual, predicted): count for actual, predicted, count in labelled_pairs(version)}
    labelled = sum(counts.values())
    correct = sum(count for (actual, predicted), count in counts.items() if actual == predicted)
    species = _species_order(version, counts)
    confusion = tuple(tuple(counts.get((actual, predicted), 0) for predicted in species) for actual in species)

    # Drift reads every prediction of the version anyway, so it counts them too.
    drift_aggregates = {"predictions": Count("pk")}
    outside_any = Q()
    numbers = [feature for feature in version.input_schema.inputs if feature.is_number]
    for feature in numbers:
        value = number_input(feature.name)
        drift_aggregates[f"{feature.name}_mean"] = Avg(value)
        drift_aggregates[f"{feature.name}_min"] = Min(value)
        drift_aggregates[f"{feature.name}_max"] = Max(value)
        if outside := _outside_training_range(version, feature):
            drift_aggregates[f"{feature.name}_outside"] = Count("pk", filter=outside)
            outside_any |= outside
    if numbers and all(_outside_training_range(version, feature) for feature in numbers):
        drift_aggregates["outside_any"] = Count("pk", filter=outside_any)
    totals = Prediction.objects.filter(model_version=version).aggregate(**drift_aggregates)

    drift = tuple(_feature_drift(version, feature, totals) for feature in numbers)
    return VersionMetrics(
        version=version,
        predictions=totals["predictions"],
        labelled=labelled,
        correct=correct,
        accuracy=share(correct, labelled),
        species=species,
        confusion=confusion,
        drift=drift,
        outside_any=totals.get("outside_any"),
        outside_any_share=share(totals.get("outside_any"), totals["predictions"]),
    )


def _outside_training_range(version: ModelVersion, feature: Feature) -> Q | None:
    known = version.training_range(feature)
    if known is None:
        return None  # versions trained before training statistics were recorded
    value = number_input(feature.name)
    return Q(LessThan(value, known[0])) | Q(GreaterThan(value, known[1]))


def _feature_drift(version: ModelVersion, feature: Feature, totals: dict) -> FeatureDrift:
    stats = version.training_stats.get(feature.name, {})
    outside = totals.get(f"{feature.name}_outside")
    return FeatureDrift(
        feature=feature,
        training_mean=stats.get("mean"),
        training_min=stats.get("min"),
        training_max=stats.get("max"),
        live_mean=totals[f"{feature.name}_mean"],
        live_min=totals[f"{feature.name}_min"],
        live_max=totals[f"{feature.name}_max"],
        outside=outside,
        outside_share=share(outside, totals["predictions"]),
    )


def _species_order(version: ModelVersion, counts: dict[tuple[str, str], int]) -> tuple[str, ...]:
    seen = {label for pair in counts for label in pair}
    return tuple(sorted(seen | set(version.class_counts)))
