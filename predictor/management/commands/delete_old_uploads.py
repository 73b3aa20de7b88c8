from django.conf import settings
from django.utils.translation import gettext

from predictor.history import batch
from predictor.management.language import TranslatedCommand


class Command(TranslatedCommand):
    help = (
        "Delete kept batch uploads older than BATCH_UPLOAD_RETENTION_DAYS (their results downloads go; "
        "the stored predictions stay). Run it daily, for example from cron."
    )

    def handle(self, *args, **options):
        deleted = batch.delete_old_uploads()
        days = settings.BATCH_UPLOAD_RETENTION_DAYS
        message = gettext("Deleted %(count)s upload(s) older than %(days)s days.")
        self.stdout.write(self.style.SUCCESS(message % {"count": deleted, "days": days}))
