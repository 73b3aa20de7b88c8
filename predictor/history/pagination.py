"""Numbered pages of the history for the admin and the API: counts that stop in time, pages read by id.

The admin changelist asks its paginator how many rows match the filters and then reads one page
with LIMIT/OFFSET. At a million predictions both can take a second: a COUNT(*) under two filters
that no single index answers reads every row that passes the first one, and a deep OFFSET with
the model version joined in reads every row it skips. Here the count stops at a cap unless the
exact figure comes within a time budget, and a page reads its ids from an index first.
"""

import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property

from django.core.paginator import Paginator
from django.db import OperationalError, connection, transaction

SQLITE_PROGRESS_STEPS = 10_000  # virtual-machine steps between deadline checks, about 0.1 ms


class QueryTimedOut(Exception):
    """A query ran past its time limit and was stopped by the database."""


@contextmanager
def statement_time_limit(seconds: float) -> Iterator[None]:
    """Stop this connection's queries that run past ``seconds``: they raise QueryTimedOut.

    SQLite checks a deadline from its progress handler; PostgreSQL gets statement_timeout for
    one transaction. Other databases run without a limit.
    """
    connection.ensure_connection()
    if connection.vendor == "sqlite":
        deadline = time.monotonic() + seconds
        connection.connection.set_progress_handler(lambda: time.monotonic() > deadline, SQLITE_PROGRESS_STEPS)
        try:
            yield
        except OperationalError as error:
            if "interrupted" in str(error):
                raise QueryTimedOut(str(error)) from error
            raise
        finally:
            connection.connection.set_progress_handler(None, SQLITE_PROGRESS_STEPS)
    elif connection.vendor == "postgresql":
        try:
            with transaction.atomic():
                milliseconds = max(1, round(seconds * 1000))  # an int: SET takes no bound parameters
                with connection.cursor() as cursor:
                    cursor.execute(f"SET LOCAL statement_timeout = {milliseconds}")
                yield
                with connection.cursor() as cursor:  # a savepoint's SET LOCAL outlives its RELEASE
                    cursor.execute("SET LOCAL statement_timeout TO DEFAULT")
        except OperationalError as error:
            if "statement timeout" in str(error):
                raise QueryTimedOut(str(error)) from error
            raise
    else:
        yield


class AtLeast(int):
    """A count that stopped at a cap: compares and pages as the cap, and reads "10,000+"."""

    def __str__(self) -> str:
        return f"{int(self):,}+"


class CappedCountPaginator(Paginator):
    """Counts matching rows up to ``count_cap``, beyond it only if the exact count is quick.

    Below the cap the count is exact and reads at most the cap's worth of matching rows. Above
    it, the exact COUNT(*) gets ``count_seconds``; if it needs longer, the count is
    ``AtLeast(count_cap)``: pages up to the cap are numbered, and the admin shows "10,000+".
    """

    count_cap = 10_000
    count_seconds = 0.05

    @cached_property
    def count(self) -> int:
        rows = self.object_list.order_by()
        capped = rows[: self.count_cap + 1].count()  # SELECT COUNT(*) FROM (... LIMIT cap + 1)
        if capped <= self.count_cap:
            return capped
        try:
            with statement_time_limit(self.count_seconds):
                return rows.count()
        except QueryTimedOut:
            return AtLeast(self.count_cap)

    def _get_page(self, object_list, number, paginator):
        # ``object_list`` is this page's LIMIT/OFFSET slice. Its ids come from an index alone;
        # skipping rows with the model version joined in would read every skipped row. The rows
        # are then read by id only: with the filters repeated, SQLite may walk a filter's index.
        ids = list(object_list.values_list("pk", flat=True))
        rows = self.object_list.model._default_manager.filter(pk__in=ids).order_by()
        rows.query.select_related = self.object_list.query.select_related
        by_id = {row.pk: row for row in rows}
        return super()._get_page([by_id[pk] for pk in ids if pk in by_id], number, paginator)
