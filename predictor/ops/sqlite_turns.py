"""Taking turns at SQLite's one write lock: the form's and the API's writes, and a batch job's chunks.

SQLite lets one connection write at a time. Two devices share the lock fairly, each measured in
docs/performance.md ("Batch jobs on SQLite"):

- ``execute_write``: a hot single write (the form's answer, the rate-limit count) polls for the
  lock every millisecond instead of sleeping in SQLite's busy handler;
- ``SqliteTurns``: a batch job pauses between chunks, as long as the chunk while others write.

Used by the history writer's SQL and the limit counters; nothing here is needed on PostgreSQL.
"""

import time
from collections.abc import Sequence
from typing import Any

from django.db import OperationalError, connection

SQLITE_LOCK_POLL_SECONDS = 0.001  # how often a waiting write tries SQLite's write lock (execute_write)
# A batch job's pause between chunks, as a share of the time the chunk held the lock: while
# others write, and once a pause passed with none: see SqliteTurns.
SQLITE_YIELD_FRACTION = 1.0
SQLITE_IDLE_YIELD_FRACTION = 0.1


def returning_holds_the_write_lock(connection) -> bool:
    """Whether a ``RETURNING`` write on this connection would hold up every other writer.

    On SQLite a RETURNING statement keeps the database's one write lock until Python fetches its
    row, and the fetch waits for this thread's turn at the GIL, so every writer in every worker
    waited behind it: 38% of a gunicorn worker's thread samples under wrk (docs/performance.md).
    Hot writes there read the new id or count after the statement instead.
    """
    return connection.vendor == "sqlite"


def execute_write(cursor, sql: str, parameters: Sequence[Any]) -> None:
    """Run one write statement; on SQLite outside a transaction, wait for the write lock in 1 ms polls.

    Why: SQLite's busy handler sleeps in steps that grow to 100 ms the longer a writer waits, so a
    form's write that met a batch job's chunk woke up to 100 ms after the lock was free, or slept
    through the whole pause the job leaves between chunks (SqliteTurns, below). That step
    was most of the form's p99 while a million-row job ran: ``bench/batch_job_under_load.py``,
    docs/performance.md. Polling takes the lock within a millisecond of its release, and still
    gives up after the connection's own timeout (DJANGO_SQLITE_TIMEOUT) with "database is locked".
    """
    database = cursor.db
    if database.vendor != "sqlite" or database.in_atomic_block:
        cursor.execute(sql, parameters)  # PostgreSQL queues writers itself; a transaction holds the lock
        return
    sqlite = database.connection
    (timeout_ms,) = sqlite.execute("PRAGMA busy_timeout").fetchone()
    deadline = time.monotonic() + timeout_ms / 1000
    sqlite.execute("PRAGMA busy_timeout = 0")
    try:
        while True:
            try:
                cursor.execute(sql, parameters)
                return
            except OperationalError as error:
                if "locked" not in str(error) or time.monotonic() >= deadline:
                    raise
            time.sleep(SQLITE_LOCK_POLL_SECONDS)
    finally:
        sqlite.execute(f"PRAGMA busy_timeout = {int(timeout_ms)}")


class SqliteTurns:
    """Between a batch job's chunks on SQLite: give other writers the one write lock, when there are any.

    Why: while a chunk is stored, every other write waits for the lock; the form's and the API's
    writes poll for it every millisecond (execute_write, above), others sleep in SQLite's busy
    handler (steps of up to 100 ms), so they need the lock left free for a while. A pause as long
    as the chunk kept the form's p99 under 2x its idle p99 during a million-row job. But nobody may
    be waiting, and then the pauses only make the job slower: a 100,000-row job on a quiet site took
    4.1 s instead of 2.2 s. ``PRAGMA data_version`` tells whether another connection committed since
    this one last asked: when a pause ends with none, the next is a tenth as long, and the first
    commit by another writer restores the full pause. Figures: docs/performance.md, "Batch jobs on
    SQLite".
    """

    def __init__(self) -> None:
        self.others_writing = True  # until a pause shows otherwise

    def pause(self, *, held: float) -> None:
        fraction = SQLITE_YIELD_FRACTION if self.others_writing else SQLITE_IDLE_YIELD_FRACTION
        before = self._data_version()
        time.sleep(held * fraction)
        self.others_writing = self._data_version() != before

    @staticmethod
    def _data_version() -> int:
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA data_version")
            return cursor.fetchone()[0]
