"""How values read in a sentence on every page: alternatives ("Cat or Dog") and probabilities (">99.9%")."""

from collections.abc import Sequence

from django.utils.translation import get_language, gettext


def one_of(names: Sequence[str]) -> str:
    """Species as alternatives, for page copy: "Cat or Dog", "Cat, Dog or Horse"."""
    *others, last = names
    if not others:
        return last
    return gettext("%(others)s or %(last)s") % {"others": gettext(", ").join(others), "last": last}


def probability_text(probability: float) -> str:
    """How every page shows a probability: one decimal, never rounded to certainty (">99.9%", "<0.1%")."""
    if probability >= 0.9995:
        return ">99.9%"
    if probability < 0.0005:
        return "<0.1%"
    return f"{probability:.1%}"


def sentence_gap() -> str:
    """What goes between two sentences put side by side: a space in English, nothing in Chinese (。 has its room)."""
    return "" if (get_language() or "").startswith("zh") else " "
