"""Two app hosts, no shared disk, one PostgreSQL and one S3 bucket: what one host does, the other sees.

Slow: two gunicorns and two job workers on a throw-away PostgreSQL database and a SeaweedFS
(predictor/tests/two_hosts.py starts them; bench/two_hosts.py runs the same scenarios for figures).
"""

import os

import pytest

from predictor.tests.two_hosts import (
    MODEL_CHECK_SECONDS,
    batch_across_hosts,
    jobs_from_both_hosts,
    retrain_through_a,
    two_hosts,
    worker_killed_mid_job,
)

DATABASE_URL = os.environ.get("DATABASE_URL", "")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not DATABASE_URL.startswith("postgres"),
        reason="two hosts need a networked database: runs with DATABASE_URL=postgres://... "
        "(the PostgreSQL pass of .ci/run), not on SQLite",
    ),
]


@pytest.fixture(scope="module")
def hosts(s3_server):
    with two_hosts(database_url=DATABASE_URL, s3=s3_server) as started:
        yield started


@pytest.fixture
def browser(hosts):
    """An operator logged in through host A; each test starts with a worker running on each host."""
    hosts.ensure_workers()
    return hosts.browser()


def test_a_model_retrained_through_host_a_is_served_by_host_b_within_the_check_interval_plus_one_second(hosts, browser):
    switch = retrain_through_a(hosts, browser)

    bound = MODEL_CHECK_SECONDS + 1
    assert switch.errors == []
    assert switch.first_new_answer("B") <= bound
    assert switch.old_answers_sent_after("B", bound) == []
    assert switch.answers_sent_after("B", bound) > 0  # B was asked after the bound, and answered
    assert switch.old_answers_sent_after("A", bound) == []
    assert hosts.b.local_files() == []  # B loaded it from the bucket: nothing came through its disk


def test_a_batch_uploaded_through_host_a_is_summarised_and_downloaded_through_host_b(hosts, browser):
    trip = batch_across_hosts(hosts, browser, rows=10_000)

    assert trip.summary_status == 200
    assert trip.summary_rows == 10_000
    assert trip.download_status == 200
    header, *rows = trip.downloaded
    assert header.startswith("Height,Weight,Tag,")  # the upload's own columns, read from the bucket by B
    assert len(rows) == 10_000
    assert rows[0].startswith("77,36,animal-0,Cat,") and rows[-1].startswith("90,48,animal-9999,Dog,")
    assert hosts.a.local_files() == hosts.b.local_files() == []


def test_ten_jobs_enqueued_from_both_hosts_each_run_exactly_once(hosts, browser):
    run = jobs_from_both_hosts(hosts, browser, per_host=5, rows=1_000)

    assert sorted(job.through for job in run.runs) == ["A"] * 5 + ["B"] * 5
    assert [(job.status, job.attempts, job.stored) for job in run.runs] == [("succeeded", 1, 1_000)] * 10
    # One task per job, claimed by one worker once: nothing was run twice.
    assert [[(status, len(workers)) for status, workers in job.tasks] for job in run.runs] == [[("SUCCESSFUL", 1)]] * 10
    assert sum(run.ran_on.values()) == 10


def test_a_worker_killed_mid_job_leaves_the_job_to_the_other_hosts_worker_and_nothing_half_stored(hosts, browser):
    killed = worker_killed_mid_job(hosts, browser, rows=100_000)

    # At the kill: part of the batch stored, but pending, so out of every read.
    assert 0 < killed.done_when_killed < 100_000
    assert killed.hidden_rows_when_killed == killed.done_when_killed
    assert killed.pending_when_killed == 1
    # Then the other host's worker reaped the expired lease and ran the job again, from the start.
    assert killed.finished_on == {"A": "B", "B": "A"}[killed.killed]
    assert (killed.status, killed.attempts, killed.error) == ("succeeded", 2, "")
    assert killed.stored == 100_000  # the dead attempt's rows replaced, not added to
    assert killed.pending_left == 0
