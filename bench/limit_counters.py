"""Rate-limit counting from one client at once: the locked read-modify-write it replaced against one upsert.

N threads each count M times on ONE key, as the workers serving one busy address do, and every
run must end at exactly N x M. Measured in one run, on a throw-away database each:

- before: what each counted request did until predictor/ops/counters.py, django-ratelimit's
  ``cache.add`` then ``cache.incr`` on a DatabaseCache whose incr() is SELECT ... FOR UPDATE, read,
  write, in one transaction (SQLite: the IMMEDIATE transaction's write lock), copied below;
- after: ``DatabaseCounters.add``, one INSERT ... ON CONFLICT DO UPDATE in autocommit (RETURNING the
  count on PostgreSQL, read after it on SQLite);
- with ``--redis-url``: Django's RedisCache add + incr (before) against ``RedisCounters.add``.

    .venv/bin/python bench/limit_counters.py [--threads 16] [--counts 200] [--rounds 3]
        [--database-url postgres://postgres@127.0.0.1:5432/postgres] [--redis-url redis://127.0.0.1:6379/15]

Prints counts per second (the median of the rounds) with date, machine and command.
"""

import argparse
import base64
import json
import os
import pickle  # nosec B403
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from predictor.tests.live_server import PROJECT_DIR, temporary_postgres_database, throwaway_site_settings

BEFORE_TABLE = "bench_locked_counters"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=16, help="threads counting at once (default 16)")
    parser.add_argument("--counts", type=int, default=200, help="counts per thread (default 200)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per store; the median is shown (default 3)")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", ""), help="PostgreSQL too")
    parser.add_argument("--redis-url", default="", help="Redis too (a database number nobody else uses)")
    parser.add_argument("--store", help=argparse.SUPPRESS)  # the child process measuring one database
    args = parser.parse_args()
    if args.store:
        print(json.dumps(measure_here(args)))
        return

    started = datetime.now(UTC)
    rows = []
    with tempfile.TemporaryDirectory(prefix="mlsite-counters-") as workdir:
        rows += measure_in_child(args, "SQLite", throwaway_site_settings(Path(workdir)))
    if args.database_url:
        with (
            tempfile.TemporaryDirectory(prefix="mlsite-counters-") as workdir,
            temporary_postgres_database(args.database_url) as url,
        ):
            site_env = {**throwaway_site_settings(Path(workdir)), "DATABASE_URL": url}
            rows += measure_in_child(args, "PostgreSQL", site_env)
    print(
        f"{started:%Y-%m-%d %H:%M} UTC, {platform.node()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print("$ " + shlex.join([".venv/bin/python", "bench/limit_counters.py", *sys.argv[1:]]))
    print(f"{args.threads} threads x {args.counts} counts of one key, median of {args.rounds} rounds")
    print(f"| {'store':<10} | {'counting':<50} | {'counts/s':>8} | {'p50 ms':>6} | {'p99 ms':>6} | exact |")
    print(f"| {'-' * 10} | {'-' * 50} | {'-' * 7}: | {'-' * 5}: | {'-' * 5}: | ----- |")
    for row in rows:
        print(
            f"| {row['store']:<10} | {row['counting']:<50} | {row['per_second']:>8,.0f} | "
            f"{row['p50_ms']:>6.2f} | {row['p99_ms']:>6.1f} | {'yes' if row['exact'] else 'NO':<5} |"
        )
    if not all(row["exact"] for row in rows):
        sys.exit("counts were lost")


def measure_in_child(args: argparse.Namespace, store: str, site_env: dict[str, str]) -> list[dict]:
    """Runs this script again on ``site_env``'s throw-away database: Django is set up once per process."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "DATABASE_URL"))}
    env.update(site_env, DJANGO_SETTINGS_MODULE="mlsite.settings", REDIS_URL="")
    command = [sys.executable, __file__, "--store", store, "--threads", str(args.threads)]
    command += ["--counts", str(args.counts), "--rounds", str(args.rounds), "--redis-url", args.redis_url]
    done = subprocess.run(command, cwd=PROJECT_DIR, env=env, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure_here(args: argparse.Namespace) -> list[dict]:
    import django

    django.setup()
    from django.core.cache.backends.redis import RedisCache
    from django.core.management import call_command

    from predictor.ops.counters import DatabaseCounters, RedisCounters

    call_command("migrate", interactive=False, verbosity=0)
    call_command("createcachetable", BEFORE_TABLE, verbosity=0)
    locked_cache = locked_database_cache()
    contenders = [
        (args.store, "before: cache add + incr, row locked (FOR UPDATE)", cache_counting(locked_cache)),
        (args.store, "after: one upsert, autocommit", DatabaseCounters().add),
    ]
    if args.redis_url and args.store == "SQLite":  # Redis measured once, beside the first database
        prefix = f"bench-{uuid.uuid4().hex[:8]}"
        redis_cache = RedisCache(args.redis_url, {"KEY_PREFIX": prefix})
        contenders += [
            ("Redis", "before: Django RedisCache add + incr", cache_counting(redis_cache)),
            ("Redis", "after: INCRBY + EXPIREAT in one MULTI", RedisCounters(args.redis_url, prefix).add),
        ]
    rows = []
    for store, counting, add in contenders:
        runs = [count_at_once(add, threads=args.threads, counts=args.counts) for _ in range(args.rounds)]
        rows.append(
            {
                "store": store,
                "counting": counting,
                "per_second": statistics.median(run["per_second"] for run in runs),
                "p50_ms": statistics.median(run["p50_ms"] for run in runs),
                "p99_ms": statistics.median(run["p99_ms"] for run in runs),
                "exact": all(run["exact"] for run in runs),
            }
        )
    return rows


def count_at_once(add, *, threads: int, counts: int) -> dict:
    """``threads`` threads each call ``add(key, 1, expires_at=...)`` ``counts`` times on one fresh key."""
    from django.db import connections

    key = f"limits:bench:{uuid.uuid4().hex}:203.0.113.7"
    expires_at = int(time.time()) + 3600
    start = threading.Barrier(threads + 1)
    last_counts, durations = [], []

    def count_many() -> None:
        start.wait()
        try:
            for _ in range(counts):
                began = time.perf_counter()
                last = add(key, 1, expires_at=expires_at)
                durations.append(time.perf_counter() - began)
            last_counts.append(last)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(threads) as pool:
        workers = [pool.submit(count_many) for _ in range(threads)]
        start.wait()
        began = time.perf_counter()
        for worker in workers:
            worker.result()
        elapsed = time.perf_counter() - began
    return {
        "per_second": threads * counts / elapsed,
        "p50_ms": 1000 * statistics.median(durations),
        "p99_ms": 1000 * statistics.quantiles(durations, n=100)[98],
        "exact": max(last_counts) == threads * counts,
    }


def cache_counting(cache):
    """How django-ratelimit counted one request on ``cache``: add the key at 1, else incr it."""

    def add(key: str, amount: int, *, expires_at: int) -> int:
        if cache.add(key, amount, expires_at - int(time.time())):
            return amount
        return cache.incr(key, amount)

    return add


def locked_database_cache():
    """The DatabaseCache that held the counters until predictor/ops/counters.py (its incr() as it was)."""
    from django.core.cache.backends.db import DatabaseCache
    from django.db import connections, router, transaction

    class LockedDatabaseCache(DatabaseCache):
        def incr(self, key, delta=1, version=None):
            database = router.db_for_write(self.cache_model_class)
            connection = connections[database]
            quote = connection.ops.quote_name
            table, stored_key = quote(self._table), self.make_and_validate_key(key, version=version)
            lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
            with transaction.atomic(using=database), connection.cursor() as cursor:
                select = "SELECT 1 FROM {} WHERE {} = %s{}".format(table, quote("cache_key"), lock)  # nosec B608
                cursor.execute(select, [stored_key])
                value = self.get(key, version=version)
                if value is None:
                    raise ValueError(f"Key '{key}' not found")
                value += delta
                pickled = base64.b64encode(pickle.dumps(value, self.pickle_protocol)).decode("latin1")
                update = "UPDATE {} SET {} = %s WHERE {} = %s".format(  # nosec B608
                    table, quote("value"), quote("cache_key")
                )
                cursor.execute(update, [pickled, stored_key])
            return value

    return LockedDatabaseCache(BEFORE_TABLE, {"OPTIONS": {"MAX_ENTRIES": 100_000}})


if __name__ == "__main__":
    main()
