"""The shipped animals model's inputs: height and weight, from ``predictor/data/animals.toml``.

Every other model's inputs come from its training (predictor.schema.inputs, stored with each
version). The animals model is the default one, and its v1 API, exports and the oldest stored
rows spell its inputs with their units (``height_cm``, ``weight_kg``, ``Input.field``); its form
keeps the tutorial's ``height`` and ``weight`` (``Input.name``).
"""

from collections.abc import Mapping
from pathlib import Path

from . import schema_file
from .inputs import Input, ModelSchema

ANIMALS_SLUG = "animals"
ANIMALS_SCHEMA_FILE = Path(__file__).resolve().parents[1] / "data" / "animals.toml"
TARGET_COLUMN = "Species"
_V1_FIELDS = {"height": "height_cm", "weight": "weight_kg"}
_COLUMNS = {"height": "Height", "weight": "Weight"}

Feature = Input  # the animals code's name for an input

_words = schema_file.read(ANIMALS_SCHEMA_FILE)
ANIMALS_SCHEMA = ModelSchema(
    inputs=tuple(
        _words.applied_to(Input(name=name, column=column, v1_field=_V1_FIELDS[name]))
        for name, column in _COLUMNS.items()
    ),
    target=TARGET_COLUMN,
    titles=_words.titles,
    class_names=_words.class_names,
    target_labels=_words.target_labels,
)

# Order matters: it is the column order the model is trained and queried with.
FEATURES: tuple[Input, ...] = ANIMALS_SCHEMA.inputs
FEATURE_FIELDS: tuple[str, ...] = tuple(feature.field for feature in FEATURES)


def as_row(measurements: Mapping[str, float]) -> list[float]:
    """The measurements keyed by feature field, as one row in the model's column order."""
    return [float(measurements[field]) for field in FEATURE_FIELDS]


def v1_inputs(measurements: Mapping[str, float]) -> dict[str, float]:
    """v1 measurements (keyed height_cm) as inputs keyed by name (height), as the service takes them."""
    return {feature.name: float(measurements[feature.field]) for feature in FEATURES}
