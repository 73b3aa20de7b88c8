"""Throughput of form submissions against gunicorn, measured with wrk on the same machine.

A prediction counts once its result page is in hand; the form's POST answers with it, so one
request is one prediction. Prints predictions per second, rows stored per second and p50/p99
latency.

    python bench/throughput.py [--workers 2] [--connections 16] [--duration 15]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres python bench/throughput.py
"""

import argparse
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.load_test import BrowserLikeClient
from bench.server import Server, add_wrk_arguments, parse_wrk_arguments, running_server

SCRIPT = Path(__file__).resolve().parent / "submit.lua"


@dataclass(frozen=True)
class WrkRun:
    answered: int  # 200 responses
    failures: int  # any other status
    seconds: float
    p50_ms: float
    p99_ms: float

    @property
    def per_second(self) -> float:
        return self.answered / self.seconds


def submit_with_wrk(
    base_url: str, args: argparse.Namespace, *, path: str = "/", csrf: tuple[str, str] = ("-", "-")
) -> WrkRun:
    """POST form submissions to ``path`` (bench/submit.lua), each with a submission key of its own."""
    env = {**os.environ, "CSRF_TOKEN": csrf[0], "CSRF_COOKIE": csrf[1], "SUBMIT_PATH": path}
    command = ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{args.duration}s", "-s", str(SCRIPT)]
    completed = subprocess.run([*command, "--latency", base_url + path], env=env, capture_output=True, text=True)
    if completed.returncode != 0 or "RESULT" not in completed.stdout:
        raise RuntimeError(f"wrk failed:\n{completed.stdout}\n{completed.stderr}")
    result = dict(re.findall(r"(\w+)=([\d.]+)", completed.stdout))
    return WrkRun(
        answered=int(result["results"]),
        failures=int(result["failures"]),
        seconds=float(result["seconds"]),
        p50_ms=float(result["p50_ms"]),
        p99_ms=float(result["p99_ms"]),
    )


def submit_to_site(server: Server, args: argparse.Namespace, *, path: str = "/") -> tuple[WrkRun, int]:
    """Warm every worker through the real form, then let wrk submit to ``path``; returns the rows stored too."""
    client = BrowserLikeClient(server.base_url)
    client.open_form()
    for _ in range(50):  # warm every worker: model loaded, templates compiled
        client.submit(80, 40)
    before = server.query("SELECT COUNT(*) FROM predictor_prediction")[0][0]
    run = submit_with_wrk(server.base_url, args, path=path, csrf=(client.token, client.cookie.split("=", 1)[1]))
    return run, server.query("SELECT COUNT(*) FROM predictor_prediction")[0][0] - before


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_wrk_arguments(parser)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", ""))
    args = parse_wrk_arguments(parser)

    with running_server(workers=args.workers, database_url=args.database_url) as server:
        run, stored = submit_to_site(server, args)

    database = "PostgreSQL" if args.database_url.startswith("postgres") else "SQLite"
    print(
        f"{database}, gunicorn {args.workers} workers, wrk {args.connections} connections, {run.seconds:.0f} s: "
        f"{run.per_second:,.0f} predictions/s (result pages in hand), "
        f"{stored / run.seconds:,.0f} rows stored/s, request latency p50 {run.p50_ms:.1f} ms, "
        f"p99 {run.p99_ms:.1f} ms, failures {run.failures}"
    )
    return 1 if run.failures else 0


if __name__ == "__main__":
    sys.exit(main())
