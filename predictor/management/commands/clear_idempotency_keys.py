from django.utils.translation import ngettext

from predictor.management.language import TranslatedCommand
from predictor.ops import idempotency


class Command(TranslatedCommand):
    help = "Delete the stored Idempotency-Key answers past IDEMPOTENCY_KEY_HOURS (each keyed API write also does)."

    def handle(self, *args, **options):
        deleted = idempotency.clear_expired()
        message = ngettext(
            "Deleted %(count)s expired idempotency key.", "Deleted %(count)s expired idempotency keys.", deleted
        )
        self.stdout.write(self.style.SUCCESS(message % {"count": deleted}))
