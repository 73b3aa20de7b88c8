"""While a batch job stores chunks on SQLite, other writers get the one write lock between them, promptly."""

import sqlite3
import threading
import time
from contextlib import closing

import pytest
from django.db import connection
from django.db.backends.sqlite3.base import DatabaseWrapper

from predictor.models import Job
from predictor.ops import sqlite_turns

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's one write lock; PostgreSQL writers do not wait"),
]

HELD = 0.2  # seconds a chunk held the lock: the pause is this times a fraction


def pause_length(turns: sqlite_turns.SqliteTurns, monkeypatch, *, others_write: bool) -> float:
    """How long one pause between chunks was asked to last, with another connection committing during it or not.

    The pause's sleep is replaced by the other connection's write, if any: what is tested is the
    choice of pause, which must not depend on whether a busy machine starts a thread in time.
    """
    asked = []

    def sleep(seconds: float) -> None:
        asked.append(seconds)
        if others_write:
            writer = threading.Thread(target=write_on_another_connection)
            writer.start()
            writer.join()

    with monkeypatch.context() as patch:
        patch.setattr(sqlite_turns.time, "sleep", sleep)
        turns.pause(held=HELD)
    (seconds,) = asked
    return seconds


def write_on_another_connection() -> None:
    Job.objects.create(kind=Job.Kind.BATCH)
    connection.close()


def test_pauses_shrink_while_nobody_else_writes_and_grow_back_when_someone_does(monkeypatch):
    turns = sqlite_turns.SqliteTurns()
    full, short = HELD * sqlite_turns.SQLITE_YIELD_FRACTION, HELD * sqlite_turns.SQLITE_IDLE_YIELD_FRACTION
    assert short < full
    assert pause_length(turns, monkeypatch, others_write=False) == full  # at first the job assumes others wait
    assert pause_length(turns, monkeypatch, others_write=False) == short  # nobody wrote during the last one
    assert pause_length(turns, monkeypatch, others_write=True) == short  # a writer got in during a short pause
    assert pause_length(turns, monkeypatch, others_write=True) == full  # so the next pause is full again
    assert pause_length(turns, monkeypatch, others_write=False) == full  # and stays full after a write
    assert pause_length(turns, monkeypatch, others_write=False) == short  # until a pause passes with none


def test_a_form_write_takes_the_lock_in_a_short_gap_between_long_chunks(tmp_path):
    """A real SQLite file, locked by another connection in long holds with short gaps, as a batch job does.

    SQLite's own busy handler would sleep in steps of up to 100 ms and mostly miss a 2 ms gap;
    sqlite_turns.execute_write (the form's and the rate limit's writes) polls every millisecond.
    """
    path = tmp_path / "site.sqlite3"
    setup = sqlite3.connect(path)
    setup.execute("PRAGMA journal_mode=WAL")
    setup.execute("CREATE TABLE answers (id INTEGER PRIMARY KEY, value INTEGER)")
    setup.close()
    stop, holding = threading.Event(), threading.Event()

    def hold_in_chunks() -> None:  # 100 ms holding the write lock, 2 ms free, until told to stop
        job = sqlite3.connect(path, isolation_level=None)
        chunks = 0
        while not stop.is_set():
            job.execute("BEGIN IMMEDIATE")
            chunks += 1
            if chunks == 3:
                holding.set()  # a chunk has just begun: the write below meets it
            job.execute("INSERT INTO answers (value) VALUES (0)")
            time.sleep(0.1)
            job.execute("COMMIT")
            time.sleep(0.002)
        job.close()

    settings = {**connection.settings_dict, "NAME": str(path), "OPTIONS": {"timeout": 5}}
    site = DatabaseWrapper(settings, alias="chunked-writes")
    holder = threading.Thread(target=hold_in_chunks)
    holder.start()
    try:
        assert holding.wait(timeout=10)
        started = time.monotonic()
        with site.cursor() as cursor:
            sqlite_turns.execute_write(cursor, "INSERT INTO answers (value) VALUES (%s)", [1])
        waited = time.monotonic() - started
    finally:
        stop.set()
        holder.join()
        site.close()
    with closing(sqlite3.connect(path)) as check:
        assert check.execute("SELECT count(*) FROM answers WHERE value = 1").fetchone() == (1,)
    assert waited < 0.5, f"the write waited {waited:.2f} s for a lock that was free every 102 ms"
