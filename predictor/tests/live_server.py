"""Start the real site under gunicorn on loopback, on a throw-away database and artifact folder.

Used by the tests that need a real server (marked slow) and by the benchmarks in bench/, which
import it from here. With a PostgreSQL DATABASE_URL, a fresh database is created beside the given
one and dropped afterwards. With ``s3`` (a predictor.tests.s3_server.S3Server), the site keeps its
artifacts and uploads in that bucket, under a prefix of its own, instead of its folder.
"""

import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

if TYPE_CHECKING:
    from predictor.tests.s3_server import S3Server

PROJECT_DIR = Path(__file__).resolve().parents[2]
GUNICORN_CONFIG = PROJECT_DIR / "gunicorn.conf.py"


GENEROUS_LIMITS = {
    "RATE_LIMIT_PREDICTIONS_PER_MINUTE": "100000000",
    "RATE_LIMIT_BATCH_ROWS_PER_HOUR": "100000000000",
    "RATE_LIMIT_LOGINS_PER_HOUR": "100000000",
    "RATE_LIMIT_API_KEY_FAILURES_PER_MINUTE": "100000000",
    "RATE_LIMIT_PASSWORD_RESETS_PER_HOUR": "100000000",
    "LOGIN_FAILURE_LIMIT": "100000000",
}


@dataclass(frozen=True)
class Server:
    base_url: str
    env: dict[str, str]
    database: str  # SQLite file path or PostgreSQL URL
    workdir: Path
    process: subprocess.Popen | None = None

    def manage(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=PROJECT_DIR,
            env=self.env,
            check=check,
            capture_output=True,
            text=True,
            timeout=300,
        )

    def query(self, sql: str) -> list[tuple]:
        """Rows straight from the database, bypassing Django: what is really stored."""
        if self.database.startswith("postgres"):
            import psycopg

            with psycopg.connect(self.database) as connection:
                return connection.execute(sql).fetchall()
        import sqlite3

        with sqlite3.connect(self.database, timeout=30) as connection:
            return connection.execute(sql).fetchall()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def temporary_postgres_database(base_url: str) -> Iterator[str]:
    import psycopg

    name = f"mlsite_bench_{uuid.uuid4().hex[:10]}"
    parts = urlsplit(base_url)
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(admin_url, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def running_server(
    *,
    workers: int = 4,
    database_url: str = "",
    extra_env: dict[str, str] | None = None,
    train: bool = True,
    access_log: bool = False,
    s3: "S3Server | None" = None,
) -> Iterator[Server]:
    if s3 is not None:
        # A prefix of its own: sites started one after another never see each other's files.
        extra_env = {**s3.site_env(prefix=f"site-{uuid.uuid4().hex[:10]}"), **(extra_env or {})}
    with tempfile.TemporaryDirectory(prefix="mlsite-server-") as workdir:
        if database_url.startswith("postgres"):
            with temporary_postgres_database(database_url) as url:
                yield from _serve(Path(workdir), url, workers, extra_env, train, access_log)
        else:
            yield from _serve(Path(workdir), "", workers, extra_env, train, access_log)


def throwaway_site_settings(workdir: Path) -> dict[str, str]:
    """The site's settings for a throw-away copy in ``workdir``: DEBUG off, plain HTTP on loopback."""
    return {
        "DJANGO_DEBUG": "0",
        "DJANGO_READ_DOT_ENV": "0",  # a developer's .env must not reach a throw-away copy
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_SECURE_SSL_REDIRECT": "0",
        "DJANGO_SESSION_COOKIE_SECURE": "0",
        "DJANGO_CSRF_COOKIE_SECURE": "0",
        "DJANGO_SECURE_HSTS_SECONDS": "0",
        "DJANGO_SQLITE_PATH": str(workdir / "db.sqlite3"),
        "DJANGO_STATIC_ROOT": str(workdir / "static"),
        "DJANGO_LOG_LEVEL": "WARNING",
        "ML_ARTIFACTS_DIR": str(workdir / "artifacts"),
        # Load tests send thousands of requests from one address: limits counted as in production,
        # set too high to refuse them. A test of the limits passes its own in extra_env.
        **GENEROUS_LIMITS,
    }


def _serve(workdir: Path, database_url: str, workers: int, extra_env, train: bool, access_log: bool):
    settings = throwaway_site_settings(workdir)
    sqlite_path = settings["DJANGO_SQLITE_PATH"]
    # A developer's own settings and cloud credentials never reach a throw-away copy (extra_env may pass them).
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "DATABASE_URL", "ML_", "AWS_"))
    }
    env.update(settings, PYTHONUNBUFFERED="1")
    if database_url:
        env["DATABASE_URL"] = database_url
    env.update(extra_env or {})
    port = free_port()
    server = Server(base_url=f"http://127.0.0.1:{port}", env=env, database=database_url or sqlite_path, workdir=workdir)
    # One interpreter for the set-up steps: each start-up costs seconds on a busy machine.
    steps = ["call_command('migrate', interactive=False, verbosity=0)"]
    steps.append("call_command('collectstatic', interactive=False, verbosity=0)")
    if train:
        steps.append("call_command('train_model', stdout=open(os.devnull, 'w'))")
    server.manage("shell", "-c", "import os; from django.core.management import call_command; " + "; ".join(steps))
    process, log_path = start_gunicorn(env, port=port, workers=workers, log_dir=workdir, access_log=access_log)
    server = replace(server, process=process)
    try:
        wait_until_up(server.base_url, process, log_path)
        yield server
    finally:
        stop(process)


def start_gunicorn(
    env: dict[str, str],
    *,
    port: int,
    workers: int,
    log_dir: Path,
    access_log: bool = False,
    app: str = "mlsite.wsgi",
    cwd: Path = PROJECT_DIR,
) -> tuple[subprocess.Popen, Path]:
    # The site's own gunicorn settings (gunicorn.conf.py), as `make serve` runs them.
    command = [sys.executable, "-m", "gunicorn", "--config", str(GUNICORN_CONFIG), app, "--bind", f"127.0.0.1:{port}"]
    command += ["--workers", str(workers)]
    env = {**env, "WEB_ACCESS_LOG": "-" if access_log else ""}
    log_path = log_dir / f"gunicorn-{port}.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
    return process, log_path


def stop(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def wait_until_up(base_url: str, process: subprocess.Popen, log_path: Path, timeout: float = 60) -> None:
    """Wait until the server answers HTTP at all (any status: a 503 is an answer too)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode}:\n{log_path.read_text()}")
        try:
            with urllib.request.urlopen(base_url + "/", timeout=2):
                return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not answer within {timeout} s:\n{log_path.read_text()}")
