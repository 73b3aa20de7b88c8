"""Time a CSV batch upload as a background job, end to end: upload → queued → stored → summary page ready.

A throw-away copy of the site (gunicorn, as `make serve` runs it, through predictor/tests/live_server.py)
with one `manage.py run_worker` beside it, on a temporary SQLite file or on a throw-away PostgreSQL
database created beside DATABASE_URL's (the shared database's contents are never touched). A
staff member logs in over HTTP, uploads the file through the upload page, follows the job's
status as the job page's script does, and opens the summary: the clock runs from the upload's
first byte to the summary page's answer.

    .venv/bin/python bench/batch_job.py [--rows 100000 1000000] [--runs 2] [--database sqlite postgres]

The goals (issue 14): 100k rows < 3 s on SQLite, 1M rows < 40 s on SQLite and on PostgreSQL.
"""

import argparse
import http.cookiejar
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from predictor.tests.live_server import PROJECT_DIR, Server, running_server

POSTGRES_URL = os.environ.get("DATABASE_URL", "") or "postgres://postgres@127.0.0.1:5432/postgres"
GOALS = {("sqlite", 100_000): 3.0, ("sqlite", 1_000_000): 40.0, ("postgres", 1_000_000): 40.0}
STAFF_PASSWORD = "bench-" + uuid.uuid4().hex
TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
JOB_PAGE = re.compile(r"/jobs/([0-9a-f-]{36})/$")


def make_csv(rows: int) -> bytes:
    """Measurements spread over the plausible range, plus an id column carried through to the results."""
    rng = np.random.default_rng(rows)
    heights = rng.uniform(5, 120, rows).round(1).astype(str)
    weights = rng.uniform(1, 90, rows).round(2).astype(str)
    ids = np.char.add("a", np.arange(rows).astype(str))
    lines = np.char.add(np.char.add(np.char.add(np.char.add(ids, ","), heights), ","), weights)
    return ("id,Height,Weight\n" + "\n".join(lines.tolist()) + "\n").encode()


class StaffSession:
    """A logged-in staff member's browser: a cookie jar, the CSRF token, and the pages a batch upload needs."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies))

    def get(self, path: str) -> tuple[int, bytes, str]:
        with self.opener.open(self.base_url + path, timeout=120) as response:
            return response.status, response.read(), response.url

    def post(self, path: str, body: bytes, content_type: str) -> tuple[int, bytes, str]:
        request = urllib.request.Request(self.base_url + path, data=body, headers={"Content-Type": content_type})
        with self.opener.open(request, timeout=120) as response:
            return response.status, response.read(), response.url

    def token(self, path: str) -> str:
        return TOKEN.search(self.get(path)[1].decode()).group(1)

    def log_in(self, username: str, password: str) -> None:
        fields = {"csrfmiddlewaretoken": self.token("/accounts/login/"), "username": username, "password": password}
        body = urllib.parse.urlencode(fields).encode()
        _status, _body, url = self.post("/accounts/login/", body, "application/x-www-form-urlencoded")
        if "/accounts/login/" in url:
            raise RuntimeError("the staff log-in was refused")

    def upload(self, content: bytes, token: str) -> str:
        """POST the file through the upload page's form; returns the job's id (the page it is sent to)."""
        boundary = uuid.uuid4().hex
        disposition = f"--{boundary}\r\nContent-Disposition: form-data; name="
        body = b"".join(
            [
                f'{disposition}"csrfmiddlewaretoken"\r\n\r\n{token}\r\n'.encode(),
                f'{disposition}"file"; filename="bench.csv"\r\n'.encode(),
                b"Content-Type: text/csv\r\n\r\n",
                content,
                f"\r\n--{boundary}--\r\n".encode(),
            ]
        )
        _status, page, url = self.post("/predictions/upload/", body, f"multipart/form-data; boundary={boundary}")
        found = JOB_PAGE.search(url)
        if not found:
            raise RuntimeError(f"the upload did not lead to a job page ({url}): {page[:300]!r}")
        return found.group(1)

    def status(self, job_id: str) -> dict:
        return json.loads(self.get(f"/jobs/{job_id}/status.json")[1])


@dataclass(frozen=True)
class JobTiming:
    rows: int
    upload: float  # the upload request: the file sent, checked, kept, the job queued
    job: float  # from the upload's answer to the job's status saying it finished
    summary: float  # the summary page, once the job is finished
    status: str
    attempts: int
    worker_cpu: float  # CPU seconds the job worker used meanwhile: what a quiet machine would need

    @property
    def total(self) -> float:
        return self.upload + self.job + self.summary


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process, all its threads, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def time_batch_job(session: StaffSession, content: bytes, *, worker_pid: int, poll_seconds: float = 0.05) -> JobTiming:
    token = session.token("/predictions/upload/")
    cpu_before = cpu_seconds(worker_pid)
    started = time.perf_counter()
    job_id = session.upload(content, token)
    uploaded = time.perf_counter()
    while not (status := session.status(job_id))["finished"]:
        time.sleep(poll_seconds)
    finished = time.perf_counter()
    code, page, _url = session.get(status["page"])  # a finished batch job's page is its summary
    if status["status"] == "succeeded" and (code != 200 or b"rows predicted" not in page):
        raise RuntimeError(f"the summary page answered {code}")
    return JobTiming(
        rows=status["progress"]["total"],
        upload=uploaded - started,
        job=finished - uploaded,
        summary=time.perf_counter() - finished,
        status=status["status"],
        attempts=status["attempts"],
        worker_cpu=cpu_seconds(worker_pid) - cpu_before,
    )


@dataclass(frozen=True)
class Site:
    server: Server
    session: StaffSession  # a logged-in staff member
    worker: subprocess.Popen  # `manage.py run_worker`


@contextmanager
def site_with_worker(database: str, *, web_workers: int = 2, settings: dict[str, str] | None = None) -> Iterator[Site]:
    """A throw-away site (gunicorn), one job worker beside it, and a logged-in staff session.

    ``settings``: environment variables for both, such as JOB_BATCH_CHUNK_ROWS, to try other values.
    """
    with tempfile.TemporaryDirectory(prefix="bench-batch-job-") as uploads:
        extra_env = {"DJANGO_TASKS_BACKEND": "database", "BATCH_UPLOADS_DIR": uploads, **(settings or {})}
        database_url = POSTGRES_URL if database == "postgres" else ""
        with running_server(workers=web_workers, database_url=database_url, extra_env=extra_env) as server:
            server.env["DJANGO_SUPERUSER_PASSWORD"] = STAFF_PASSWORD
            server.manage("createsuperuser", "--noinput", "--username", "bench", "--email", "bench@example.com")
            worker = subprocess.Popen(
                [sys.executable, "manage.py", "run_worker", "-v0"],
                cwd=PROJECT_DIR,
                env=server.env,
                start_new_session=True,
            )
            try:
                session = StaffSession(server.base_url)
                session.log_in("bench", STAFF_PASSWORD)
                # On a running site the worker is up before anyone uploads: not timing its start-up,
                # wait for it to run a ten-row job first.
                time_batch_job(session, make_csv(10), worker_pid=worker.pid)
                yield Site(server=server, session=session, worker=worker)
            finally:
                worker.terminate()
                try:
                    worker.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    worker.kill()
                    worker.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--runs", type=int, default=2, help="runs of each size (the machine may be shared)")
    parser.add_argument("--database", nargs="+", choices=["sqlite", "postgres"], default=["sqlite", "postgres"])
    parser.add_argument("--set", nargs="*", default=[], metavar="NAME=VALUE", help="a site setting to try")
    args = parser.parse_args()
    settings = dict(setting.split("=", 1) for setting in args.set)
    files = {rows: make_csv(rows) for rows in args.rows}
    missed = 0
    say(f"nproc {os.cpu_count()}, load average {os.getloadavg()[0]:.1f} at start; settings {settings or 'default'}")
    for database in args.database:
        with site_with_worker(database, settings=settings) as site:
            say(
                f"{database}: {'rows':>9} {'MB':>5} {'total s':>8} {'upload s':>9} {'job s':>7} {'summary s':>10} "
                f"{'worker CPU s':>13}"
            )
            for rows in args.rows:
                for _run in range(args.runs):
                    timing = time_batch_job(site.session, files[rows], worker_pid=site.worker.pid)
                    goal = GOALS.get((database, rows))
                    verdict = ""
                    if timing.status != "succeeded":
                        verdict, missed = f"  job {timing.status}", missed + 1
                    elif goal is not None:
                        met = timing.total < goal
                        verdict = f"  (goal < {goal:g} s: {'met' if met else 'MISSED'})"
                        missed += not met
                    say(
                        f"{database}: {rows:>9,} {len(files[rows]) / 1e6:>5.1f} {timing.total:>8.2f} "
                        f"{timing.upload:>9.2f} {timing.job:>7.2f} {timing.summary:>10.2f} "
                        f"{timing.worker_cpu:>13.2f}{verdict}"
                    )
    say(f"load average {os.getloadavg()[0]:.1f} at the end")
    return 1 if missed else 0


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    sys.exit(main())
