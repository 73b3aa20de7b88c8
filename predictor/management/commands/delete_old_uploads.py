from django.conf import settings
from django.core.management.base import BaseCommand

from predictor.history import batch


class Command(BaseCommand):
    help = (
        "Delete kept batch uploads older than BATCH_UPLOAD_RETENTION_DAYS (their results downloads go; "
        "the stored predictions stay). Run it daily, for example from cron."
    )

    def handle(self, *args, **options):
        deleted = batch.delete_old_uploads()
        days = settings.BATCH_UPLOAD_RETENTION_DAYS
        self.stdout.write(self.style.SUCCESS(f"Deleted {deleted} upload(s) older than {days} days."))
