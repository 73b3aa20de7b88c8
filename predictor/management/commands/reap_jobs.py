from django.utils.translation import ngettext

from predictor import jobs
from predictor.management.language import TranslatedCommand


class Command(TranslatedCommand):
    help = "Queue again (or fail) the running jobs whose worker stopped renewing their lease. Workers do this too."

    def handle(self, *args, **options):
        reaped = jobs.reap_expired()
        message = ngettext(
            "%(count)s job whose worker stopped was queued again or failed.",
            "%(count)s jobs whose worker stopped were queued again or failed.",
            reaped,
        )
        self.stdout.write(message % {"count": reaped})
