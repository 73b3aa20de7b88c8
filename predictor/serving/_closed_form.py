"""Scoring one row of the default GaussianNB in closed form, on plain floats; private to predictor.serving.

What it buys: scikit-learn's input validation costs far more than the arithmetic for a single
row, and a form submission scores one row. ``bench/single_prediction.py`` times it against
``predict_proba`` in one run (docs/performance.md); ``test_model_service.py`` checks its answers
against ``predict_proba``. Any other estimator goes through ``predict_proba``.
"""

import math
from collections.abc import Callable
from typing import Any

import numpy as np


def single_row_probabilities(estimator: Any, *, dtype: type = float) -> Callable[[list[Any]], list[float]]:
    """How to score one row quickly.

    scikit-learn's input validation costs far more than the arithmetic for a single row, and a
    form submission scores one row. For the default GaussianNB we evaluate its closed form on
    plain floats (tests check it against predict_proba); anything else goes through
    predict_proba.
    """
    from sklearn.naive_bayes import GaussianNB  # loaded by then: unpickling the estimator imports it
    from sklearn.pipeline import Pipeline

    steps = [step for _, step in estimator.steps] if isinstance(estimator, Pipeline) else [estimator]
    if len(steps) != 1 or type(steps[0]) is not GaussianNB:
        return lambda row: estimator.predict_proba(np.array([row], dtype=dtype))[0].tolist()
    model = steps[0]
    means, variances = model.theta_.tolist(), model.var_.tolist()
    # log prior - 1/2 sum(log 2 pi var): the part of each class's log likelihood that is input-free
    offsets = (np.log(model.class_prior_) - 0.5 * np.log(2 * np.pi * model.var_).sum(axis=1)).tolist()

    def probabilities(row: list[float]) -> list[float]:
        log_likelihoods = [
            offset - 0.5 * sum((x - mean) ** 2 / var for x, mean, var in zip(row, class_means, class_vars, strict=True))
            for offset, class_means, class_vars in zip(offsets, means, variances, strict=True)
        ]
        top = max(log_likelihoods)
        weights = [math.exp(value - top) for value in log_likelihoods]
        total = sum(weights)
        return [weight / total for weight in weights]

    return probabilities
