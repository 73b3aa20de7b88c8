"""What predictor.bulk_insert buys: storing a batch through it against Django's bulk_create, one run.

Both store the same rows (the same measurements, answers and probabilities) into a throw-away
SQLite file, one after the other.
Usage: .venv/bin/python bench/bulk_insert_gain.py [ROWS]   (default 100,000)
"""

import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

BASE_DIR = Path(__file__).resolve().parent.parent
WORKDIR = Path(tempfile.mkdtemp(prefix="bench-bulk-"))
os.environ.update(
    DJANGO_SETTINGS_MODULE="mlsite.settings",
    DJANGO_DEBUG="1",
    DJANGO_SQLITE_PATH=str(WORKDIR / "bench.sqlite3"),
    ML_ARTIFACTS_DIR=str(WORKDIR / "ml_artifacts"),
    DJANGO_LOG_LEVEL="WARNING",
)
sys.path.insert(0, str(BASE_DIR))

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from predictor import history, model_service, training  # noqa: E402
from predictor.features import FEATURE_FIELDS  # noqa: E402
from predictor.models import Prediction  # noqa: E402


def with_bulk_create(result: model_service.BatchResult, features: np.ndarray) -> None:
    """The ORM's way: one model instance per row, then bulk_create in chunks of 10,000."""
    now, batch_id, classes = timezone.now(), uuid.uuid4(), result.model.classes
    rows = [
        Prediction(
            **dict(zip(FEATURE_FIELDS, values, strict=True)),
            species=species,
            probability=probability,
            probabilities=dict(zip(classes, probabilities, strict=True)),
            model_version=result.model.record,
            source=Prediction.Source.BATCH,
            batch_id=batch_id,
            created_at=now,
        )
        for values, species, probability, probabilities in zip(
            features.tolist(),
            result.species.tolist(),
            result.probability.tolist(),
            result.probabilities.tolist(),
            strict=True,
        )
    ]
    with transaction.atomic():
        Prediction.objects.bulk_create(rows, batch_size=10_000)


def main(rows: int) -> None:
    call_command("migrate", verbosity=0)
    training.train()
    rng = np.random.default_rng(0)
    features = np.column_stack([rng.uniform(5, 120, rows).round(1), rng.uniform(1, 90, rows).round(2)])
    result = model_service.predict_many(features)
    timings = {}
    for name, store in {
        "bulk_insert (history.record_predictions)": lambda: history.record_predictions(
            result=result, features=features, source=Prediction.Source.BATCH
        ),
        "Django bulk_create": lambda: with_bulk_create(result, features),
    }.items():
        started = time.perf_counter()
        store()
        timings[name] = time.perf_counter() - started
        print(f"{name}: {rows:,} rows stored in {timings[name]:.2f} s")
    fast, slow = timings.values()
    print(f"bulk_insert takes {fast / slow:.0%} of bulk_create's time ({slow / fast:.1f}x as fast)")
    assert Prediction.objects.count() == 2 * rows


if __name__ == "__main__":
    try:
        main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
    finally:
        shutil.rmtree(WORKDIR, ignore_errors=True)
