"""Time a CSV batch upload end to end: upload → check → predict → store → results ready to download.

Runs the real site in-process (Django test client, staff session) against a temporary SQLite
file and temporary artifact and upload folders; db.sqlite3, ml_artifacts/ and batch_uploads/
are never touched. Usage: .venv/bin/python bench/batch_upload.py [ROWS ...]  (default 10k 100k 1M)
"""

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

BASE_DIR = Path(__file__).resolve().parent.parent
WORKDIR = Path(tempfile.mkdtemp(prefix="bench-batch-"))
os.environ.update(
    DJANGO_SETTINGS_MODULE="mlsite.settings",
    DJANGO_DEBUG="1",
    DJANGO_SQLITE_PATH=str(WORKDIR / "bench.sqlite3"),
    ML_ARTIFACTS_DIR=str(WORKDIR / "ml_artifacts"),
    BATCH_UPLOADS_DIR=str(WORKDIR / "batch_uploads"),
    DJANGO_LOG_LEVEL="WARNING",
)
sys.path.insert(0, str(BASE_DIR))

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.test import Client  # noqa: E402

from predictor.models import Prediction  # noqa: E402
from predictor.registry import training  # noqa: E402

TARGET_SECONDS = {100_000: 3.0}


def make_csv(rows: int) -> bytes:
    rng = np.random.default_rng(rows)
    heights = rng.uniform(5, 120, rows).round(1)
    weights = rng.uniform(1, 90, rows).round(2)
    lines = ["id,Height,Weight"]
    lines.extend(
        f"a{index},{h},{w}" for index, (h, w) in enumerate(zip(heights.tolist(), weights.tolist(), strict=True))
    )
    return ("\n".join(lines) + "\n").encode()


def main(sizes: list[int]) -> None:
    call_command("migrate", verbosity=0)
    training.train()
    staff = get_user_model().objects.create_user("bench", password="unused", is_staff=True)
    client = Client(HTTP_HOST="localhost")
    client.force_login(staff)
    say(f"Temporary SQLite database: {WORKDIR / 'bench.sqlite3'} (removed at the end)")
    say(f"{'rows':>10} {'file MB':>8} {'upload→ready s':>15} {'(CPU s)':>8} {'rows/s':>10} {'download s':>11}")
    for rows in sizes:
        content = make_csv(rows)
        upload = _upload_file(content)
        before = Prediction.objects.count()
        started, cpu_started = time.perf_counter(), time.process_time()
        response = client.post("/predictions/upload/", {"file": upload})
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        if response.status_code != 302:
            raise SystemExit(f"upload of {rows} rows answered {response.status_code}: {response.content[:500]!r}")
        stored = Prediction.objects.count() - before
        if stored != rows:
            raise SystemExit(f"expected {rows} stored rows, found {stored}")
        started = time.perf_counter()
        download = client.get(response["Location"] + "results.csv")
        size = sum(len(chunk) for chunk in download.streaming_content)
        download_seconds = time.perf_counter() - started
        target = TARGET_SECONDS.get(rows)
        verdict = "" if target is None else (" (target < 3 s: met)" if elapsed < target else " (target < 3 s: MISSED)")
        say(
            f"{rows:>10,} {len(content) / 1e6:>8.1f} {elapsed:>15.2f} {cpu:>8.2f} {rows / elapsed:>10,.0f} "
            f"{download_seconds:>11.2f}{verdict}  [{size / 1e6:.1f} MB results]"
        )


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _upload_file(content: bytes):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("bench.csv", content, content_type="text/csv")


if __name__ == "__main__":
    try:
        main([int(arg) for arg in sys.argv[1:]] or [10_000, 100_000, 1_000_000])
    finally:
        shutil.rmtree(WORKDIR, ignore_errors=True)
