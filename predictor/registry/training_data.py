"""Reading and checking CSVs of measurements: training files, and the cell checks batch uploads share.

Files are read as strings first, so that a bad cell can be reported as written, and with blank
lines kept, so that the frame's index stays in step with the file's line numbers. Training CSVs
are read in chunks of CHUNK_ROWS lines and kept as compact arrays, so a million-row file needs
tens of megabytes, not a text copy of the whole file.
"""

from __future__ import annotations

import hashlib
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from django.conf import settings
from django.utils.translation import gettext
from tqdm import tqdm

from predictor.schema import numbers
from predictor.schema.features import ANIMALS_SCHEMA
from predictor.schema.inputs import Input, ModelSchema

if TYPE_CHECKING:
    import pandas as pd

DEFAULT_TRAINING_DATA = Path(__file__).resolve().parents[1] / "data" / "animals.csv"
READ_OPTIONS = {"dtype": str, "keep_default_na": False, "skip_blank_lines": False, "encoding": "utf-8-sig"}
CHUNK_ROWS = 100_000
PROGRESS_DELAY_SECONDS = 1.0  # a progress bar appears only for work that takes longer than this


class TrainingDataError(ValueError):
    """The training CSV cannot be used; the message names the file and the row or column at fault."""


class CellError(ValueError):
    """One bad cell: where it is and why."""

    def __init__(self, *, line: int, column: str, reason: str) -> None:
        message = gettext("line %(line)s, column %(column)s: %(reason)s")
        super().__init__(message % {"line": line, "column": column, "reason": reason})
        self.line, self.column, self.reason = line, column, reason


@dataclass(frozen=True)
class TrainingData:
    name: str
    sha256: str
    features: np.ndarray  # (rows, inputs), columns in the schema's order; floats, or objects with a category
    labels: np.ndarray

    @property
    def rows(self) -> int:
        return len(self.labels)

    @property
    def class_counts(self) -> dict[str, int]:
        labels, counts = np.unique(self.labels, return_counts=True)
        return {str(label): int(count) for label, count in zip(labels, counts, strict=True)}

    def plus(self, other: TrainingData) -> TrainingData:
        """These rows followed by ``other``'s, under this file's name and sha256."""
        if not other.rows:
            return self
        return TrainingData(
            name=self.name,
            sha256=self.sha256,
            features=np.concatenate([self.features, other.features]),
            labels=np.concatenate([self.labels, other.labels]),
        )


def empty(name: str, schema: ModelSchema = ANIMALS_SCHEMA) -> TrainingData:
    features = np.empty((0, len(schema.inputs)), dtype=_dtype(schema))
    return TrainingData(name=name, sha256="", features=features, labels=np.array([], dtype=str))


def _dtype(schema: ModelSchema) -> type:
    """Numbers only are a float array (what GaussianNB's closed form and the picture read); with a category, objects."""
    return float if all(item.is_number for item in schema.inputs) else object


def line_number(index: int) -> int:
    return int(index) + 2  # line 1 is the header


def check_index(frame: pd.DataFrame) -> None:
    """pandas turns extra leading values into an index when line 2 is longer than the header."""
    import pandas as pd  # here, not at the top: only reading a CSV needs it, and it slowed every start

    if not isinstance(frame.index, pd.RangeIndex):
        raise CellError(line=2, column="(all)", reason=gettext("more values than the header has column names"))


def measurements(raw: pd.Series, feature: Input) -> np.ndarray:
    """The column as floats, or CellError for its first empty, non-numeric or out-of-bounds cell."""
    values = numbers.parse_column(raw)  # spaces around numbers are fine
    low = -np.inf if feature.min_value is None else feature.min_value
    high = np.inf if feature.max_value is None else feature.max_value
    bad = np.flatnonzero(~np.isfinite(values) | (values < low) | (values > high))
    if len(bad):
        position = bad[0]
        cell = raw.iloc[position]
        if np.isnan(values[position]):
            reason = numbers.reason(cell)
        else:
            message = gettext("%(cell)r is not allowed: %(why)s")
            reason = message % {"cell": cell.strip()[:40], "why": feature.bounds_error(values[position])}
        raise CellError(line=line_number(raw.index[position]), column=feature.column, reason=reason)
    return values


def categories(raw: pd.Series, feature: Input) -> np.ndarray:
    """The column as its category values, or CellError for its first empty cell or a value not among them."""
    values = raw.str.strip()
    bad = np.flatnonzero(~values.isin(feature.categories).to_numpy())
    if len(bad):
        position = bad[0]
        cell = values.iloc[position]
        reason = gettext("empty value") if cell == "" else feature.category_error(cell)
        raise CellError(line=line_number(raw.index[position]), column=feature.column, reason=reason)
    return values.to_numpy(dtype=object)


def feature_matrix(frame: pd.DataFrame, schema: ModelSchema = ANIMALS_SCHEMA) -> np.ndarray:
    """Every input column of ``frame`` checked and stacked, columns in the schema's order.

    CellError for the first bad cell in the file's order: the lowest line, and on that line the
    leftmost input (each column is checked whole, so the columns' first problems are compared).
    """
    columns, problems = [], []
    for feature in schema.inputs:
        check = measurements if feature.is_number else categories
        try:
            columns.append(check(frame[feature.column], feature))
        except CellError as problem:
            problems.append(problem)
    if problems:
        raise min(problems, key=lambda problem: problem.line)
    dtype = _dtype(schema)
    return np.column_stack([column.astype(dtype) for column in columns]).reshape(-1, len(schema.inputs))


def load_training_data(
    path: Path,
    *,
    schema: ModelSchema = ANIMALS_SCHEMA,
    show_progress: bool = False,
    chunk_rows: int = CHUNK_ROWS,
) -> TrainingData:
    """Read and check a CSV of the schema's input columns and its target; TrainingDataError on the first problem."""
    import pandas as pd  # here, not at the top: only reading a CSV needs it, and it slowed every start

    name = str(path)
    path = Path(path)
    sha256, lines = open_checked(path, name=name)

    feature_parts: list[np.ndarray] = []
    label_parts: list[np.ndarray] = []
    try:
        progress = tqdm(
            total=max(lines - 1, 0),
            desc=f"Reading {path.name}",
            unit=" lines",
            unit_scale=True,
            delay=PROGRESS_DELAY_SECONDS,
            disable=not show_progress,
        )
        chunks = pd.read_csv(path, chunksize=chunk_rows, **READ_OPTIONS)
        with progress, chunks:
            for chunk in chunks:
                features, labels = _check_chunk(chunk, name, schema)
                feature_parts.append(features)
                label_parts.append(labels)
                progress.update(len(chunk))
    except TrainingDataError:
        raise
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as error:
        reason = str(error).strip().splitlines()[0]
        message = gettext("%(name)s: not a readable CSV file (%(reason)s)")
        raise TrainingDataError(message % {"name": name, "reason": reason}) from None
    if not sum(len(labels) for labels in label_parts):
        raise TrainingDataError(gettext("%(name)s: no data rows below the header") % {"name": name})
    data = TrainingData(
        name=name, sha256=sha256, features=np.concatenate(feature_parts), labels=np.concatenate(label_parts)
    )
    _check_classes(data, target=schema.target)
    return data


def open_checked(path: Path, *, name: str) -> tuple[str, int]:
    """The sha256 and line count of a training CSV that can be read; TrainingDataError says why not."""
    try:
        # A regular file only: /dev/zero or a pipe never ends, and a folder is no CSV.
        if not stat.S_ISREG(path.stat().st_mode):
            message = gettext("%(name)s: not a regular file (a folder, device or pipe cannot be training data)")
            raise TrainingDataError(message % {"name": name})
        sha256, lines, has_content = _fingerprint(path, name=name, max_line_bytes=settings.TRAINING_MAX_LINE_BYTES)
    except FileNotFoundError:
        raise TrainingDataError(gettext("%(name)s: no such file") % {"name": name}) from None
    except OSError as error:
        message = gettext("%(name)s: cannot be read (%(reason)s)")
        raise TrainingDataError(message % {"name": name, "reason": error.strerror}) from None
    if not has_content:
        raise TrainingDataError(gettext("%(name)s: the file is empty") % {"name": name})
    return sha256, lines


def _fingerprint(path: Path, *, name: str, max_line_bytes: int) -> tuple[str, int, bool]:
    """The file's sha256, its line count (for the progress bar), and whether it holds anything but whitespace.

    Raises TrainingDataError at the first line longer than ``max_line_bytes``, before the parser
    would hold it whole (a 2 GB file with no line end took 4.3 GB).
    """
    digest = hashlib.sha256()
    lines = 0
    has_content = False
    line_bytes = 0  # of the line still open at the end of the blocks read so far
    # Blocks no longer than the cap: a line between two line ends of one block is then within it,
    # so only lines that run across blocks need counting.
    block_bytes = max(1, min(1 << 20, max_line_bytes))
    with path.open("rb") as source:
        while block := source.read(block_bytes):
            digest.update(block)
            newlines = block.count(b"\n")
            line_bytes += block.find(b"\n") if newlines else len(block)
            if line_bytes > max_line_bytes:
                message = gettext(
                    "%(name)s: line %(line)s is longer than %(limit)s bytes (TRAINING_MAX_LINE_BYTES); "
                    "is this a CSV file?"
                )
                raise TrainingDataError(message % {"name": name, "line": lines + 1, "limit": f"{max_line_bytes:,}"})
            if newlines:
                line_bytes = len(block) - block.rfind(b"\n") - 1
            lines += newlines
            has_content = has_content or bool(block.strip())
    return digest.hexdigest(), lines, has_content


def _check_chunk(chunk: pd.DataFrame, name: str, schema: ModelSchema) -> tuple[np.ndarray, np.ndarray]:
    try:
        check_index(chunk)
    except CellError as error:
        raise TrainingDataError(gettext("%(name)s: %(reason)s") % {"name": name, "reason": error}) from None
    chunk.columns = [str(column).strip() for column in chunk.columns]
    expected = [*schema.columns, schema.target]
    missing = [column for column in expected if column not in chunk.columns]
    if missing:
        message = gettext("%(name)s: missing column %(missing)s (the header must name %(required)s)")
        raise TrainingDataError(message % {"name": name, "missing": ", ".join(missing), "required": ",".join(expected)})
    frame = chunk[expected].apply(lambda column: column.str.strip())
    frame = frame[(frame != "").any(axis=1)]  # wholly blank lines carry no row
    try:
        features = feature_matrix(frame, schema)
    except CellError as error:
        raise TrainingDataError(gettext("%(name)s: %(reason)s") % {"name": name, "reason": error}) from None
    labels = frame[schema.target]
    blank = labels == ""
    if blank.any():
        message = gettext("%(name)s: line %(line)s, column %(column)s: empty value")
        line = line_number(labels.index[blank][0])
        raise TrainingDataError(message % {"name": name, "line": line, "column": schema.target})
    return features, labels.to_numpy(dtype=str)


def _check_classes(data: TrainingData, *, target: str) -> None:
    counts = data.class_counts
    if len(counts) < 2:
        message = gettext(
            "%(name)s: column %(column)s has only one class (%(label)r); at least two are needed to learn anything"
        )
        raise TrainingDataError(message % {"name": data.name, "column": target, "label": next(iter(counts))})
    for label, count in counts.items():
        if count < 2:
            message = gettext(
                "%(name)s: column %(column)s: class %(label)r has only %(count)s row; "
                "each class needs at least 2 for cross-validation"
            )
            raise TrainingDataError(message % {"name": data.name, "column": target, "label": label, "count": count})
