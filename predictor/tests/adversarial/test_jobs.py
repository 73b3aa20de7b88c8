"""Real workers on a throw-away site: a worker killed mid-job (kill -9), and jobs run exactly once.

Slow: each starts `manage.py run_worker` processes against a migrated, trained copy of the site.
"""

import os
import re
import signal
import subprocess
import sys
import time

import pytest

from predictor.tests.live_server import PROJECT_DIR, running_server

pytestmark = pytest.mark.slow

WORKER_ENV = {"DJANGO_TASKS_BACKEND": "database", "JOB_LEASE_SECONDS": "2", "JOB_BATCH_CHUNK_ROWS": "2000"}

ENQUEUE = """
import io, sys
from predictor.history import batch
rows = int(sys.argv[1]); jobs = int(sys.argv[2])
content = ("Height,Weight\\n" + "77,36\\n90,48\\n" * (rows // 2)).encode()
for _ in range(jobs):
    job = batch.start_job(io.BytesIO(content), user=None)
    print(job.pk, job.status, job.error, file=sys.stderr)
    print(job.pk)
"""


def enqueue(server, *, rows: int, jobs: int = 1) -> list[str]:
    done = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", f"import sys; sys.argv = ['', '{rows}', '{jobs}']\n{ENQUEUE}"],
        cwd=PROJECT_DIR,
        env=server.env,
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return re.findall(r"^[0-9a-f-]{36}$", done.stdout, flags=re.MULTILINE)


def start_worker(server) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "manage.py", "run_worker", "-v0"], cwd=PROJECT_DIR, env=server.env, start_new_session=True
    )


def stop(worker: subprocess.Popen) -> None:
    if worker.poll() is None:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=30)


def job_row(server, job_id: str) -> tuple:
    hex_id = job_id.replace("-", "")
    [row] = server.query(
        "SELECT status, attempts, progress_done, progress_total, outcome FROM predictor_job "
        f"WHERE replace(CAST(id AS TEXT), '-', '') = '{hex_id}'"  # a uuid on PostgreSQL, hex text on SQLite
    )
    return row


def wait_for(condition, *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_a_worker_killed_mid_batch_leaves_nothing_visible_and_the_job_is_finished_once():
    with running_server(workers=1, extra_env=WORKER_ENV) as server:
        [job_id] = enqueue(server, rows=200_000)
        first = start_worker(server)
        try:
            wait_for(lambda: 0 < job_row(server, job_id)[2] < 150_000, timeout=60, what="the job to be half way")
        finally:
            os.killpg(first.pid, signal.SIGKILL)  # kill -9: no clean-up of any kind
            first.wait()
        # Stored chunks exist, but their batch is still pending: out of every read.
        assert server.query("SELECT count(*) FROM predictor_pendingbatch") == [(1,)]
        stored_before = server.query("SELECT count(*) FROM predictor_prediction")[0][0]
        assert stored_before > 0
        second = start_worker(server)
        try:
            wait_for(lambda: job_row(server, job_id)[0] == "succeeded", timeout=90, what="the retried job")
        finally:
            stop(second)
        status, attempts, done, total, _outcome = job_row(server, job_id)
        assert (attempts, done, total) == (2, 200_000, 200_000)
        assert server.query("SELECT count(*) FROM predictor_prediction") == [(200_000,)]  # nothing twice
        assert server.query("SELECT count(*) FROM predictor_pendingbatch") == [(0,)]


def test_ten_jobs_enqueued_at_once_each_run_exactly_once_by_two_workers():
    with running_server(workers=1, extra_env=WORKER_ENV) as server:
        job_ids = enqueue(server, rows=1_000, jobs=10)
        workers = [start_worker(server), start_worker(server)]
        try:
            wait_for(
                lambda: all(job_row(server, job_id)[0] == "succeeded" for job_id in job_ids),
                timeout=90,
                what="ten jobs",
            )
        finally:
            for worker in workers:
                stop(worker)
        assert [job_row(server, job_id)[1] for job_id in job_ids] == [1] * 10
        assert server.query("SELECT count(*) FROM predictor_prediction") == [(10_000,)]


def test_the_rq_backend_runs_a_batch_job_on_redis():
    # A Redis database of its own, so other runs' queues cannot take (or give) this run's jobs.
    env = {**WORKER_ENV, "DJANGO_TASKS_BACKEND": "rq", "REDIS_URL": "redis://127.0.0.1:6379/13"}
    with running_server(workers=1, extra_env=env) as server:
        [job_id] = enqueue(server, rows=10_000)
        worker = start_worker(server)
        try:
            wait_for(lambda: job_row(server, job_id)[0] == "succeeded", timeout=60, what="the job on RQ")
        finally:
            stop(worker)
        assert job_row(server, job_id)[1:4] == (1, 10_000, 10_000)
        assert server.query("SELECT count(*) FROM predictor_prediction") == [(10_000,)]
