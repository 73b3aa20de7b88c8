"""The training picture: training points coloured by species over the model's decision regions.

One panel per pair of measurements (one panel for two), each drawn as the history's scatter is:
the later measurement across, the earlier one up. Measurements not on a panel's axes are held at
their training mean while its regions are drawn. Drawn once per training run with matplotlib's
object API (a Figure rendered by the Agg canvas, no pyplot and no global backend), so nothing
here runs per request.
"""

import io
import itertools
import math
from typing import Any

import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure

from .features import FEATURES

GRID_STEPS = 200
MAX_POINTS = 3_000  # beyond this the scatter is a blot; a fixed sample keeps the picture readable
POINT_COLOURS = ["#c0392b", "#2357c6", "#2e8b57", "#8e44ad", "#d68910"]
REGION_COLOURS = ["#f5c6c1", "#c7d6f5", "#c8e8d4", "#e3cdee", "#f8e1b8"]


def render_png(estimator: Any, features: np.ndarray, labels: np.ndarray, *, title: str) -> bytes:
    """A PNG of ``estimator``'s decision regions for each pair of features, with the training points."""
    classes = [str(label) for label in estimator.classes_]
    pairs = list(itertools.combinations(range(len(FEATURES)), 2))
    columns = min(len(pairs), 2)
    rows = math.ceil(len(pairs) / columns)
    figure = Figure(figsize=(7 * columns, 5 * rows), dpi=100, layout="constrained")
    shown = _sample(len(labels))
    for position, (up, across) in enumerate(pairs, start=1):
        axes = figure.add_subplot(rows, columns, position)
        _draw_panel(axes, estimator, features, labels, classes, shown, across=across, up=up)
    figure.suptitle(title)
    sampled = f", {len(shown):,} shown" if len(shown) < len(labels) else ""
    figure.axes[0].legend(loc="best", title=f"Training rows{sampled} (shaded: predicted species)")

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _draw_panel(axes, estimator, features, labels, classes, shown, *, across: int, up: int) -> None:
    x_min, x_max = _padded_range(features[:, across])
    y_min, y_max = _padded_range(features[:, up])
    grid_x, grid_y = np.meshgrid(np.linspace(x_min, x_max, GRID_STEPS), np.linspace(y_min, y_max, GRID_STEPS))
    grid = np.tile(features.mean(axis=0), (grid_x.size, 1))
    grid[:, across], grid[:, up] = grid_x.ravel(), grid_y.ravel()
    class_index = {label: index for index, label in enumerate(classes)}
    regions = np.array([class_index[str(label)] for label in estimator.predict(grid)]).reshape(grid_x.shape)
    region_colours = ListedColormap([REGION_COLOURS[i % len(REGION_COLOURS)] for i in range(len(classes))])
    axes.contourf(grid_x, grid_y, regions, levels=np.arange(len(classes) + 1) - 0.5, cmap=region_colours)
    for index, label in enumerate(classes):
        points = features[shown][labels[shown] == label]
        axes.scatter(
            points[:, across],
            points[:, up],
            s=28,
            color=POINT_COLOURS[index % len(POINT_COLOURS)],
            edgecolors="white",
            linewidths=0.6,
            label=f"{label} ({int(np.sum(labels == label)):,} rows)",
        )
    axes.set_xlabel(FEATURES[across].label_with_unit)
    axes.set_ylabel(FEATURES[up].label_with_unit)


def _padded_range(values: np.ndarray) -> tuple[float, float]:
    low, high = float(values.min()), float(values.max())
    pad = max((high - low) * 0.1, 1.0)
    return max(low - pad, 0.0), high + pad


def _sample(rows: int) -> np.ndarray:
    if rows <= MAX_POINTS:
        return np.arange(rows)
    return np.sort(np.random.default_rng(0).choice(rows, size=MAX_POINTS, replace=False))
