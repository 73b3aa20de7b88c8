import time
import uuid
from datetime import UTC

import numpy as np
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.utils import timezone

from predictor.history import writer
from predictor.models import Prediction
from predictor.registry import training_data
from predictor.schema.features import FEATURES
from predictor.serving import model_service

BATCH_ROWS = 10_000


class Command(BaseCommand):
    help = "Fill the prediction history with synthetic predictions of the active model (benchmarks, demos)."

    def add_arguments(self, parser):
        parser.add_argument("--count", type=int, required=True, help="How many predictions to add.")
        parser.add_argument("--days", type=int, default=30, help="Spread them over this many past days.")
        parser.add_argument("--seed", type=int, default=0, help="Random seed, for repeatable data.")

    def handle(self, *args, count: int, days: int, seed: int, **options):
        if count < 1 or days < 1:
            raise CommandError("--count and --days must be at least 1.")
        started = time.monotonic()
        try:
            with transaction.atomic():
                populate(count=count, days=days, seed=seed)
        except model_service.ModelNotReady as error:
            raise CommandError(str(error)) from None
        elapsed = time.monotonic() - started
        self.stdout.write(
            self.style.SUCCESS(f"Added {count:,} predictions in {_duration(elapsed)} ({count / elapsed:,.0f} rows/s).")
        )


def populate(*, count: int, days: int, seed: int) -> None:
    """Add ``count`` answers of the active model to made-up animals drawn around the shipped data set.

    Each species' animals are drawn around that species' mean and spread in the shipped CSV, so any
    feature list works. Rows share one batch id (a demo fill can be told apart from real traffic)
    and arrive oldest first, as real traffic does: ids grow with time, and each batch appends to
    the time-ordered indexes instead of touching every page of them.
    """
    shipped = training_data.load_training_data(training_data.DEFAULT_TRAINING_DATA)
    species = sorted(shipped.class_counts)
    means = np.array([shipped.features[shipped.labels == name].mean(axis=0) for name in species])
    spreads = np.array([shipped.features[shipped.labels == name].std(axis=0) for name in species]) + 1.0
    highest = np.array([feature.max_value for feature in FEATURES])

    rng = np.random.default_rng(seed)
    now = np.datetime64(timezone.now().astimezone(UTC).replace(tzinfo=None), "us")
    ages = np.sort(rng.uniform(0, days * 86_400, count))[::-1]  # seconds before now, oldest first
    batch_id = uuid.uuid4()
    if connection.vendor == "sqlite":
        # A million rows touch every index page; a 1 GiB page cache for this connection keeps
        # them in memory instead of re-reading them for each batch (about twice as fast).
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA cache_size=-1048576")
    for start in range(0, count, BATCH_ROWS):
        size = min(BATCH_ROWS, count - start)
        drawn = rng.integers(len(species), size=size)
        features = rng.normal(means[drawn], spreads[drawn]).clip(0.1, highest).round(1)
        writer.record_predictions(
            result=model_service.predict_many(features),
            source=Prediction.Source.FORM,
            batch_id=batch_id,
            created_at=now - (ages[start : start + size] * 1e6).astype("timedelta64[us]"),
        )


def _duration(seconds: float) -> str:
    """A duration as a person reads it: "0.04 s" for a short one, never "0.0 s"; "12.3 s" otherwise."""
    return f"{seconds:.2g} s" if seconds < 1 else f"{seconds:.1f} s"
