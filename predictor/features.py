"""The model's inputs, defined once: names, units and the bounds every entry point enforces.

The form, the training data check and the database constraints all read from here.
"""

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Feature:
    field: str  # model field and form field suffix
    column: str  # column in training CSVs
    form_name: str  # HTML input name, as in the original tutorial
    label: str
    unit: str
    max_value: float  # inclusive; every feature must also be greater than zero

    def bounds_error(self, value: float) -> str | None:
        """Why ``value`` is not an acceptable measurement, or None when it is."""
        if not math.isfinite(value):
            return f"{self.label} must be a finite number."
        if value <= 0:
            return f"{self.label} must be greater than 0 {self.unit}."
        if value > self.max_value:
            return f"{self.label} must be at most {self.max_value:g} {self.unit}."
        return None


HEIGHT = Feature(field="height_cm", column="Height", form_name="height", label="Height", unit="cm", max_value=300)
WEIGHT = Feature(field="weight_kg", column="Weight", form_name="weight", label="Weight", unit="kg", max_value=500)

# Order matters: it is the column order the model is trained and queried with.
FEATURES: tuple[Feature, ...] = (HEIGHT, WEIGHT)
TARGET_COLUMN = "Species"

# The species staff can record as an animal's actual species (feedback labels).
SPECIES: tuple[str, ...] = ("Cat", "Dog")
