import time

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from predictor.history import populate_synthetic_history
from predictor.model_service import ModelNotReady


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
                populate_synthetic_history(count=count, days=days, seed=seed)
        except ModelNotReady as error:
            raise CommandError(str(error)) from None
        elapsed = time.monotonic() - started
        self.stdout.write(
            self.style.SUCCESS(f"Added {count:,} predictions in {elapsed:.1f} s ({count / elapsed:,.0f} rows/s).")
        )
