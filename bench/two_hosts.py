"""Two app hosts of one site, timed: how soon host B serves a model retrained through host A, and more.

Starts what predictor/tests/test_two_hosts.py starts (SeaweedFS, a throw-away PostgreSQL database
beside DATABASE_URL, two gunicorns with folders of their own, one job worker each; see
predictor/tests/two_hosts.py) and runs its four scenarios, printing timings instead of asserting:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/two_hosts.py [--switches 5]
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from predictor.tests.s3_server import running_s3_server
from predictor.tests.two_hosts import (
    MODEL_CHECK_SECONDS,
    batch_across_hosts,
    jobs_from_both_hosts,
    retrain_through_a,
    two_hosts,
    worker_killed_mid_job,
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--switches", type=int, default=5, help="retrainings through A to time (default 5)")
    parser.add_argument("--batch-rows", type=int, default=10_000)
    parser.add_argument("--kill-rows", type=int, default=200_000, help="rows of the batch whose worker is killed")
    arguments = parser.parse_args()
    database_url = os.environ.get("DATABASE_URL", "")
    if not database_url.startswith("postgres"):
        print("Two hosts need a networked database: set DATABASE_URL=postgres://...", file=sys.stderr)
        return 2

    started = time.monotonic()
    with (
        tempfile.TemporaryDirectory(prefix="bench-two-hosts-") as folder,
        running_s3_server(Path(folder)) as s3,
        two_hosts(database_url=database_url, s3=s3) as hosts,
    ):
        print(f"Two hosts, a worker each, up in {time.monotonic() - started:.1f} s (nproc {os.cpu_count()}).")
        browser = hosts.browser()
        bound = MODEL_CHECK_SECONDS + 1
        first_answers: list[float] = []
        last_old_answers: list[float] = []
        for _ in range(arguments.switches):
            switch = retrain_through_a(hosts, browser)
            late = len(switch.old_answers_sent_after("B", bound))
            first_answers.append(switch.first_new_answer("B"))
            last_old = switch.last_old_answer("B")
            last_old_answers.append(last_old or 0.0)
            print(
                f"1. retrain through A -> v{switch.version} (job {switch.job_seconds:.1f} s); first answer "
                f"with v{switch.version}: B {switch.first_new_answer('B'):.2f} s, "
                f"A {switch.first_new_answer('A'):.2f} s after the activation commit; B's last old answer: "
                + (f"to a request sent {last_old:.2f} s after it; " if last_old is not None else "none; ")
                + f"requests not answered: {len(switch.errors)}; "
                f"old answers to requests sent after {bound:.0f} s: {late} "
                f"(of {switch.answers_sent_after('B', bound)})"
            )
        print(
            f"   B's first new answer: median {statistics.median(first_answers):.2f} s, "
            f"max {max(first_answers):.2f} s; its last old answer: max {max(last_old_answers):.2f} s after "
            f"(bound ML_MODEL_CHECK_SECONDS + 1 = {bound:.0f} s)"
        )

        trip = batch_across_hosts(hosts, browser, rows=arguments.batch_rows)
        print(
            f"2. {trip.rows:,}-row batch uploaded through A, run by {trip.ran_on}'s worker: ready on B's job "
            f"page {trip.job_seconds:.2f} s after the upload; B's summary {trip.summary_status} "
            f"({trip.summary_rows:,} rows), download {trip.download_status} "
            f"({len(trip.downloaded) - 1:,} rows in {trip.download_seconds:.2f} s)"
        )

        run = jobs_from_both_hosts(hosts, browser)
        once = sum(job.attempts == 1 and len(job.tasks) == 1 for job in run.runs)
        print(
            f"3. {len(run.runs)} jobs of {run.rows_each:,} rows from both hosts done in {run.seconds:.1f} s; "
            f"run once: {once}/{len(run.runs)}; ran on {dict(sorted(run.ran_on.items()))}; "
            f"rows stored {sum(job.stored for job in run.runs):,}"
        )

        hosts.ensure_workers()
        killed = worker_killed_mid_job(hosts, browser, rows=arguments.kill_rows)
        print(
            f"4. {killed.rows:,}-row job: {killed.killed}'s worker killed at {killed.done_when_killed:,} rows "
            f"(hidden: {killed.hidden_rows_when_killed:,}); {killed.finished_on}'s worker took it on after "
            f"{killed.handed_on_seconds:.1f} s, {killed.status} {killed.finished_seconds:.1f} s after the kill, "
            f"attempts {killed.attempts}, rows stored {killed.stored:,}, pending batches left {killed.pending_left}"
        )
    print(f"Total {time.monotonic() - started:.0f} s.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
