from django.core.management.base import BaseCommand

from predictor.ops import idempotency


class Command(BaseCommand):
    help = "Delete the stored Idempotency-Key answers past IDEMPOTENCY_KEY_HOURS (each keyed API write also does)."

    def handle(self, *args, **options):
        deleted = idempotency.clear_expired()
        self.stdout.write(self.style.SUCCESS(f"Deleted {deleted} expired idempotency keys."))
