"""How fast the results page and its CSV export are with a million stored predictions.

Run: .venv/bin/python bench/history_page.py [--rows 1000000]

Builds a throw-away SQLite database in a temporary folder (never db.sqlite3), fills it with
predictions spread over a year, then times whole requests through Django's test client as a staff
user: the first page, a filtered and sorted page, a page deep in the order, and the CSV export of
every row (with the growth of the process's peak memory while it streams).
"""

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--keep", type=Path, help="keep the database in this folder and reuse it on the next run")
    args = parser.parse_args()

    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        run(args, args.keep)
        return
    with tempfile.TemporaryDirectory(prefix="history-bench-") as folder:
        run(args, Path(folder))


def run(args: argparse.Namespace, folder: Path) -> None:
    os.environ.update(
        DJANGO_SETTINGS_MODULE="mlsite.settings",
        DJANGO_SECRET_KEY="bench-only-secret-key-0123456789abcdefghijklmnopqrstuvwxyz",
        DJANGO_DEBUG="0",
        DJANGO_SECURE_SSL_REDIRECT="0",
        DJANGO_ALLOWED_HOSTS="testserver",
        DJANGO_SQLITE_PATH=str(folder / "bench.sqlite3"),
        ML_ARTIFACTS_DIR=str(folder / "ml_artifacts"),
        DJANGO_LOG_LEVEL="WARNING",
    )
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection, transaction
    from django.test import Client
    from django.utils import timezone

    from predictor.models import Prediction
    from predictor.registry import training

    call_command("migrate", verbosity=0)
    if not Prediction.objects.exists():  # with --keep, the second run reuses the rows
        version = training.train().version
        started = time.perf_counter()
        now = timezone.now().timestamp()
        with transaction.atomic(), connection.cursor() as cursor:
            # Generated inside SQLite: pseudo-random but repeatable heights, weights and times over a year.
            cursor.execute(
                """
                WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %s)
                INSERT INTO predictor_prediction
                    (created_at, model_id, inputs, species, probability, probabilities, model_version_id, source)
                SELECT
                    datetime(%s - (i * 31536000 / %s), 'unixepoch'),
                    %s,
                    json_object('height', 40 + (i * 7919 % 600) / 10.0, 'weight', 10 + (i * 104729 % 400) / 10.0),
                    CASE WHEN i % 3 = 0 THEN 'Dog' ELSE 'Cat' END,
                    0.5 + (i % 50) / 100.0,
                    '{"Cat": 0.5, "Dog": 0.5}',
                    %s,
                    'form'
                FROM n
                """,
                [args.rows, now, args.rows, version.model_id, version.pk],
            )
            cursor.execute("ANALYZE")
        print(f"{Prediction.objects.count():,} predictions stored in {time.perf_counter() - started:.1f} s")

    user = get_user_model().objects.filter(username="bench").first() or get_user_model().objects.create_superuser(
        "bench", "bench@example.com", "bench-password-0123"
    )
    client = Client()
    client.force_login(user)

    middle = Prediction.objects.order_by("-created_at", "-id")[args.rows // 2]
    deep_cursor = f"{middle.pk}~{middle.created_at.isoformat()}"
    pages = {
        "first page, newest first": {},
        "species=Cat, sorted by height": {"species": "Cat", "sort": "-height"},
        "a 90-day range, sorted by probability": {
            "date_from": (timezone.localdate() - timezone.timedelta(days=120)).isoformat(),
            "date_to": (timezone.localdate() - timezone.timedelta(days=30)).isoformat(),
            "sort": "probability",
        },
        "a page half-way down the order": {"after": deep_cursor},
    }
    print(f"\nGET /predictions/ (median of {args.repeat}, whole request: filters, charts, table)")
    for label, params in pages.items():
        timings = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            response = client.get("/predictions/", params)
            timings.append(time.perf_counter() - started)
            assert response.status_code == 200, response.status_code
        print(f"  {label:40} {statistics.median(timings) * 1000:7.0f} ms")

    rss_before = peak_rss_mib()
    started = time.perf_counter()
    response = client.get("/predictions.csv")
    size = lines = 0
    for chunk in response.streaming_content:
        size += len(chunk)
        lines += chunk.count(b"\n")
    elapsed = time.perf_counter() - started
    print(
        f"\nGET /predictions.csv, every row: {lines - 1:,} rows, {size / 2**20:.0f} MiB in {elapsed:.1f} s; "
        f"peak memory grew by {peak_rss_mib() - rss_before:.0f} MiB"
    )


if __name__ == "__main__":
    main()
