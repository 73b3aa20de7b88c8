"""The one way a measurement written as text becomes a number: the form, batch uploads and training CSVs.

Text is NFKC-normalised first, so the full-width digits Chinese input methods type (``４０``,
``４２．５``) read as the ASCII ones they stand for; then only plain ASCII decimal notation is
accepted (``42``, ``42.5``, ``.5``, ``4.25e1``). Python's ``float()`` alone would also take other
scripts' digits (``٤٠``, ``४०``), ``1_0``, ``inf`` and ``nan``: a CSV checked by pandas refused
those while the form accepted them, so the same text meant a number in one place and not in
another. ``parse`` checks one cell; ``parse_column`` the same rule for a whole pandas column,
vectorised: only cells that are not already plain ASCII pay for normalisation. (The JSON API
takes JSON numbers, which need no parsing; the bounds in features.Feature apply to all three.)
"""

import re
import unicodedata
from typing import TYPE_CHECKING

import numpy as np
from django.utils.translation import gettext

if TYPE_CHECKING:
    import pandas as pd

PLAIN_DECIMAL = r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
_PLAIN_DECIMAL = re.compile(PLAIN_DECIMAL)
SHOWN_CHARACTERS = 40  # how much of a bad value an error message repeats


class NotANumber(ValueError):
    """The text is not a number in plain decimal notation; ``code`` says how, ``str()`` says it in words."""

    def __init__(self, text: str) -> None:
        self.code = problem(text)
        super().__init__(reason(text))


def normalise(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip()


def _is_plain(text: str) -> bool:
    return bool(_PLAIN_DECIMAL.fullmatch(normalise(text))) and not _has_super_or_subscript(text)


def parse(text: str) -> float:
    """``text`` as a float, by the rule in the module docstring; NotANumber (translated) if it breaks it."""
    if _is_plain(text):
        return float(normalise(text))
    raise NotANumber(text)


def problem(text: str) -> str:
    """What is wrong with text that is not a plain decimal number: "empty", "foreign_digits" or "not_a_number"."""
    if normalise(text) == "":
        return "empty"
    if any(_is_foreign_digit(character) for character in text):
        return "foreign_digits"
    return "not_a_number"


def reason(text: str) -> str:
    """Why ``text`` is not a plain decimal number, for a person to correct it (a CSV cell, say)."""
    shown = text.strip()[:SHOWN_CHARACTERS]
    return {
        "empty": lambda: gettext("empty value"),
        "foreign_digits": lambda: gettext("%(cell)r uses digits other than 0–9") % {"cell": shown},
        "not_a_number": lambda: gettext("%(cell)r is not a number") % {"cell": shown},
    }[problem(text)]()


def parse_column(raw: "pd.Series") -> np.ndarray:
    """A column of strings as floats by the same rule, NaN where a cell is not a number."""
    import pandas as pd  # here, not at the top: only CSV reading needs it, and it slows every start

    # pandas' C parser reads ASCII notation fast and leaves NaN (or ±inf for "inf") elsewhere; it
    # accepts nothing finite that the rule refuses, so only the rest, rare in real files, is
    # normalised and matched one by one.
    values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float, copy=True)
    odd = np.flatnonzero(~np.isfinite(values))
    if len(odd):
        cells = raw.iloc[odd]
        normalised = cells.str.normalize("NFKC").str.strip()
        plain = normalised.str.fullmatch(PLAIN_DECIMAL).to_numpy(dtype=bool, copy=True)
        plain &= ~cells.map(_has_super_or_subscript).to_numpy(dtype=bool, copy=True)
        values[odd] = np.nan
        values[odd[plain]] = normalised.to_numpy()[plain].astype(float)
    return values


def _has_super_or_subscript(text: str) -> bool:
    # NFKC also turns superscripts into digits ("4²" into "42"): a misreading, not a spelling of 42.
    return any(unicodedata.decomposition(character).startswith(("<super>", "<sub>")) for character in text)


def _is_foreign_digit(character: str) -> bool:
    """A digit of another script (٤, ४) or a superscript: one that does not read as 0–9 here."""
    if not character.isdigit() or character.isascii():
        return False
    return not normalise(character).isascii() or _has_super_or_subscript(character)
