"""Cost of scoring one form submission: scikit-learn's predict_proba against the service's fast path.

python bench/single_prediction.py
"""

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
    rounds = 5000
    slow_us = timeit.timeit(lambda: pipeline.predict_proba(np.array([row])), number=rounds) / rounds * 1e6
    fast_us = timeit.timeit(lambda: fast(row), number=rounds) / rounds * 1e6
    print(f"predict_proba on the Pipeline: {slow_us:.0f} µs per row; service fast path: {fast_us:.1f} µs per row")
    return 0


if __name__ == "__main__":
    sys.exit(main())
