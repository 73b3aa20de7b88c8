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
import shutil
import subprocess
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.load_test import BrowserLikeClient
from bench.server import add_wrk_arguments, running_server

SCRIPT = Path(__file__).resolve().parent / "submit.lua"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_wrk_arguments(parser)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", ""))
    args = parser.parse_args()
    if not shutil.which("wrk"):
        print("wrk is not installed: apt-get install wrk")
        return 2

    with running_server(workers=args.workers, database_url=args.database_url) as server:
        client = BrowserLikeClient(server.base_url)
        client.open_form()
        for _ in range(50):  # warm every worker: model loaded, templates compiled
            client.submit(80, 40)
        before = server.query("SELECT COUNT(*) FROM predictor_prediction")[0][0]
        env = {**os.environ, "CSRF_TOKEN": client.token, "CSRF_COOKIE": client.cookie.split("=", 1)[1]}
        command = ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{args.duration}s", "-s", str(SCRIPT)]
        completed = subprocess.run(
            [*command, "--latency", server.base_url + "/"], env=env, capture_output=True, text=True
        )
        if completed.returncode != 0:
            print(completed.stdout, completed.stderr)
            return 1
        output = completed.stdout
        stored = server.query("SELECT COUNT(*) FROM predictor_prediction")[0][0] - before

    result = dict(re.findall(r"(\w+)=([\d.]+)", output))
    seconds = float(result["seconds"])
    database = "PostgreSQL" if args.database_url.startswith("postgres") else "SQLite"
    print(
        f"{database}, gunicorn {args.workers} workers, wrk {args.connections} connections, {seconds:.0f} s: "
        f"{int(result['results']) / seconds:,.0f} predictions/s (result pages in hand), "
        f"{stored / seconds:,.0f} rows stored/s, request latency p50 {float(result['p50_ms']):.1f} ms, "
        f"p99 {float(result['p99_ms']):.1f} ms, failures {result['failures']}"
    )
    return 1 if int(result["failures"]) else 0


if __name__ == "__main__":
    sys.exit(main())
