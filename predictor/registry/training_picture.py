"""The training picture: training points coloured by species over the model's decision regions.

One panel per pair of measurements (one panel for two), each drawn as the history's scatter is:
the later measurement across, the earlier one up. Measurements not on a panel's axes are held at
their training mean while its regions are drawn. Species take the site's chart colours, in the
same order (static/predictor/site.css, --series-1 to --series-4), and each picture is drawn for
the light and the dark colour scheme. Drawn once per training run with matplotlib's object API (a
Figure rendered by the Agg canvas, no pyplot and no global backend), so nothing here runs per
request. The margins are fixed (MARGINS_INCHES) rather than found by matplotlib's constrained
layout, which measured every label of a figure twice and took a third of each picture's time; the
labels and tick values these panels carry are short and known, so fixed margins hold them.

The picture carries no words to translate, since it is drawn once, at training time, for readers
of either language (and Chinese would need a CJK font wherever training runs): its title is the
version and the algorithm, its axes the units (the CSV's column where an input has none), its
legend the species (data) with their row counts. The page around it says in the reader's language
what the axes, points and shading are (templates/predictor/_training_picture.html).
"""

import io
import itertools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib import rc_context
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure

from predictor.schema.inputs import Input

GRID_STEPS = 200
MAX_POINTS = 3_000  # beyond this the scatter is a blot; a fixed sample keeps the picture readable
SCHEMES = {
    # The site's --series-1..4, --surface, --fg and --border in each colour scheme.
    "light": {
        "series": ["#2451c4", "#c2410c", "#0f766e", "#7c3aed"],
        "bg": "#ffffff",
        "fg": "#14181f",
        "grid": "#d5dae2",
    },
    "dark": {
        "series": ["#8fb0ff", "#ffa26b", "#5eead4", "#c4a7ff"],
        "bg": "#161b24",
        "fg": "#e7eaf0",
        "grid": "#2d3542",
    },
}
MARKERS = ["o", "^", "s", "X"]  # the shapes of the site's charts: colour is never the only signal
REGION_ALPHA = 0.22  # the shaded regions: the species' colour, faint enough for the points to stand out
PANEL_INCHES = (6.0, 5.6)  # nearly square panels with large type: the page shows the picture at a phone's width too
# Room for the tick values and axis labels left of and below each panel, and for the one-line title.
MARGINS_INCHES = {"left": 0.95, "right": 0.25, "bottom": 0.75, "top": 0.6, "between_columns": 1.1, "between_rows": 0.9}


def render_png(
    estimator: Any,
    features: np.ndarray,
    labels: np.ndarray,
    *,
    inputs: Sequence[Input],
    title: str,
    scheme: str = "light",
) -> bytes:
    """A PNG of ``estimator``'s decision regions for each pair of number ``inputs``, with the training points.

    ``features`` holds every input in ``inputs`` order, all numbers (a model with a category input
    has no picture: see predictor.registry.training).
    """
    colours = SCHEMES[scheme]
    classes = [str(label) for label in estimator.classes_]
    pairs = list(itertools.combinations(range(len(inputs)), 2))
    columns = min(len(pairs), 2)
    rows = math.ceil(len(pairs) / columns)
    figure = Figure(figsize=(PANEL_INCHES[0] * columns, PANEL_INCHES[1] * rows), dpi=100, facecolor=colours["bg"])
    _set_margins(figure, columns=columns, rows=rows)
    shown = _sample(len(labels))
    with rc_context(
        {
            "font.size": 13,
            "text.color": colours["fg"],
            "axes.labelcolor": colours["fg"],
            "xtick.color": colours["fg"],
            "ytick.color": colours["fg"],
            "axes.edgecolor": colours["grid"],
        }
    ):
        for position, (up, across) in enumerate(pairs, start=1):
            axes = figure.add_subplot(rows, columns, position, facecolor=colours["bg"])
            _draw_panel(axes, estimator, features, labels, classes, shown, colours, across=across, up=up)
            axes.set_xlabel(_axis_name(inputs[across]))
            axes.set_ylabel(_axis_name(inputs[up]))
        figure.suptitle(title, color=colours["fg"], y=1 - 0.1 / figure.get_figheight(), va="top")
        sampled = f"{len(shown):,} / {len(labels):,}" if len(shown) < len(labels) else None
        legend = figure.axes[0].legend(loc="best", title=sampled, facecolor=colours["bg"])
        legend.get_frame().set_edgecolor(colours["grid"])

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _set_margins(figure: Figure, *, columns: int, rows: int) -> None:
    width, height = figure.get_size_inches()
    margins = MARGINS_INCHES
    panel_width = (width - margins["left"] - margins["right"] - margins["between_columns"] * (columns - 1)) / columns
    panel_height = (height - margins["top"] - margins["bottom"] - margins["between_rows"] * (rows - 1)) / rows
    figure.subplots_adjust(
        left=margins["left"] / width,
        right=1 - margins["right"] / width,
        bottom=margins["bottom"] / height,
        top=1 - margins["top"] / height,
        wspace=margins["between_columns"] / panel_width,  # matplotlib counts the gaps in panel sizes
        hspace=margins["between_rows"] / panel_height,
    )


def _draw_panel(axes, estimator, features, labels, classes, shown, colours, *, across: int, up: int) -> None:
    x_min, x_max = _padded_range(features[:, across])
    y_min, y_max = _padded_range(features[:, up])
    grid_x, grid_y = np.meshgrid(np.linspace(x_min, x_max, GRID_STEPS), np.linspace(y_min, y_max, GRID_STEPS))
    grid = np.tile(features.mean(axis=0), (grid_x.size, 1))
    grid[:, across], grid[:, up] = grid_x.ravel(), grid_y.ravel()
    class_index = {label: index for index, label in enumerate(classes)}
    regions = np.array([class_index[str(label)] for label in estimator.predict(grid)]).reshape(grid_x.shape)
    series = [colours["series"][index % len(colours["series"])] for index in range(len(classes))]
    axes.contourf(
        grid_x,
        grid_y,
        regions,
        levels=np.arange(len(classes) + 1) - 0.5,
        cmap=ListedColormap(series),
        alpha=REGION_ALPHA,
    )
    for index, label in enumerate(classes):
        points = features[shown][labels[shown] == label]
        axes.scatter(
            points[:, across],
            points[:, up],
            s=64,
            color=series[index],
            marker=MARKERS[index % len(MARKERS)],
            edgecolors=colours["bg"],
            linewidths=0.6,
            label=f"{label} ({int(np.sum(labels == label)):,})",
        )


def _axis_name(item: Input) -> str:
    """An axis is named by its unit, the same in every language (the picture has no words); else the CSV's column."""
    return item.unit or item.column


def _padded_range(values: np.ndarray) -> tuple[float, float]:
    low, high = float(values.min()), float(values.max())
    pad = max((high - low) * 0.1, 1.0)
    return max(low - pad, 0.0), high + pad


def _sample(rows: int) -> np.ndarray:
    if rows <= MAX_POINTS:
        return np.arange(rows)
    return np.sort(np.random.default_rng(0).choice(rows, size=MAX_POINTS, replace=False))
