"""What predictor.history._sql buys against Django's ORM, both measured in one run.

- One form answer: ``writer.record_prediction`` (one INSERT ... ON CONFLICT) against
  ``Prediction.objects.create()`` inside ``transaction.atomic()`` (a savepoint-free way to recover
  from a duplicate submission key with the ORM), per row.
- A batch: ``writer.record_predictions`` against ``bulk_create`` of model instances.

Both store the same rows into a throw-away SQLite file, taking turns (single rows in alternating
blocks, batches in alternating rounds), so a machine that slows down weighs on both alike.
Usage: .venv/bin/python bench/fast_inserts_gain.py [BATCH_ROWS] [--rounds 2]   (default 100,000)
"""

import argparse
import os
import secrets
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
from bench.server import throwaway_site_settings  # noqa: E402

WORKDIR = Path(tempfile.mkdtemp(prefix="bench-inserts-"))
os.environ.update(throwaway_site_settings(WORKDIR), DJANGO_SETTINGS_MODULE="mlsite.settings")
os.environ.pop("DATABASE_URL", None)

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from predictor.history import writer  # noqa: E402
from predictor.models import Prediction  # noqa: E402
from predictor.registry import training  # noqa: E402
from predictor.schema.features import FEATURES  # noqa: E402
from predictor.serving import model_service, results  # noqa: E402


def with_bulk_create(result: results.BatchResult, features: np.ndarray) -> None:
    """The ORM's way: one model instance per row, then bulk_create in chunks of 10,000."""
    now, batch_id, classes = timezone.now(), uuid.uuid4(), result.model.classes
    rows = [
        Prediction(
            model_id=result.model.record.model_id,
            inputs={feature.name: float(value) for feature, value in zip(FEATURES, values, strict=True)},
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


def per_row_microseconds(stores: dict, blocks: int = 10, rows: int = 500) -> dict[str, float]:
    """Each way of storing in turn, one block of ``rows`` rows each, ABBA; each one's median block, in µs per row."""
    for store in stores.values():
        for _ in range(200):  # warm up
            store()
    timings: dict[str, list[float]] = {name: [] for name in stores}
    for block in range(blocks):
        for name in list(stores) if block % 2 == 0 else list(reversed(stores)):
            started = time.perf_counter()
            for _ in range(rows):
                stores[name]()
            timings[name].append((time.perf_counter() - started) / rows * 1e6)
    return {name: statistics.median(values) for name, values in timings.items()}


def single_rows() -> None:
    measurements = {feature.name: 40.0 for feature in FEATURES}
    result = model_service.predict(measurements)

    def with_orm() -> None:
        with transaction.atomic():
            Prediction.objects.create(
                **measurements,
                species=result.species,
                probability=result.probability,
                probabilities=result.probabilities,
                model_version=result.model.record,
                submission_key=secrets.token_urlsafe(16),
            )

    def with_fast_insert() -> None:
        writer.record_prediction(result=result, submission_key=secrets.token_urlsafe(16))

    fast, orm = per_row_microseconds({"fast": with_fast_insert, "orm": with_orm}).values()
    print(
        f"one form answer: fast_inserts {fast:.0f} µs, ORM create() in atomic() {orm:.0f} µs "
        f"({orm - fast:.0f} µs saved)"
    )


def main(rows: int, rounds: int) -> None:
    call_command("migrate", verbosity=0)
    training.train()
    single_rows()
    rng = np.random.default_rng(0)
    features = np.column_stack([rng.uniform(5, 120, rows).round(1), rng.uniform(1, 90, rows).round(2)])
    result = model_service.predict_many(features)
    stores = {
        "fast_inserts (writer.record_predictions)": lambda: writer.record_predictions(
            result=result, source=Prediction.Source.BATCH
        ),
        "Django bulk_create": lambda: with_bulk_create(result, features),
    }
    timings: dict[str, list[float]] = {name: [] for name in stores}
    for round_number in range(rounds):  # ABBA: a machine that slows down weighs on both alike
        for name in list(stores) if round_number % 2 == 0 else list(reversed(stores)):
            started = time.perf_counter()
            stores[name]()
            timings[name].append(time.perf_counter() - started)
            print(f"round {round_number + 1}, {name}: {rows:,} rows stored in {timings[name][-1]:.2f} s", flush=True)
    fast, slow = (statistics.median(values) for values in timings.values())
    print(f"medians: fast_inserts {fast:.2f} s, bulk_create {slow:.2f} s")
    print(f"fast_inserts takes {fast / slow:.0%} of bulk_create's time ({slow / fast:.1f}x as fast)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rows", nargs="?", type=int, default=100_000, help="rows of the batch")
    parser.add_argument("--rounds", type=int, default=2, help="batches stored each way, in alternating order")
    arguments = parser.parse_args()
    try:
        main(arguments.rows, arguments.rounds)
    finally:
        shutil.rmtree(WORKDIR, ignore_errors=True)
