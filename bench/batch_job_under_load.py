"""The form's latency while a 1M-row batch job runs, against its latency with no job: does the site still answer?

The site as bench/batch_job.py starts it (gunicorn with `make serve`'s worker count, one job worker
beside it, a throw-away SQLite file or PostgreSQL database). Four browser-like clients post the
prediction form (CSRF cookie and token, submission key, as bench/load_test.py's do) without pause:
first with no job, for --idle-seconds; then while a staff member's 1M-row upload runs as a job,
from the moment the job is running until it is finished. Each phase's p50, p99 and slowest answer,
and any request that failed or took longer than --timeout, are reported.

    .venv/bin/python bench/batch_job_under_load.py [--rows 1000000] [--runs 2] [--database sqlite postgres]

The goal (issue 14): p99 while the job runs below 3 x the idle p99, and no request timed out.
"""

import argparse
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.batch_job import StaffSession, make_csv, site_with_worker
from predictor.tests.load import BrowserLikeClient, inputs_for

CLIENTS = 4
WEB_WORKERS = 4  # `make serve`'s WEB_CONCURRENCY
GOAL_RATIO = 3.0
INPUTS = 8_000  # predictor.tests.load.inputs_for stays inside the form's bounds this far


@dataclass
class Answers:
    """Form answers: when each was sent and how long it took; failures and slow ones apart."""

    sent_at: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def between(self, start: float, end: float) -> np.ndarray:
        sent, seconds = np.array(self.sent_at), np.array(self.seconds)
        return seconds[(sent >= start) & (sent <= end)]


def post_forms(base_url: str, answers: Answers, stop: threading.Event, *, first_index: int, timeout: float) -> None:
    """One client: open the form, then post it again and again until ``stop``."""
    client = BrowserLikeClient(base_url)
    client.open_form()
    index = first_index
    while not stop.is_set():
        height, weight = inputs_for(index % INPUTS)  # repeats are fine here: only the time counts
        index += 1
        started = time.perf_counter()
        try:
            status, answered = client.submit(height, weight)
            problem = "" if answered else f"status {status}"
        except Exception as error:  # noqa: BLE001  (counted, not raised: the report tells)
            problem = repr(error)
        took = time.perf_counter() - started
        if took > timeout:
            problem = problem or f"took {took:.1f} s (over {timeout:g} s)"
        with answers.lock:
            answers.sent_at.append(started)
            answers.seconds.append(took)
            if problem:
                answers.failures.append(problem)


@dataclass(frozen=True)
class Phase:
    answers: int
    p50: float
    p99: float
    slowest: float

    @classmethod
    def of(cls, seconds: np.ndarray) -> "Phase":
        if not len(seconds):
            return cls(0, float("nan"), float("nan"), float("nan"))
        p50, p99 = np.percentile(seconds, [50, 99])
        return cls(len(seconds), p50, p99, float(seconds.max()))

    def __str__(self) -> str:
        return (
            f"{self.answers:>6} answers, p50 {self.p50 * 1000:6.0f} ms, p99 {self.p99 * 1000:6.0f} ms, "
            f"slowest {self.slowest * 1000:6.0f} ms"
        )


def measure(
    database: str, content: bytes, *, idle_seconds: float, runs: int, timeout: float, settings: dict[str, str]
) -> int:
    missed = 0
    with site_with_worker(database, web_workers=WEB_WORKERS, settings=settings) as site:
        server, session = site.server, site.session
        for run in range(1, runs + 1):
            answers, stop = Answers(), threading.Event()
            clients = [
                threading.Thread(
                    target=post_forms,
                    args=(server.base_url, answers, stop),
                    kwargs={"first_index": number * INPUTS // CLIENTS, "timeout": timeout},
                )
                for number in range(CLIENTS)
            ]
            for client in clients:
                client.start()
            time.sleep(2)  # warm-up: connections, the model loaded in every worker
            idle_start = time.perf_counter()
            time.sleep(idle_seconds)
            idle_end = time.perf_counter()
            running, finished, status = run_job(session, content)
            stop.set()
            for client in clients:
                client.join()
            idle = Phase.of(answers.between(idle_start, idle_end))
            loaded = Phase.of(answers.between(running, finished))
            ratio = loaded.p99 / idle.p99
            met = ratio < GOAL_RATIO and not answers.failures and status == "succeeded"
            missed += not met
            say(f"{database} run {run}: idle         {idle}")
            say(f"{database} run {run}: during job   {loaded}")
            say(
                f"{database} run {run}: job {status} in {finished - running:.1f} s (running to finished); "
                f"p99 ratio {ratio:.2f} (goal < {GOAL_RATIO:g}); {len(answers.failures)} failed or over "
                f"{timeout:g} s{': ' + answers.failures[0] if answers.failures else ''}  "
                f"[{'met' if met else 'MISSED'}]"
            )
    return missed


def run_job(session: StaffSession, content: bytes) -> tuple[float, float, str]:
    """Upload the file and follow its job; returns when it was first seen running, when finished, its status."""
    job_id = session.upload(content, session.token("/predictions/upload/"))
    running = None
    while not (status := session.status(job_id))["finished"]:
        if running is None and status["status"] == "running":
            running = time.perf_counter()
        time.sleep(0.1)
    finished = time.perf_counter()
    return running or finished, finished, status["status"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=2, help="runs per database (the machine may be shared)")
    parser.add_argument("--idle-seconds", type=float, default=20)
    parser.add_argument("--timeout", type=float, default=30, help="an answer slower than this counts as timed out")
    parser.add_argument("--database", nargs="+", choices=["sqlite", "postgres"], default=["sqlite", "postgres"])
    parser.add_argument("--set", nargs="*", default=[], metavar="NAME=VALUE", help="a site setting to try")
    args = parser.parse_args()
    settings = dict(setting.split("=", 1) for setting in args.set)
    content = make_csv(args.rows)
    say(
        f"nproc {os.cpu_count()}, load average {os.getloadavg()[0]:.1f} at start; {CLIENTS} clients, "
        f"{args.rows:,} rows; settings {settings or 'default'}"
    )
    missed = sum(
        measure(
            database, content, idle_seconds=args.idle_seconds, runs=args.runs, timeout=args.timeout, settings=settings
        )
        for database in args.database
    )
    say(f"load average {os.getloadavg()[0]:.1f} at the end")
    return 1 if missed else 0


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    sys.exit(main())
