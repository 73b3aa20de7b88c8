import os

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from predictor import jobs


class Command(BaseCommand):
    help = (
        "Run background jobs (batch uploads, retraining) until stopped, on the backend DJANGO_TASKS_BACKEND "
        "names; also queue again (or fail) the jobs of workers that died. Start as many as you like."
    )

    def handle(self, *args, **options):
        # Below the web processes: on a shared machine the pages keep answering while a job runs.
        os.nice(settings.JOB_WORKER_NICE)
        jobs.run_reaper_in_background()
        if settings.JOBS_BACKEND == "database":
            call_command(
                "db_worker",
                interval=settings.JOB_WORKER_POLL_MS / 1000,
                reload=False,
                startup_delay=False,
                verbosity=options["verbosity"],
            )
        elif settings.JOBS_BACKEND == "rq":
            # The backend's own job class runs a Task object where RQ's would call a function.
            call_command("rqworker", "default", job_class="django_tasks_rq.backend.Job", verbosity=options["verbosity"])
        else:
            raise CommandError(f"DJANGO_TASKS_BACKEND={settings.JOBS_BACKEND} runs jobs in the request: no worker.")
