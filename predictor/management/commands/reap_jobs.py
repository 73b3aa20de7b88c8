from django.core.management.base import BaseCommand

from predictor import jobs


class Command(BaseCommand):
    help = "Queue again (or fail) the running jobs whose worker stopped renewing their lease. Workers do this too."

    def handle(self, *args, **options):
        reaped = jobs.reap_expired()
        self.stdout.write(f"{reaped} job(s) whose worker stopped were queued again or failed.")
