"""What the model service answers with: the loaded model, and one answer or a batch of them.

Apart from the service, so the history can store answers without importing what loads models.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from predictor.models import ModelVersion
from predictor.schema.inputs import ModelSchema
from predictor.schema.wording import one_of


@dataclass(frozen=True)
class LoadedModel:
    record: ModelVersion  # the row it was loaded from; stored predictions point at it
    schema: ModelSchema  # its inputs, in the column order it was trained with
    estimator: Any
    classes: tuple[str, ...]
    # One row of inputs in, one probability per class out (see predictor.serving._closed_form).
    probabilities_of: Callable[[list[Any]], list[float]]
    # Where the number inputs are in a row, and per number input the smallest and largest value it
    # was trained on (ModelVersion.training_range); unbounded for versions recorded without them.
    number_positions: tuple[int, ...]
    training_low: tuple[float, ...]
    training_high: tuple[float, ...]
    # The conformal sets' rule (ModelVersion.set_threshold): a class is in the set when its probability
    # is at least this. None for versions calibrated before sets: their answers have none.
    set_floor: float | None = None
    confidence_level: float | None = None

    def set_of(self, probabilities: list[float]) -> list[str] | None:
        """One answer's prediction set: the classes whose probability clears the floor, in class order."""
        floor = self.set_floor
        if floor is None:
            return None
        return [label for label, probability in zip(self.classes, probabilities, strict=True) if probability >= floor]

    def sets_of(self, probabilities: np.ndarray) -> list[list[str]] | None:
        """set_of for each row of a (rows, classes) array."""
        if self.set_floor is None:
            return None
        classes = self.classes
        return [[classes[i] for i in np.flatnonzero(row)] for row in probabilities >= self.set_floor]

    @property
    def slug(self) -> str:
        return self.record.model.slug

    @property
    def dtype(self) -> type:
        """Rows of numbers only are float arrays (the closed form, the picture); with a category, objects."""
        return float if len(self.number_positions) == len(self.schema.inputs) else object

    def row_of(self, inputs: Mapping[str, Any]) -> list[Any]:
        """The inputs keyed by name as one row in the version's column order (numbers as floats)."""
        return [float(inputs[item.name]) if item.is_number else str(inputs[item.name]) for item in self.schema.inputs]

    @property
    def version_id(self) -> int:
        return self.record.pk

    @property
    def version(self) -> int:
        return self.record.version

    def is_outside_training_range(self, row: list[Any]) -> bool:
        """Whether a number input of one row lies outside what this version was trained on."""
        return any(
            not low <= row[position] <= high
            for position, low, high in zip(self.number_positions, self.training_low, self.training_high, strict=True)
        )

    def rows_outside_training_range(self, features: np.ndarray) -> np.ndarray:
        """is_outside_training_range for each row of a (rows, inputs) array."""
        if not self.number_positions:
            return np.zeros(len(features), dtype=bool)
        numbers = features[:, list(self.number_positions)].astype(float)
        return ((numbers < self.training_low) | (numbers > self.training_high)).any(axis=1)

    @property
    def species_choice(self) -> str:
        """The species it can answer, for page copy: "Cat or Dog", "Cat, Dog or Horse"."""
        return one_of(self.classes)


@dataclass(frozen=True)
class SecondOpinion:
    """What the version that did not answer said (the shadow, or the active one beside a canary); never shown."""

    model: LoadedModel
    species: str
    probability: float


@dataclass(frozen=True)
class BatchSecondOpinion:
    model: LoadedModel
    species: np.ndarray
    probability: np.ndarray


@dataclass(frozen=True)
class PredictionResult:
    """One answer, with the inputs it answered (keyed by input name, as stored)."""

    inputs: dict[str, Any]
    species: str
    probability: float
    probabilities: dict[str, float]
    model: LoadedModel
    outside_training_range: bool  # a measurement lies outside what the version was trained on
    second_opinion: SecondOpinion | None = None  # only while a candidate runs
    prediction_set: list[str] | None = None  # None: the version has no sets (LoadedModel.set_of)

    @property
    def confidence_level(self) -> float | None:
        return None if self.prediction_set is None else self.model.confidence_level


@dataclass(frozen=True)
class BatchResult:
    """Answers for many rows at once: row i of ``probabilities`` follows the order of ``model.classes``."""

    inputs: np.ndarray  # shape (rows, inputs), columns in the schema's order: what was answered
    species: np.ndarray  # the predicted label of each row
    probability: np.ndarray  # the probability of that label
    probabilities: np.ndarray  # shape (rows, classes)
    model: LoadedModel
    outside_training_range: np.ndarray  # per row, as PredictionResult's
    second_opinion: BatchSecondOpinion | None = None  # only while a candidate runs
    prediction_sets: list[list[str]] | None = None  # per row, as PredictionResult's; None without sets

    @property
    def confidence_level(self) -> float | None:
        return None if self.prediction_sets is None else self.model.confidence_level

    def __len__(self) -> int:
        return len(self.species)
