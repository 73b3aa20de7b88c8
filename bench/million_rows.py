"""Page times with a large history: results page, admin changelist, CSV export.

    python bench/million_rows.py --rows 1000000            # builds a throw-away SQLite database
    python bench/million_rows.py --database /tmp/big.db    # reuses one (filled up to --rows)

Times are server-side (Django's test client, no network), best of 3 after a warm-up request.
"""

import argparse
import io
import os
import resource
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--database", help="SQLite file to use (default: a temporary one)")
    parser.add_argument("--skip-export", action="store_true")
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="mlsite-million-")
    os.environ.update(
        DJANGO_SETTINGS_MODULE="mlsite.settings",
        DJANGO_DEBUG="0",
        DJANGO_SECRET_KEY="benchmark-only-" + "x" * 40,
        DJANGO_SECURE_SSL_REDIRECT="0",
        DJANGO_SQLITE_PATH=args.database or str(Path(workdir) / "db.sqlite3"),
        ML_ARTIFACTS_DIR=str(Path(args.database).parent / "bench_artifacts") if args.database else workdir,
        DJANGO_LOG_LEVEL="WARNING",
    )
    os.environ.pop("DATABASE_URL", None)
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.test import Client
    from django.test.utils import override_settings

    from predictor.models import ModelVersion, Prediction

    call_command("migrate", verbosity=0)
    if not ModelVersion.objects.active().exists():
        call_command("train_model", stdout=io.StringIO())
    missing = args.rows - Prediction.objects.count()
    if missing > 0:
        started = time.perf_counter()
        call_command("populate_history", "--count", str(missing), stdout=io.StringIO())
        print(f"populate_history --count {missing}: {time.perf_counter() - started:.1f} s")
    total = Prediction.objects.count()
    print(f"history: {total:,} predictions")

    user, _ = get_user_model().objects.get_or_create(username="bench-staff", defaults={"is_staff": True})
    user.is_staff = user.is_superuser = True
    user.save()
    storages = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    with override_settings(STORAGES=storages):
        client = Client(HTTP_HOST="localhost")
        client.force_login(user)
        version = ModelVersion.objects.active().get()
        today = Prediction.objects.in_order().first().created_at
        pages = {
            "results page, first page": "/predictions/",
            "results page, last page (oldest first)": "/predictions/?sort=time",
            "results page, Cat only": "/predictions/?species=Cat",
            # Sorts with no index of their own (predictor/models/history.py, SORT_FIELDS): the top page of a scan.
            "results page, heaviest first": "/predictions/?sort=-weight",
            "results page, least sure first": "/predictions/?sort=probability",
            "results page, Cat, tallest first": "/predictions/?species=Cat&sort=-height",
            "model versions page": "/models/",
            "admin changelist": "/admin/predictor/prediction/",
            "admin, filtered by species": "/admin/predictor/prediction/?species=Cat",
            "admin, filtered by version": f"/admin/predictor/prediction/?model_version__id__exact={version.pk}",
            "admin, one day": (
                f"/admin/predictor/prediction/?created_at__day={today.day}"
                f"&created_at__month={today.month}&created_at__year={today.year}"
            ),
            "admin, source": "/admin/predictor/prediction/?source__exact=api",
            "admin, species and source": "/admin/predictor/prediction/?species=Cat&source__exact=form",
            "admin, labelled Cat": "/admin/predictor/prediction/?actual_species__exact=Cat",
            "admin, not labelled": "/admin/predictor/prediction/?actual_species__isnull=True",
            "admin, past 7 days": (
                f"/admin/predictor/prediction/?created_at__gte={(today - timedelta(days=7)).date()}+00:00:00%2B00:00"
                f"&created_at__lt={(today + timedelta(days=1)).date()}+00:00:00%2B00:00"
            ),
            "admin, search Dog": "/admin/predictor/prediction/?q=Dog",
            "admin, last page": "/admin/predictor/prediction/?p=9999",
        }
        for label, url in pages.items():
            times = []
            status = None
            for _ in range(4):
                started = time.perf_counter()
                response = client.get(url)
                times.append((time.perf_counter() - started) * 1000)
                status = response.status_code
            print(f"{label:32} {min(times[1:]):7.0f} ms (median {statistics.median(times[1:]):.0f})  HTTP {status}")

        if not args.skip_export:
            before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            started = time.perf_counter()
            response = client.post(
                "/admin/predictor/prediction/",
                {"action": "export_csv", "select_across": "1", "_selected_action": ["1"], "index": "0"},
            )
            size = lines = 0
            for chunk in response.streaming_content:
                size += len(chunk)
                lines += chunk.count(b"\n")
            elapsed = time.perf_counter() - started
            grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
            print(
                f"CSV export: {lines - 1:,} rows, {size / 1e6:.0f} MB in {elapsed:.1f} s; "
                f"peak memory grew {grown:.0f} MB"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
