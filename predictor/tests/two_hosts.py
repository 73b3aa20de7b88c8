"""Two app hosts of one site, and the four things they must get right together (issue 14, item 4).

Each host is a gunicorn with a working folder of its own (no shared disk) and one job worker,
both with the host's settings; the two share one environment (one DJANGO_SECRET_KEY), one
PostgreSQL database (a throw-away one) and one S3 bucket prefix (SeaweedFS). A visitor is a
`Browser` whose cookies reach both hosts, as behind a load balancer. Each scenario returns what
it saw and timed; predictor/tests/test_two_hosts.py asserts on it, bench/two_hosts.py prints it.
"""

import http.cookiejar
import json
import re
import secrets
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from predictor.tests.live_server import Server, Worker, running_host, running_server, start_worker

if TYPE_CHECKING:
    from predictor.tests.s3_server import S3Server

MODEL_CHECK_SECONDS = 1.0
# Short leases, so a killed worker's job is handed on within seconds; small chunks, so a job is
# caught half way. Every host and worker gets the same values, as in production.
HOSTS_ENV = {
    "DJANGO_TASKS_BACKEND": "database",
    "ML_MODEL_CHECK_SECONDS": str(MODEL_CHECK_SECONDS),
    "JOB_LEASE_SECONDS": "5",
    "JOB_BATCH_CHUNK_ROWS": "2000",
}
OPERATOR = "operator"
TOKEN_PATTERN = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
JOB_PATH_PATTERN = re.compile(r"/jobs/([0-9a-f-]{36})/$")
TASK_RESULTS = "django_tasks_database_dbtaskresult"  # django-tasks-db's queue table


@dataclass
class Host:
    name: str
    server: Server
    worker: Worker

    @property
    def base_url(self) -> str:
        return self.server.base_url

    def local_files(self) -> list[str]:
        """Files in the host's own artifact and upload folders: none, when everything is in the bucket."""
        folders = [self.server.workdir / "artifacts", self.server.workdir / "uploads"]
        return sorted(str(path) for folder in folders if folder.exists() for path in folder.rglob("*"))


@dataclass
class TwoHosts:
    a: Host
    b: Host
    password: str  # the operator's

    @property
    def hosts(self) -> tuple[Host, Host]:
        return self.a, self.b

    def query(self, sql: str, *params) -> list[tuple]:
        import psycopg

        with psycopg.connect(self.a.server.database) as connection:
            return connection.execute(sql, params).fetchall()

    def ensure_workers(self) -> None:
        """Start a new worker on a host whose worker was killed (each host always runs one)."""
        for host in self.hosts:
            if host.worker.process.poll() is not None:
                host.worker = start_worker(host.server, name=f"worker-{host.name}")

    def host_of_worker(self, worker_id: str) -> str:
        return next((host.name for host in self.hosts if host.worker.worker_id() == worker_id), "a killed worker")

    def browser(self) -> "Browser":
        browser = Browser()
        browser.log_in(self.a, OPERATOR, self.password)
        return browser


@contextmanager
def two_hosts(*, database_url: str, s3: "S3Server", web_workers: int = 2) -> Iterator[TwoHosts]:
    """Host A (which migrates the throw-away database and trains v1 into the bucket), host B, a worker each."""
    if not database_url.startswith("postgres"):
        raise ValueError("two hosts need a networked database: set DATABASE_URL to a PostgreSQL URL")
    with ExitStack() as stack, ThreadPoolExecutor(max_workers=1) as background:
        server_a = stack.enter_context(
            running_server(workers=web_workers, database_url=database_url, extra_env=HOSTS_ENV, s3=s3)
        )
        # Each start-up costs seconds on a busy machine: A's worker and the operator's account are
        # made while host B starts.
        hosts: TwoHosts | None = None
        worker_a = start_worker(server_a, name="worker-A")
        stack.callback(lambda: (hosts.a.worker if hosts else worker_a).stop())  # A's worker of the moment
        password = secrets.token_urlsafe(16)
        operator = background.submit(
            server_a.manage, "shell", "-c", CREATE_OPERATOR.format(username=OPERATOR, password=password)
        )
        server_b = stack.enter_context(running_host(server_a, workers=web_workers))
        hosts = TwoHosts(
            a=Host("A", server_a, worker_a),
            b=Host("B", server_b, start_worker(server_b, name="worker-B")),
            password=password,
        )
        stack.callback(lambda: hosts.b.worker.stop())
        operator.result()
        for host in hosts.hosts:
            host.worker.worker_id()  # started and polling
        yield hosts


CREATE_OPERATOR = """
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
user = get_user_model().objects.create_user("{username}", password="{password}", is_staff=True)
user.groups.add(Group.objects.get(name="operator"))
"""


class Browser:
    """One visitor with one cookie jar for both hosts (cookies ignore the port): a session made on A works on B."""

    def __init__(self) -> None:
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies), _NoRedirects)

    def request(
        self, url: str, *, data: bytes | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        request = urllib.request.Request(url, data=data, headers=headers or {})
        try:
            with self.opener.open(request, timeout=60) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read()

    def get(self, url: str) -> tuple[int, dict[str, str], bytes]:
        return self.request(url)

    def token(self, url: str) -> str:
        status, _, body = self.get(url)
        if status != 200:
            raise RuntimeError(f"GET {url} answered {status}")
        return TOKEN_PATTERN.search(body.decode()).group(1)

    def post_form(
        self, url: str, fields: dict[str, str], files: dict[str, tuple[str, bytes]] | None = None, *, page: str = ""
    ):
        """POST a form as a browser does, with the CSRF token of the page it is on (``page``, else ``url``)."""
        fields = {"csrfmiddlewaretoken": self.token(page or url), **fields}
        body, content_type = _multipart(fields, files or {})
        return self.request(url, data=body, headers={"Content-Type": content_type})

    def log_in(self, host: Host, username: str, password: str) -> None:
        status, headers, _ = self.post_form(
            f"{host.base_url}/accounts/login/", {"username": username, "password": password}
        )
        if status != 302:
            raise RuntimeError(f"logging in as {username} through host {host.name} answered {status}")

    def start_job(
        self, url: str, fields: dict[str, str], files: dict[str, tuple[str, bytes]] | None = None, *, page: str = ""
    ) -> str:
        """Post a form that starts a job; returns the job's id, from the page it redirects to."""
        status, headers, body = self.post_form(url, fields, files, page=page)
        found = JOB_PATH_PATTERN.search(headers.get("Location", "")) if status == 302 else None
        if not found:
            raise RuntimeError(f"POST {url} answered {status}, not a job page: {body[:500]!r}")
        return found.group(1)

    def job_status(self, host: Host, job_id: str) -> dict:
        status, _, body = self.get(f"{host.base_url}/jobs/{job_id}/status.json")
        if status != 200:
            raise RuntimeError(f"job {job_id}'s status through host {host.name} answered {status}")
        return json.loads(body)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # the caller reads the Location


def _multipart(fields: dict[str, str], files: dict[str, tuple[str, bytes]]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    for name, (filename, content) in files.items():
        head = f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
        parts.append(head.encode() + b"Content-Type: text/csv\r\n\r\n" + content + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def batch_csv(rows: int) -> bytes:
    """A CSV upload of ``rows`` animals, half cats and half dogs, with an extra column the results keep."""
    lines = [f"{77 + index % 2 * 13},{36 + index % 2 * 12},animal-{index}" for index in range(rows)]
    return ("Height,Weight,Tag\n" + "\n".join(lines) + "\n").encode()


def wait_for(condition: Callable[[], object], *, timeout: float, what: str, poll: float = 0.05):
    """``condition()``'s first truthy value; RuntimeError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(poll)
    return value


def job_row(hosts: TwoHosts, job_id: str) -> dict:
    [row] = hosts.query(
        "SELECT status, attempts, progress_done, progress_total, outcome, task_id FROM predictor_job WHERE id = %s",
        job_id,
    )
    return dict(zip(("status", "attempts", "done", "total", "outcome", "task_id"), row, strict=True))


def finished_job(hosts: TwoHosts, job_id: str, *, timeout: float) -> dict:
    return wait_for(
        lambda: (row := job_row(hosts, job_id))["status"] in ("succeeded", "failed") and row,
        timeout=timeout,
        what=f"job {job_id} to finish",
    )


def task_runs(hosts: TwoHosts, job_id: str) -> list[tuple[str, list[str]]]:
    """Every task the queue held for a job (one per attempt): its status and the workers that claimed it."""
    rows = hosts.query(f"SELECT args_kwargs, status, worker_ids, enqueued_at FROM {TASK_RESULTS}")  # noqa: S608
    runs = [(status, workers, enqueued) for args, status, workers, enqueued in rows if args["args"] == [job_id]]
    return [(status, workers) for status, workers, _ in sorted(runs, key=lambda run: run[2])]


def stored_rows(hosts: TwoHosts, batch_id: str) -> int:
    """The batch's rows in the table, hidden ones too (the site's reads leave out a pending batch's)."""
    return hosts.query("SELECT count(*) FROM predictor_prediction WHERE batch_id = %s", batch_id)[0][0]


# --- 1. Retrain through host A; host B answers with the new version ---


@dataclass(frozen=True)
class Answer:
    sent: float  # time.time()
    received: float
    version: int


@dataclass
class ModelSwitch:
    version: int = 0  # the version the retraining made and activated
    activated_at: float = 0.0  # its activation, as the database recorded it (time.time() scale)
    job_seconds: float = 0.0  # retrain posted -> job succeeded
    answers: dict[str, list[Answer]] = field(default_factory=dict)  # per host, in order sent
    errors: list[str] = field(default_factory=list)  # requests not answered with a prediction

    def first_new_answer(self, host: str) -> float:
        """Seconds from the activation to the host's first answer with the new version."""
        return (
            min(answer.received for answer in self.answers[host] if answer.version == self.version) - self.activated_at
        )

    def last_old_answer(self, host: str) -> float | None:
        """Seconds from the activation to the last request the host answered with an older version (None: none)."""
        old = [answer.sent for answer in self.answers[host] if answer.version != self.version]
        return max(old) - self.activated_at if old else None

    def old_answers_sent_after(self, host: str, seconds: float) -> list[Answer]:
        """The host's answers with an older version to requests sent more than ``seconds`` after the activation."""
        late = self.activated_at + seconds
        return [answer for answer in self.answers[host] if answer.sent > late and answer.version != self.version]

    def answers_sent_after(self, host: str, seconds: float) -> int:
        return sum(answer.sent > self.activated_at + seconds for answer in self.answers[host])


def retrain_through_a(hosts: TwoHosts, browser: Browser) -> ModelSwitch:
    """Retrain from host A's models page while both hosts answer predictions; see when each switches."""
    switch = ModelSwitch(answers={host.name: [] for host in hosts.hosts})
    stop = threading.Event()
    probes = [threading.Thread(target=_probe, args=(host, switch, stop)) for host in hosts.hosts]
    for probe in probes:
        probe.start()
    try:
        started = time.monotonic()
        job_id = browser.start_job(
            f"{hosts.a.base_url}/models/retrain/",
            {"data": "shipped", "algorithm": "GaussianNB", "force": "on"},
            page=f"{hosts.a.base_url}/models/",
        )
        job = finished_job(hosts, job_id, timeout=120)
        switch.job_seconds = time.monotonic() - started
        if job["status"] != "succeeded" or not job["outcome"]["activated"]:
            raise RuntimeError(f"the retraining did not activate a version: {job}")
        switch.version = job["outcome"]["version"]
        [(activated_at,)] = hosts.query(
            "SELECT activated_at FROM predictor_modelversion WHERE version = %s", switch.version
        )
        switch.activated_at = activated_at.timestamp()
        # Answers for a while after the longest a host may take, to see that none falls back.
        wait_for(
            lambda: time.time() > switch.activated_at + MODEL_CHECK_SECONDS + 2,
            timeout=MODEL_CHECK_SECONDS + 3,
            what="the probes",
        )
    finally:
        stop.set()
        for probe in probes:
            probe.join()
    return switch


def _probe(host: Host, switch: ModelSwitch, stop: threading.Event) -> None:
    """Predict through the host's API, one request after another, each on a new connection (any web worker)."""
    body = json.dumps({"height_cm": 78, "weight_kg": 37}).encode()
    while not stop.is_set():
        sent = time.time()
        request = urllib.request.Request(
            f"{host.base_url}/api/v1/predict", data=body, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                version = json.load(response)["model_version"]
        except OSError as error:  # HTTPError (a 503 ...) included: counted, and the probe goes on
            switch.errors.append(f"host {host.name}: {error}")
            time.sleep(0.1)
            continue
        switch.answers[host.name].append(Answer(sent=sent, received=time.time(), version=version))
        time.sleep(0.01)


# --- 2. A batch uploaded through A, summarised and downloaded through B ---


@dataclass
class BatchTrip:
    rows: int
    job_id: str = ""
    batch_id: str = ""
    ran_on: str = ""  # the host whose worker ran the job
    job_seconds: float = 0.0  # upload posted through A -> job succeeded, as B's job page reports
    summary_status: int = 0
    summary_rows: int = 0  # the row count on B's summary page
    download_status: int = 0
    download_seconds: float = 0.0
    downloaded: list[str] = field(default_factory=list)  # the results CSV's lines, from B


def batch_across_hosts(hosts: TwoHosts, browser: Browser, *, rows: int = 10_000) -> BatchTrip:
    trip = BatchTrip(rows=rows)
    started = time.monotonic()
    trip.job_id = browser.start_job(
        f"{hosts.a.base_url}/predictions/upload/", {}, {"file": ("animals.csv", batch_csv(rows))}
    )
    job = wait_for(
        lambda: (state := browser.job_status(hosts.b, trip.job_id))["finished"] and state,
        timeout=120,
        what="the batch job, through host B",
    )
    trip.job_seconds = time.monotonic() - started
    if job["status"] != "succeeded":
        raise RuntimeError(f"the batch job failed: {job}")
    trip.batch_id = job["outcome"]["batch_id"]
    [(_status, workers)] = task_runs(hosts, trip.job_id)
    trip.ran_on = hosts.host_of_worker(workers[-1])
    trip.summary_status, _, page = browser.get(f"{hosts.b.base_url}/predictions/upload/{trip.batch_id}/")
    if found := re.search(r"([\d,]+) rows predicted with model v", page.decode()):
        trip.summary_rows = int(found.group(1).replace(",", ""))
    started = time.monotonic()
    trip.download_status, _, csv = browser.get(f"{hosts.b.base_url}/predictions/upload/{trip.batch_id}/results.csv")
    trip.download_seconds = time.monotonic() - started
    trip.downloaded = csv.decode().splitlines()
    return trip


# --- 3. Ten jobs enqueued from both hosts ---


@dataclass(frozen=True)
class JobRun:
    through: str  # the host the upload was posted to
    status: str
    attempts: int
    stored: int  # rows in the table for its batch
    tasks: list[tuple[str, list[str]]]  # per queued task: its status and the workers that claimed it


@dataclass
class JobsRun:
    rows_each: int
    seconds: float = 0.0  # first upload posted -> last job finished
    runs: list[JobRun] = field(default_factory=list)
    ran_on: dict[str, int] = field(default_factory=dict)  # host -> jobs its worker ran


def jobs_from_both_hosts(hosts: TwoHosts, browser: Browser, *, per_host: int = 5, rows: int = 1_000) -> JobsRun:
    run = JobsRun(rows_each=rows)
    started = time.monotonic()
    content = batch_csv(rows)
    posted = [
        (host, browser.start_job(f"{host.base_url}/predictions/upload/", {}, {"file": ("animals.csv", content)}))
        for _ in range(per_host)
        for host in hosts.hosts
    ]
    finished = [(host, finished_job(hosts, job_id, timeout=180)) for host, job_id in posted]
    run.seconds = time.monotonic() - started
    for (host, job_id), (_, job) in zip(posted, finished, strict=True):
        batch_id = (job["outcome"] or {}).get("batch_id", "")
        tasks = task_runs(hosts, job_id)
        run.runs.append(
            JobRun(
                through=host.name,
                status=job["status"],
                attempts=job["attempts"],
                stored=stored_rows(hosts, batch_id) if batch_id else 0,
                tasks=tasks,
            )
        )
        for _status, workers in tasks:
            for worker_id in workers:
                ran_on = hosts.host_of_worker(worker_id)
                run.ran_on[ran_on] = run.ran_on.get(ran_on, 0) + 1
    return run


# --- 4. A worker killed mid-job ---


@dataclass
class KilledWorker:
    rows: int
    job_id: str = ""
    batch_id: str = ""
    killed: str = ""  # the host whose worker was killed (the one running the job)
    done_when_killed: int = 0
    hidden_rows_when_killed: int = 0  # stored by the killed attempt, out of every read
    pending_when_killed: int = 0
    finished_on: str = ""  # the host whose worker finished it
    status: str = ""
    attempts: int = 0
    error: str = ""
    stored: int = 0  # rows in the table for its batch, at the end
    pending_left: int = 0
    handed_on_seconds: float = 0.0  # kill -> the job's second task claimed
    finished_seconds: float = 0.0  # kill -> the job finished


def worker_killed_mid_job(hosts: TwoHosts, browser: Browser, *, rows: int = 200_000) -> KilledWorker:
    """Kill -9 whichever worker runs a large batch, half way; the other host's worker must take it on."""
    killed = KilledWorker(rows=rows)
    killed.job_id = browser.start_job(
        f"{hosts.b.base_url}/predictions/upload/", {}, {"file": ("animals.csv", batch_csv(rows))}
    )
    job = wait_for(
        lambda: 0 < (row := job_row(hosts, killed.job_id))["done"] < rows // 2 and row,
        timeout=120,
        what="the job to be under way",
        poll=0.02,
    )
    [(_status, [worker_id])] = task_runs(hosts, killed.job_id)
    victim = next(host for host in hosts.hosts if host.worker.worker_id() == worker_id)
    victim.worker.kill()
    killed_at = time.monotonic()
    killed.killed = victim.name
    job = job_row(hosts, killed.job_id)
    killed.done_when_killed = job["done"]
    pending = hosts.query("SELECT CAST(batch_id AS TEXT) FROM predictor_pendingbatch WHERE job_id = %s", killed.job_id)
    killed.pending_when_killed = len(pending)
    killed.batch_id = batch_id = pending[0][0]
    killed.hidden_rows_when_killed = stored_rows(hosts, batch_id)

    def claimed_again() -> bool:
        runs = task_runs(hosts, killed.job_id)
        return len(runs) > 1 and bool(runs[-1][1])

    wait_for(claimed_again, timeout=60, what="the job to be handed on")
    killed.handed_on_seconds = time.monotonic() - killed_at
    job = finished_job(hosts, killed.job_id, timeout=180)
    killed.finished_seconds = time.monotonic() - killed_at
    killed.status, killed.attempts = job["status"], job["attempts"]
    killed.error = hosts.query("SELECT error FROM predictor_job WHERE id = %s", killed.job_id)[0][0]
    killed.finished_on = hosts.host_of_worker(task_runs(hosts, killed.job_id)[-1][1][-1])
    killed.stored = stored_rows(hosts, batch_id)
    [(killed.pending_left,)] = hosts.query(
        "SELECT count(*) FROM predictor_pendingbatch WHERE job_id = %s", killed.job_id
    )
    return killed
