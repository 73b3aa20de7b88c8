"""Backup and restore of a site with N predictions: time, peak memory and size of the backup.

    python bench/backup.py --rows 1000000                       # throw-away SQLite sites
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres python bench/backup.py --rows 1000000

Fills a throw-away site (train, `populate_history --count N`), runs `manage.py backup_site` on it,
then `manage.py migrate` and `manage.py restore_site` on a second, empty one (on PostgreSQL: two
fresh databases beside DATABASE_URL, dropped afterwards), each command in its own process, whose
peak resident memory is the kernel's count (wait4). Run it with two row counts to see that memory
does not grow with the rows.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from predictor.tests.live_server import PROJECT_DIR, temporary_postgres_database, throwaway_site_settings  # noqa: E402


def run(env: dict[str, str], *args: str) -> tuple[float, float, str]:
    """Run one manage.py command; return its seconds, its peak memory in MB and its output."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "manage.py", *args], cwd=PROJECT_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    output = process.stdout.read().decode()
    _pid, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"manage.py {' '.join(args)} failed:\n{output}")
    return seconds, usage.ru_maxrss / 1024, output


def site_env(workdir: Path, database_url: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "DATABASE_URL", "ML_"))}
    env.update(throwaway_site_settings(workdir), BATCH_UPLOADS_DIR=str(workdir / "uploads"))
    # Each throw-away site has a secret key of its own; a restore needs the key that signed the backup.
    env["DJANGO_BACKUP_SIGNING_KEY"] = "bench/backup.py: the same backup key on both sites"
    if database_url:
        env["DATABASE_URL"] = database_url
    return env


def count_rows(env: dict[str, str]) -> str:
    script = "from predictor.models import Prediction; print(Prediction.objects.count())"
    return run(env, "shell", "-c", script)[2].strip().splitlines()[-1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--keep", action="store_true", help="keep the work folder (its path is printed)")
    args = parser.parse_args()
    base_url = os.environ.get("DATABASE_URL", "")
    postgres = base_url.startswith("postgres")
    workdir = Path(tempfile.mkdtemp(prefix="mlsite-backup-bench-"))
    with ExitStack() as stack:
        old_url = stack.enter_context(temporary_postgres_database(base_url)) if postgres else ""
        new_url = stack.enter_context(temporary_postgres_database(base_url)) if postgres else ""
        old = site_env(workdir / "old", old_url)
        new = site_env(workdir / "new", new_url)
        for folder in (workdir / "old", workdir / "new"):
            folder.mkdir()
        print(f"database: {'PostgreSQL' if postgres else 'SQLite'}, {args.rows:,} predictions, work folder {workdir}")

        run(old, "migrate", "--noinput", "-v0")
        run(old, "train_model")
        seconds, _, _ = run(old, "populate_history", "--count", str(args.rows))
        print(f"filled in {seconds:.1f} s")

        backup_dir = workdir / "backup"
        seconds, memory, _ = run(old, "backup_site", str(backup_dir))
        size = sum(path.stat().st_size for path in backup_dir.rglob("*") if path.is_file()) / 1e6
        print(f"backup_site:  {seconds:6.1f} s, peak memory {memory:5.0f} MB, backup {size:,.0f} MB")

        run(new, "migrate", "--noinput", "-v0")
        seconds, memory, _ = run(new, "restore_site", str(backup_dir))
        print(f"restore_site: {seconds:6.1f} s, peak memory {memory:5.0f} MB")

        restored, original = count_rows(new), count_rows(old)
        print(f"predictions: {original} backed up, {restored} restored")
        if restored != original:
            return 1
    if args.keep:
        print(f"kept {workdir}")
    else:
        shutil.rmtree(workdir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
