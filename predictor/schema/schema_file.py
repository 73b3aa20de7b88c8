"""The optional schema file beside a training CSV (``--schema iris.toml``): the words and bounds of a
model's inputs, which a CSV cannot say. docs/models.md explains every key; read with ``tomllib``.

    title.en = "Which iris is it?"
    title.zh-hans = "这是哪种鸢尾花？"
    target_label.en = "Species"

    [inputs.sepal_length_cm]       # an input's name: its CSV header in snake case
    unit = "cm"                    # kind = "category" reads a column of codes (1, 2, 3) as one
    min = 0.1
    max = 30
    example = 5.1
    label.en = "Sepal length"
    label.zh-hans = "萼片长度"
    in_sentence.en = "sepal length"  # how it reads inside a sentence (default: the label)
    hint.en = "From the base of the sepal to its tip."

    [classes.setosa]               # a class as the CSV writes it
    en = "Setosa"
    zh-hans = "山鸢尾"

Every key is optional. A key this file does not know, or a value of the wrong type, is refused
with one line naming the file and the key, so a typo never goes unnoticed.
"""

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from django.utils.translation import gettext

from .inputs import KINDS, Input

TOP_KEYS = {"title", "target_label", "inputs", "classes"}
INPUT_KEYS = {"kind", "unit", "min", "max", "example", "label", "in_sentence", "hint"}
WORD_KEYS = {"label", "in_sentence", "hint"}


class SchemaFileError(ValueError):
    """The schema file cannot be used; the message names the file and the key at fault."""


@dataclass(frozen=True)
class SchemaFile:
    name: str
    inputs: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    titles: Mapping[str, str] = field(default_factory=dict)
    target_labels: Mapping[str, str] = field(default_factory=dict)
    class_names: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def applied_to(self, item: Input) -> Input:
        """``item`` with what this file says of it: unit, bounds, example and words."""
        given = self.inputs.get(item.name, {})
        changes: dict[str, Any] = {}
        if "unit" in given:
            changes["unit"] = given["unit"]
        if "min" in given:
            changes["min_value"] = float(given["min"])
        if "max" in given:
            changes["max_value"] = float(given["max"])
        if "example" in given:
            changes["example"] = given["example"]
        if "label" in given:
            changes["labels"] = dict(given["label"])
        if "in_sentence" in given:
            changes["names"] = dict(given["in_sentence"])
        elif "label" in given:
            changes["names"] = dict(given["label"])
        if "hint" in given:
            changes["hints"] = dict(given["hint"])
        return replace(item, **changes)

    def kind_of(self, input_name: str) -> str:
        """The kind the file gives an input ("number", "category"), or "" to read it from the CSV."""
        return self.inputs.get(input_name, {}).get("kind", "")

    def unknown_inputs(self, names: set[str]) -> list[str]:
        return [name for name in self.inputs if name not in names]


def read(path: Path | str) -> SchemaFile:
    """The schema file at ``path``, checked; SchemaFileError names the file and the key at fault."""
    name = str(path)
    try:
        with Path(path).open("rb") as source:
            data = tomllib.load(source)
    except FileNotFoundError:
        raise SchemaFileError(gettext("%(name)s: no such file") % {"name": name}) from None
    except OSError as error:
        message = gettext("%(name)s: cannot be read (%(reason)s)")
        raise SchemaFileError(message % {"name": name, "reason": error.strerror}) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        message = gettext("%(name)s: not a TOML file (%(reason)s)")
        raise SchemaFileError(message % {"name": name, "reason": error}) from None
    return parse(data, name=name)


def parse(data: Mapping[str, Any], *, name: str) -> SchemaFile:
    def refuse(key: str, why: str) -> SchemaFileError:
        return SchemaFileError(gettext("%(name)s: %(key)s: %(why)s") % {"name": name, "key": key, "why": why})

    for key in data:
        if key not in TOP_KEYS:
            raise refuse(key, gettext("unknown key (allowed: %(keys)s)") % {"keys": ", ".join(sorted(TOP_KEYS))})
    inputs = data.get("inputs", {})
    if not isinstance(inputs, dict):
        raise refuse("inputs", gettext("must be a table of inputs"))
    for input_name, given in inputs.items():
        where = f"inputs.{input_name}"
        if not isinstance(given, dict):
            raise refuse(where, gettext("must be a table"))
        for key, value in given.items():
            if key not in INPUT_KEYS:
                allowed = ", ".join(sorted(INPUT_KEYS))
                raise refuse(f"{where}.{key}", gettext("unknown key (allowed: %(keys)s)") % {"keys": allowed})
            if key in WORD_KEYS:
                _check_words(value, refuse=lambda why, place=f"{where}.{key}": refuse(place, why))
            elif key in {"min", "max"} and (isinstance(value, bool) or not isinstance(value, int | float)):
                raise refuse(f"{where}.{key}", gettext("must be a number"))
            elif key == "kind" and value not in KINDS:
                raise refuse(f"{where}.{key}", gettext("must be one of: %(kinds)s") % {"kinds": ", ".join(KINDS)})
            elif key == "unit" and not isinstance(value, str):
                raise refuse(f"{where}.{key}", gettext("must be text"))
        low, high = given.get("min"), given.get("max")
        if low is not None and high is not None and low > high:
            raise refuse(where, gettext("min is larger than max"))
    for key in ("title", "target_label"):
        if key in data:
            _check_words(data[key], refuse=lambda why, key=key: refuse(key, why))
    classes = data.get("classes", {})
    if not isinstance(classes, dict):
        raise refuse("classes", gettext("must be a table of classes"))
    for label, words in classes.items():
        _check_words(words, refuse=lambda why, label=label: refuse(f"classes.{label}", why))
    return SchemaFile(
        name=name,
        inputs=inputs,
        titles=data.get("title", {}),
        target_labels=data.get("target_label", {}),
        class_names=classes,
    )


def _check_words(value: Any, *, refuse) -> None:
    if not isinstance(value, dict) or not all(isinstance(text, str) for text in value.values()):
        raise refuse(gettext('must give text per language, such as en = "…" and zh-hans = "…"'))
