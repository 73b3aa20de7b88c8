"""The real site under gunicorn for the benchmarks, and the options of the wrk benchmarks.

Starting the site on a throw-away database and artifact folder is shared with the tests that need
a real server: it lives in predictor/tests/live_server.py and is re-exported here. This module adds
what only the benchmarks use: any WSGI app under gunicorn, and wrk's command line.
"""

import argparse
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from predictor.tests.live_server import (
    PROJECT_DIR,
    Server,
    free_port,
    running_server,
    start_gunicorn,
    stop,
    throwaway_site_settings,
    wait_until_up,
)

# The benchmarks import all of these from here.
__all__ = [
    "Server",
    "add_wrk_arguments",
    "parse_wrk_arguments",
    "running_server",
    "serving_app",
    "throwaway_site_settings",
]


def add_wrk_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of the wrk benchmarks: gunicorn workers and wrk's connections, threads and duration."""
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--duration", type=int, default=15, help="seconds")


def parse_wrk_arguments(parser: argparse.ArgumentParser) -> argparse.Namespace:
    """Parse the command line of a wrk benchmark; stop with a hint when wrk is not installed."""
    args = parser.parse_args()
    if not shutil.which("wrk"):
        parser.exit(2, "wrk is not installed: apt-get install wrk\n")
    return args


@contextmanager
def serving_app(
    app: str, env: dict[str, str], *, workers: int, log_dir: Path, cwd: Path = PROJECT_DIR
) -> Iterator[str]:
    """Any WSGI ``app`` (module:callable) under gunicorn on a free loopback port; yields its URL."""
    port = free_port()
    process, log_path = start_gunicorn(env, port=port, workers=workers, log_dir=log_dir, app=app, cwd=cwd)
    try:
        base_url = f"http://127.0.0.1:{port}"
        wait_until_up(base_url, process, log_path)
        yield base_url
    finally:
        stop(process)
