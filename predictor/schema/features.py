"""The model's inputs, defined once: names, units and the bounds every entry point enforces.

``FEATURES`` drives every list of measurements: the form's fields, the API's schemas, the CSV
checks of training files and batch uploads, the exports, the admin's columns, the results table,
the model service and the training picture. Species are not defined here: they are data, the
classes the trained versions know (``ModelVersion.objects.known_species()``).

Adding a measurement (say ``age`` in years):
1. add a ``Feature`` to ``FEATURES`` below (its position is the model's column order);
2. add its ``FloatField`` to ``Prediction`` in ``models.py`` (Django needs model fields spelled
   out), then ``python manage.py makemigrations``;
3. add its column to the training CSV (``predictor/data/animals.csv``) and retrain.
Artifacts trained without it are refused by the model service (their columns differ).
"""

import math
from collections.abc import Mapping
from dataclasses import dataclass

from django.utils.functional import Promise
from django.utils.text import format_lazy
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class Feature:
    field: str  # model field, API field and the service's input name
    column: str  # column in training and batch CSVs
    form_name: str  # HTML input name, as in the original tutorial
    label: str | Promise  # "Height": headings and labels (translated)
    name: str | Promise  # "height": the same inside a sentence (translated)
    unit: str  # a unit symbol, the same in every language
    # Inclusive bounds. The minimum is the smallest measurement that is still a real animal's, so
    # that a typo or a subnormal (5e-324, stored and shown as "0") is refused, not recorded.
    min_value: float
    max_value: float
    example: float  # a typical value, for the API's documentation
    hint: str | Promise = ""  # how to measure it, shown beside the form (translated)

    @property
    def label_with_unit(self) -> str | Promise:
        return format_lazy("{} ({})", self.label, self.unit)

    @property
    def column_note(self) -> str:
        """What a CSV column holds, beside its name: "cm" where the label is the name, else "身高, cm"."""
        label = str(self.label)
        return self.unit if label == self.column else f"{label}, {self.unit}"

    @property
    def error_messages(self) -> dict[str, Promise]:
        """What the form and the API say when this input is missing or is not a number (translated)."""
        return {
            "required": format_lazy(_("Enter the {name} in {unit}."), name=self.name, unit=self.unit),
            "invalid": format_lazy(
                _("{label} must be a number in {unit}, such as 42.5."), label=self.label, unit=self.unit
            ),
            "foreign_digits": format_lazy(_("Write the {name} with the digits 0–9, such as 42.5."), name=self.name),
        }

    @staticmethod
    def display(value: float) -> str:
        """How every page shows a measurement: at most two decimals, trailing zeros dropped (42.5, 80, 3.14)."""
        return f"{value:.2f}".rstrip("0").rstrip(".")

    def bounds_error(self, value: float) -> str | None:
        """Why ``value`` is not an acceptable measurement, or None when it is."""
        values = {"label": self.label, "unit": self.unit, "min": f"{self.min_value:g}", "max": f"{self.max_value:g}"}
        if not math.isfinite(value):
            return gettext("%(label)s must be a finite number.") % values
        if value < self.min_value:
            return gettext("%(label)s must be at least %(min)s %(unit)s.") % values
        if value > self.max_value:
            return gettext("%(label)s must be at most %(max)s %(unit)s.") % values
        return None


# Order matters: it is the column order the model is trained and queried with.
FEATURES: tuple[Feature, ...] = (
    Feature(
        field="height_cm",
        column="Height",
        form_name="height",
        label=_("Height"),
        name=_("height"),
        unit="cm",
        min_value=1,
        max_value=300,
        example=40,
        hint=_("Measure height at the shoulder, in centimetres."),
    ),
    Feature(
        field="weight_kg",
        column="Weight",
        form_name="weight",
        label=_("Weight"),
        name=_("weight"),
        unit="kg",
        min_value=0.01,
        max_value=500,
        example=12.5,
        hint=_("Weight in kilograms; decimals are fine (4.5)."),
    ),
)
FEATURE_FIELDS: tuple[str, ...] = tuple(feature.field for feature in FEATURES)
TARGET_COLUMN = "Species"


def as_row(measurements: Mapping[str, float]) -> list[float]:
    """The measurements keyed by feature field, as one row in the model's column order."""
    return [float(measurements[field]) for field in FEATURE_FIELDS]
