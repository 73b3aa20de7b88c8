"""A new model's inputs, read from its training CSV: the first of training's two passes over the file.

Every column but the target is an input, named after its header in lower snake case
(``Sepal Length (cm)`` -> ``sepal_length_cm``). A column whose every cell is a number is a
``number`` input; a column of words is a ``category`` whose values are the ones seen (at most
MAX_CATEGORIES). A column of numbers with a few words in it is a mistake, not a category: it is
refused, naming the first word, unless the schema file says ``kind = "category"`` (codes such
as postcodes). The optional schema file (predictor.schema.schema_file) then adds the words and
bounds a CSV cannot say. The second pass, predictor.registry.training_data.load_training_data,
reads the rows against the schema found here, as it does for the shipped animals data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from django.utils.translation import gettext

from predictor.schema import numbers, schema_file
from predictor.schema.inputs import CATEGORY, MAX_CATEGORIES, NUMBER, Input, ModelSchema, snake_case

from .training_data import READ_OPTIONS, CellError, TrainingDataError, check_index, line_number, open_checked

# Below this share of numbers a column is read as words (a category); at or above it, the words
# in it are typing mistakes in a column of numbers.
NUMBER_SHARE = 0.5


@dataclass
class _Column:
    header: str
    numbers: int = 0
    cells: int = 0
    first_word: tuple[int, str] | None = None  # (line, cell) of the first cell that is not a number
    example: str = ""  # the first row's cell: the form's placeholder
    values: set[str] = field(default_factory=set)  # distinct cells, up to one more than MAX_CATEGORIES


def infer_schema(path: Path | str, *, target: str, words: schema_file.SchemaFile | None = None) -> ModelSchema:
    """The inputs and target of the CSV at ``path``; TrainingDataError names the file, line and column at fault."""
    import pandas as pd  # here, not at the top: only reading a CSV needs it, and it slowed every start

    name = str(path)
    open_checked(Path(path), name=name)
    try:
        with pd.read_csv(path, chunksize=100_000, **READ_OPTIONS) as chunks:
            columns: dict[str, _Column] | None = None
            target_header = ""
            for chunk in chunks:
                try:
                    check_index(chunk)
                except CellError as error:
                    raise TrainingDataError(gettext("%(name)s: %(reason)s") % {"name": name, "reason": error}) from None
                chunk.columns = [str(column).strip() for column in chunk.columns]
                if columns is None:
                    target_header, inputs = _split_header(list(chunk.columns), target=target, name=name)
                    columns = {input_name: _Column(header) for input_name, header in inputs.items()}
                _read_chunk(chunk, columns, target_header=target_header, name=name)
    except TrainingDataError:
        raise
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as error:
        reason = str(error).strip().splitlines()[0]
        message = gettext("%(name)s: not a readable CSV file (%(reason)s)")
        raise TrainingDataError(message % {"name": name, "reason": reason}) from None
    if not columns or not any(column.cells for column in columns.values()):
        raise TrainingDataError(gettext("%(name)s: no data rows below the header") % {"name": name})
    words = words or schema_file.SchemaFile(name="")
    if unknown := words.unknown_inputs(set(columns)):
        message = gettext("%(file)s: inputs.%(input)s: the CSV has no such input (its inputs: %(inputs)s)")
        raise TrainingDataError(message % {"file": words.name, "input": unknown[0], "inputs": ", ".join(columns)})
    inputs = tuple(
        words.applied_to(_input(input_name, column, forced=words.kind_of(input_name), name=name))
        for input_name, column in columns.items()
    )
    return ModelSchema(
        inputs=inputs,
        target=target_header,
        titles=words.titles,
        class_names=words.class_names,
        target_labels=words.target_labels,
    )


def _split_header(headers: list[str], *, target: str, name: str) -> tuple[str, dict[str, str]]:
    """The target's header as written, and each input's name with its header; refuses clashes by name."""
    matches = [header for header in headers if header == target or snake_case(header) == snake_case(target)]
    if not matches:
        message = gettext("%(name)s: line 1: no column %(target)s (the header names %(columns)s)")
        raise TrainingDataError(message % {"name": name, "target": target, "columns": ", ".join(headers)})
    target_header = matches[0]
    inputs: dict[str, str] = {}
    for header in headers:
        if header == target_header:
            continue
        input_name = snake_case(header)
        if not input_name:
            message = gettext("%(name)s: line 1: column %(column)r has no letters or digits to name an input by")
            raise TrainingDataError(message % {"name": name, "column": header})
        if input_name in inputs:
            message = gettext("%(name)s: line 1: columns %(first)r and %(second)r would both be the input %(input)s")
            raise TrainingDataError(
                message % {"name": name, "first": inputs[input_name], "second": header, "input": input_name}
            )
        inputs[input_name] = header
    if not inputs:
        message = gettext("%(name)s: line 1: there is no column but the target %(target)s to learn from")
        raise TrainingDataError(message % {"name": name, "target": target_header})
    return target_header, inputs


def _read_chunk(chunk, columns: dict[str, _Column], *, target_header: str, name: str) -> None:
    headers = [column.header for column in columns.values()]
    frame = chunk[[*headers, target_header]].apply(lambda column: column.str.strip())
    frame = frame[(frame != "").any(axis=1)]  # wholly blank lines carry no row
    for column in [*columns.values(), _Column(target_header)]:
        cells = frame[column.header]
        if (blank := cells == "").any():
            line = line_number(cells.index[blank][0])
            message = gettext("%(name)s: line %(line)s, column %(column)s: empty value")
            raise TrainingDataError(message % {"name": name, "line": line, "column": column.header})
    for column in columns.values():
        cells = frame[column.header]
        is_number = np.isfinite(numbers.parse_column(cells))
        column.example = column.example or (cells.iloc[0] if len(cells) else "")
        column.cells += len(cells)
        column.numbers += int(is_number.sum())
        if column.first_word is None and not is_number.all():
            position = int(np.flatnonzero(~is_number)[0])
            column.first_word = (line_number(cells.index[position]), cells.iloc[position])
        if len(column.values) <= MAX_CATEGORIES:
            column.values.update(cells.unique()[: MAX_CATEGORIES + 1].tolist())


def _input(input_name: str, column: _Column, *, forced: str, name: str) -> Input:
    kind = forced or (NUMBER if column.numbers == column.cells else CATEGORY)
    if kind == CATEGORY and not forced and column.numbers >= NUMBER_SHARE * column.cells:
        line, cell = column.first_word
        message = gettext(
            "%(name)s: line %(line)s, column %(column)s: %(cell)r is not a number, and the column's other values "
            'are numbers (a column of categories may say kind = "category" in the schema file)'
        )
        raise TrainingDataError(
            message % {"name": name, "line": line, "column": column.header, "cell": cell[: numbers.SHOWN_CHARACTERS]}
        )
    if kind == NUMBER and column.numbers < column.cells:  # the schema file said number
        line, cell = column.first_word
        message = gettext("%(name)s: line %(line)s, column %(column)s: %(reason)s")
        raise TrainingDataError(
            message % {"name": name, "line": line, "column": column.header, "reason": numbers.reason(cell)}
        )
    if kind == CATEGORY:
        if len(column.values) > MAX_CATEGORIES:
            message = gettext(
                "%(name)s: column %(column)s has more than %(limit)s different values: an identifier or free text "
                "is not a category (leave the column out of the CSV)"
            )
            raise TrainingDataError(message % {"name": name, "column": column.header, "limit": MAX_CATEGORIES})
        categories = tuple(sorted(column.values))
        return Input(
            name=input_name, kind=CATEGORY, column=column.header, categories=categories, example=column.example
        )
    return Input(name=input_name, kind=NUMBER, column=column.header, example=numbers.parse(column.example))
