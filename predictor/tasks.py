"""The Tasks API's one task: an attempt at a job. Everything a job is and does lives in predictor.jobs."""

from django_tasks import task

from . import jobs


@task()
def run_job(job_id: str) -> str:
    return jobs.run(job_id)
