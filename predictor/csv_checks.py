"""The checks every CSV the site reads shares (training data and batch uploads): one rule each.

Files are read as strings first, so that a bad cell can be reported as written, and with blank
lines kept, so that the frame's index stays in step with the file's line numbers.
"""

import numpy as np
import pandas as pd

from .features import Feature

READ_OPTIONS = {"dtype": str, "keep_default_na": False, "skip_blank_lines": False, "encoding": "utf-8-sig"}


class CellError(ValueError):
    """One bad cell: where it is and why."""

    def __init__(self, *, line: int, column: str, reason: str) -> None:
        super().__init__(f"line {line}, column {column}: {reason}")
        self.line, self.column, self.reason = line, column, reason


def line_number(index: int) -> int:
    return int(index) + 2  # line 1 is the header


def check_index(frame: pd.DataFrame) -> None:
    """pandas turns extra leading values into an index when line 2 is longer than the header."""
    if not isinstance(frame.index, pd.RangeIndex):
        raise CellError(line=2, column="(all)", reason="more values than the header has column names")


def measurements(raw: pd.Series, feature: Feature) -> np.ndarray:
    """The column as floats, or CellError for its first empty, non-numeric or out-of-bounds cell."""
    values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)  # spaces around numbers are fine
    bad = np.flatnonzero(~np.isfinite(values) | (values <= 0) | (values > feature.max_value))
    if len(bad):
        position = bad[0]
        cell = raw.iloc[position].strip()
        if cell == "":
            reason = "empty value"
        elif np.isnan(values[position]) and cell.lower() not in {"nan", "+nan", "-nan"}:
            reason = f"{cell[:40]!r} is not a number"
        else:
            reason = f"{cell[:40]!r} is not allowed: {feature.bounds_error(values[position])}"
        raise CellError(line=line_number(raw.index[position]), column=feature.column, reason=reason)
    return values
