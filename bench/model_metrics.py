"""How long the live-accuracy and drift queries take at a million predictions.

Run: .venv/bin/python bench/model_metrics.py [--rows 1000000]
Builds a throw-away SQLite file (never db.sqlite3) with one trained version and N predictions, a
tenth of them labelled, then times `version_metrics()` (the model page) and `with_live_counts()`
(the versions list) as the median of five runs. Inserting the rows takes a minute or so.
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.server import throwaway_site_settings  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    rows = parser.parse_args().rows

    workdir = Path(tempfile.mkdtemp(prefix="bench-metrics-"))
    os.environ.update(throwaway_site_settings(workdir), DATABASE_URL="", DJANGO_SETTINGS_MODULE="mlsite.settings")
    import django

    django.setup()
    import numpy as np
    from django.core.management import call_command
    from django.db import connection, transaction

    from predictor.history import selectors
    from predictor.models import ModelVersion
    from predictor.registry import training
    from predictor.registry.model_metrics import version_metrics

    call_command("migrate", verbosity=0)
    version = training.train().version

    started = time.perf_counter()
    rng = np.random.default_rng(0)
    heights = rng.uniform(20, 120, rows)
    weights = rng.uniform(2, 80, rows)
    predicted = np.where(heights > 80, "Dog", "Cat")
    actual = np.where(rng.random(rows) < 0.1, np.where(rng.random(rows) < 0.8, predicted, "Cat"), None)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO predictor_prediction (created_at, model_id, inputs, species, probability, "
            "probabilities, model_version_id, source, actual_species) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                (
                    "2026-01-01 00:00:00",
                    version.model_id,
                    json.dumps({"height": float(h), "weight": float(w)}),
                    str(p),
                    0.9,
                    "{}",
                    version.pk,
                    "form",
                    a,
                )
                for h, w, p, a in zip(heights, weights, predicted, actual, strict=True)
            ),
        )
    sys.stdout.write(f"inserted {rows:,} predictions in {time.perf_counter() - started:.0f} s (setup, not measured)\n")

    def median_seconds(work) -> float:
        timings = []
        for _ in range(5):
            started = time.perf_counter()
            work()
            timings.append(time.perf_counter() - started)
        return statistics.median(timings)

    metrics = version_metrics(version)
    sys.stdout.write(
        f"predictions {metrics.predictions:,}, labelled {metrics.labelled:,}, "
        f"live accuracy {metrics.accuracy_percent}\n"
    )
    page = median_seconds(lambda: version_metrics(version))
    listing = median_seconds(lambda: list(selectors.with_live_counts(ModelVersion.objects.all())))
    sys.stdout.write(f"version_metrics (model page, 3 queries): {page * 1000:.0f} ms median of 5\n")
    sys.stdout.write(f"with_live_counts (versions list, 1 query): {listing * 1000:.0f} ms median of 5\n")


if __name__ == "__main__":
    main()
