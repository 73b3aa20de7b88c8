"""Cost of scoring one form submission: scikit-learn's predict_proba against the service's fast path.

The two take turns in blocks (ABBA); each figure is its median block.

python bench/single_prediction.py
"""

import statistics
import sys
import timeit
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.naive_bayes import GaussianNB
from sklearn.pipeline import Pipeline

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> int:
    import os

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mlsite.settings")
    os.environ.setdefault("DJANGO_DEBUG", "1")
    django.setup()
    from predictor.registry.training import DEFAULT_TRAINING_DATA
    from predictor.serving._closed_form import single_row_probabilities

    data = pd.read_csv(DEFAULT_TRAINING_DATA)
    pipeline = Pipeline([("classifier", GaussianNB())]).fit(
        data[["Height", "Weight"]].to_numpy(float), data["Species"].to_numpy()
    )
    fast = single_row_probabilities(pipeline)
    row = [90.0, 50.0]
    rounds = 1000
    ways = {"slow": lambda: pipeline.predict_proba(np.array([row])), "fast": lambda: fast(row)}
    timings: dict[str, list[float]] = {name: [] for name in ways}
    for block in range(10):  # the two in turn, ABBA: a machine that slows down weighs on both alike
        for name in list(ways) if block % 2 == 0 else list(reversed(ways)):
            timings[name].append(timeit.timeit(ways[name], number=rounds) / rounds * 1e6)
    slow_us, fast_us = (statistics.median(timings[name]) for name in ("slow", "fast"))
    print(f"predict_proba on the Pipeline: {slow_us:.0f} µs per row; service fast path: {fast_us:.1f} µs per row")
    return 0


if __name__ == "__main__":
    sys.exit(main())
