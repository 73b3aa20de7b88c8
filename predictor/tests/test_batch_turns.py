"""Between chunks, a batch job on SQLite leaves the write lock to others; it pauses long only if there are any."""

import threading
import time

import pytest
from django.db import connection

from predictor import batch
from predictor.models import Job

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's one write lock; PostgreSQL writers do not wait"),
]

HELD = 0.2  # seconds a chunk held the lock: the pause is this times a fraction


def timed_pause(turns: batch.SqliteTurns, *, others_write: bool) -> float:
    """How long one pause between chunks lasted, with another connection committing during it or not."""
    writer = None
    if others_write:

        def write() -> None:
            time.sleep(HELD * batch.SQLITE_IDLE_YIELD_FRACTION / 4)  # inside even the shortest pause
            Job.objects.create(kind=Job.Kind.BATCH)
            connection.close()

        writer = threading.Thread(target=write)
        writer.start()
    started = time.monotonic()
    turns.pause(held=HELD)
    elapsed = time.monotonic() - started
    if writer:
        writer.join()
    return elapsed


def test_pauses_shrink_while_nobody_else_writes_and_grow_back_when_someone_does():
    turns = batch.SqliteTurns()
    full, short = HELD * batch.SQLITE_YIELD_FRACTION, HELD * batch.SQLITE_IDLE_YIELD_FRACTION
    assert timed_pause(turns, others_write=False) >= full  # at first the job assumes others are waiting
    assert timed_pause(turns, others_write=False) < full / 2  # nobody wrote during the last one
    assert timed_pause(turns, others_write=False) < full / 2
    assert short <= timed_pause(turns, others_write=True) < full / 2  # a writer got in during a short pause
    assert timed_pause(turns, others_write=False) >= full  # so the next pause is full again
