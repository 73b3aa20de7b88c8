"""A model's inputs and target, as its training recorded them: the one description every page, form,
API schema and check of that model follows.

A ``ModelSchema`` comes from training (predictor.registry.csv_schema reads it from the CSV and the
optional schema file) and is stored with each version as JSON (``to_json`` / ``from_json``), so a
version answers with the inputs it was trained on, whatever other models the site serves. Words a
person reads (labels, hints, the title, the classes' names) are kept per language, ``{"en": …,
"zh-hans": …}``, and chosen at the moment they are shown; where the schema gives none, the CSV's
own spelling is shown.
"""

import math
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from django.utils.functional import Promise, lazy
from django.utils.text import format_lazy
from django.utils.translation import get_language, gettext
from django.utils.translation import gettext_lazy as _

from predictor.schema import numbers

NUMBER = "number"
CATEGORY = "category"
KINDS = (NUMBER, CATEGORY)
MAX_CATEGORIES = 50  # more distinct values than this is an identifier or free text, not a category
SCHEMA_FORMAT = 1

Words = Mapping[str, str]  # language code ("en", "zh-hans") -> text


def _in_sentence(label: str) -> str:
    if len(label) > 1 and label[1].isupper():
        return label
    return label[:1].lower() + label[1:]


def snake_case(header: str) -> str:
    """An input's name from its CSV header: "Sepal Length (cm)" -> "sepal_length_cm", "Höhe" -> "hohe"."""
    ascii_text = unicodedata.normalize("NFKD", header).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "_", ascii_text.lower()).strip("_")


def in_language(words: Words, fallback: str) -> str:
    """The text for the active language: its own, else its base language's, else English, else ``fallback``."""
    language = (get_language() or "en").lower()
    for code in (language, language.split("-")[0], "en"):
        if words.get(code):
            return words[code]
    return fallback


def _translated(words: Words, fallback: str) -> str:
    return in_language(words, fallback)


translated = lazy(_translated, str)  # the same, chosen when the text is shown, not when it is built


@dataclass(frozen=True)
class Input:
    """One input of a model: its name (the form field, the JSON key, the CSV column in snake case)."""

    name: str
    kind: str = NUMBER
    column: str = ""  # the CSV header as written ("Sepal Length (cm)"); the name when not given
    unit: str = ""  # a unit symbol, the same in every language
    min_value: float | None = None  # inclusive bounds of a number; None: any finite number
    max_value: float | None = None
    example: float | str | None = None
    categories: tuple[str, ...] = ()  # the allowed values of a category, in the order offered
    labels: Words = field(default_factory=dict)  # "Height", "身高"
    names: Words = field(default_factory=dict)  # the same inside a sentence: "height"
    hints: Words = field(default_factory=dict)  # how to measure it, shown beside the form
    # The animals model's v1 API and export spell its inputs with their units (height_cm): see
    # predictor.schema.features. Every other model uses the name.
    v1_field: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"input {self.name}: kind must be one of {', '.join(KINDS)}, not {self.kind!r}")
        if not self.column:
            object.__setattr__(self, "column", self.name)

    @property
    def is_number(self) -> bool:
        return self.kind == NUMBER

    @property
    def field(self) -> str:
        return self.v1_field or self.name

    @property
    def form_name(self) -> str:
        return self.name

    @property
    def label(self) -> Promise:
        return translated(self.labels, self.column)

    @property
    def in_sentence(self) -> Promise:
        return translated(self.names, str(self.column))

    @property
    def hint(self) -> Promise | str:
        return translated(self.hints, "") if self.hints else ""

    @property
    def label_with_unit(self) -> Promise:
        return format_lazy("{} ({})", self.label, self.unit) if self.unit else self.label

    @property
    def column_note(self) -> str:
        """What a CSV column holds, beside its name: "cm" where the label is the name, else "身高, cm"."""
        label = str(self.label)
        detail = self.unit if self.is_number else gettext("one of %(values)s") % {"values": ", ".join(self.categories)}
        if not detail:
            return "" if label == self.column else label
        return detail if label == self.column else f"{label}, {detail}"

    @property
    def error_messages(self) -> dict[str, Promise]:
        """What the form and the API say when this input is missing or is not a number (translated)."""
        if not self.is_number:
            return {
                "required": format_lazy(_("Choose the {name}."), name=self.in_sentence),
                "invalid_choice": format_lazy(
                    _("{label} must be one of: {values}."), label=self.label, values=", ".join(self.categories)
                ),
            }
        required = (
            format_lazy(_("Enter the {name} in {unit}."), name=self.in_sentence, unit=self.unit)
            if self.unit
            else format_lazy(_("Enter the {name}."), name=self.in_sentence)
        )
        invalid = (
            format_lazy(_("{label} must be a number in {unit}, such as 42.5."), label=self.label, unit=self.unit)
            if self.unit
            else format_lazy(_("{label} must be a number, such as 42.5."), label=self.label)
        )
        return {
            "required": required,
            "invalid": invalid,
            "foreign_digits": format_lazy(
                _("Write the {name} with the digits 0–9, such as 42.5."), name=self.in_sentence
            ),
        }

    @staticmethod
    def display(value: Any) -> str:
        """How every page shows a value: a number with at most two decimals, trailing zeros dropped (42.5, 80)."""
        if isinstance(value, str):
            return value
        return f"{value:.2f}".rstrip("0").rstrip(".")

    def bounds_error(self, value: float) -> str | None:
        """Why the number ``value`` is not acceptable for this input, or None when it is."""
        values = {
            "label": self.label,
            "unit": self.unit,
            "min": _number(self.min_value),
            "max": _number(self.max_value),
        }
        if not math.isfinite(value):
            return gettext("%(label)s must be a finite number.") % values
        if self.min_value is not None and value < self.min_value:
            if self.unit:
                return gettext("%(label)s must be at least %(min)s %(unit)s.") % values
            return gettext("%(label)s must be at least %(min)s.") % values
        if self.max_value is not None and value > self.max_value:
            if self.unit:
                return gettext("%(label)s must be at most %(max)s %(unit)s.") % values
            return gettext("%(label)s must be at most %(max)s.") % values
        return None

    def category_error(self, value: str) -> str | None:
        """Why ``value`` is not one of this category's values (naming them), or None when it is."""
        if value in self.categories:
            return None
        message = gettext("%(label)s must be one of: %(values)s; %(value)r is not one of them.")
        return message % {"label": self.label, "values": ", ".join(self.categories), "value": value[:40]}

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "kind": self.kind, "column": self.column}
        optional = {
            "unit": self.unit,
            "min": self.min_value,
            "max": self.max_value,
            "example": self.example,
            "categories": list(self.categories),
            "label": dict(self.labels),
            "in_sentence": dict(self.names),
            "hint": dict(self.hints),
            "v1_field": self.v1_field,
        }
        data |= {key: value for key, value in optional.items() if value not in (None, "", [], {})}
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Input":
        return cls(
            name=data["name"],
            kind=data.get("kind", NUMBER),
            column=data.get("column", ""),
            unit=data.get("unit", ""),
            min_value=data.get("min"),
            max_value=data.get("max"),
            example=data.get("example"),
            categories=tuple(data.get("categories", ())),
            labels=dict(data.get("label", {})),
            names=dict(data.get("in_sentence", {})),
            hints=dict(data.get("hint", {})),
            v1_field=data.get("v1_field", ""),
        )


def _read_number(item: Input, value: Any) -> tuple[float | None, str]:
    """A number input's value as a float and "", or None and why it cannot be one."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None, str(item.error_messages["invalid"])
    if isinstance(value, str):
        try:
            value = numbers.parse(value)
        except numbers.NotANumber as error:
            key = "foreign_digits" if error.code == "foreign_digits" else "invalid"
            return None, str(item.error_messages[key])
    try:
        number = float(value)
    except OverflowError:  # a JSON integer with 400 digits
        number = math.inf
    if problem := item.bounds_error(number):
        return None, problem
    return number, ""


class InputsRefused(ValueError):
    """Inputs a model cannot answer or store: missing, unknown, not finite, out of bounds or not a category."""


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


@dataclass(frozen=True)
class ModelSchema:
    """Every input of a model in its column order, the target's name, and the words of its pages."""

    inputs: tuple[Input, ...]
    target: str  # the target column as written ("Species")
    titles: Words = field(default_factory=dict)  # the form's heading: "Cat or dog?"
    class_names: Mapping[str, Words] = field(default_factory=dict)  # class as stored -> its name per language
    target_labels: Words = field(default_factory=dict)  # "Species", "物种"

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(item.name for item in self.inputs)

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(item.column for item in self.inputs)

    @property
    def title(self) -> Promise:
        return translated(self.titles, "")

    @property
    def target_label(self) -> Promise:
        return translated(self.target_labels, self.target)

    @property
    def target_in_sentence(self) -> Promise:
        """The target's label inside a sentence ("the actual species"): its first letter lower-cased, unless the
        label starts with an abbreviation (DNA type)."""
        return lazy(lambda: _in_sentence(str(self.target_label)), str)()

    def input(self, name: str) -> Input:
        return next(item for item in self.inputs if item.name == name)

    def read(self, raw: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
        """One row of inputs as a person or program sent them (text, or JSON numbers and strings).

        Returns the values keyed by input name (numbers as floats) and, per input at fault (or
        unknown key), what is wrong with it in a sentence; the row may be used only when the
        second is empty. The one reading of a row for every model's form and API v2.
        """
        values: dict[str, Any] = {}
        errors: dict[str, str] = {}
        for item in self.inputs:
            value = raw.get(item.name)
            if value is None or (isinstance(value, str) and not value.strip()):
                errors[item.name] = str(item.error_messages["required"])
            elif item.is_number:
                number, error = _read_number(item, value)
                if error:
                    errors[item.name] = error
                else:
                    values[item.name] = number
            elif not isinstance(value, str):
                errors[item.name] = str(item.error_messages["invalid_choice"])
            elif problem := item.category_error(value.strip()):
                errors[item.name] = problem
            else:
                values[item.name] = value.strip()
        for name in raw:
            if name not in self.names:
                message = gettext("There is no input %(name)s; this model's inputs are %(inputs)s.")
                errors[str(name)[:40]] = message % {"name": repr(str(name)[:40]), "inputs": ", ".join(self.names)}
        return values, errors

    def problems(self, values: Mapping[str, Any]) -> list[str]:
        """What is wrong with one row of inputs keyed by name, each in a sentence; empty when nothing is.

        The same rules as the form and the API: code that skips them (a script, a job) is held to
        them by the history's writer, so no stored prediction breaks them.
        """
        problems = []
        if missing := [name for name in self.names if name not in values]:
            problems.append(gettext("Missing inputs: %(names)s.") % {"names": ", ".join(missing)})
        if unknown := sorted(name for name in values if name not in self.names):
            problems.append(gettext("Unknown inputs: %(names)s.") % {"names": ", ".join(unknown)})
        for item in self.inputs:
            if item.name not in values:
                continue
            value = values[item.name]
            if item.is_number:
                problem = (
                    item.bounds_error(float(value))
                    if isinstance(value, (int, float)) and not isinstance(value, bool)
                    else gettext("%(label)s must be a number.") % {"label": item.label}
                )
            else:
                problem = item.category_error(value) if isinstance(value, str) else item.category_error(repr(value))
            if problem:
                problems.append(problem)
        return problems

    def refuse_bad_rows(self, rows: "np.ndarray") -> None:
        """Raise InputsRefused naming the first bad row of a (rows, inputs) array, in the schema's column order."""
        for position, item in enumerate(self.inputs):
            column = rows[:, position]
            if item.is_number:
                numbers = column.astype(float)
                low = -math.inf if item.min_value is None else item.min_value
                high = math.inf if item.max_value is None else item.max_value
                bad = ~(np.isfinite(numbers) & (numbers >= low) & (numbers <= high))
            else:
                bad = ~np.isin(column.astype(str), list(item.categories))
            if bad.any():
                row = int(np.flatnonzero(bad)[0])
                problems = self.problems(dict(zip(self.names, rows[row].tolist(), strict=True)))
                raise InputsRefused(
                    gettext("Row %(row)s: %(problems)s") % {"row": row + 1, "problems": " ".join(problems)}
                )

    def class_name(self, label: str) -> str:
        """How a class reads in the active language: 猫 for the stored "Cat"; as stored without a translation."""
        return in_language(self.class_names.get(label, {}), label)

    def differences(self, other: "ModelSchema") -> list[str]:
        """What keeps a version with schema ``other`` from standing in for this one: the inputs that differ."""
        problems = []
        mine, theirs = {item.name: item for item in self.inputs}, {item.name: item for item in other.inputs}
        if missing := [name for name in mine if name not in theirs]:
            problems.append(gettext("it lacks %(names)s") % {"names": ", ".join(missing)})
        if extra := [name for name in theirs if name not in mine]:
            problems.append(gettext("it adds %(names)s") % {"names": ", ".join(extra)})
        for name in mine.keys() & theirs.keys():
            if mine[name].kind != theirs[name].kind:
                problems.append(gettext("%(name)s is a %(kind)s there") % {"name": name, "kind": theirs[name].kind})
        if not problems and self.names != other.names:
            problems.append(gettext("its inputs are in another order"))
        return problems

    def with_words(self, words: "ModelSchema") -> "ModelSchema":
        """This schema with the labels, hints, title and class names of ``words`` (a newer schema file)."""
        known = {item.name: item for item in words.inputs}
        inputs = tuple(
            replace(item, labels=known[item.name].labels, names=known[item.name].names, hints=known[item.name].hints)
            if item.name in known
            else item
            for item in self.inputs
        )
        return replace(
            self, inputs=inputs, titles=words.titles, class_names=words.class_names, target_labels=words.target_labels
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "format": SCHEMA_FORMAT,
            "inputs": [item.to_json() for item in self.inputs],
            "target": self.target,
            "title": dict(self.titles),
            "classes": {label: dict(words) for label, words in self.class_names.items()},
            "target_label": dict(self.target_labels),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "ModelSchema":
        return cls(
            inputs=tuple(Input.from_json(item) for item in data["inputs"]),
            target=data["target"],
            titles=dict(data.get("title", {})),
            class_names={label: dict(words) for label, words in data.get("classes", {}).items()},
            target_labels=dict(data.get("target_label", {})),
        )
