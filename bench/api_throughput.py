"""Throughput of the JSON API's single predictions against gunicorn, measured with wrk on the same machine.

wrk POSTs one JSON prediction to ``POST /api/v1/predict`` per request (serving_comparison/post.lua),
kept-alive connections, rate limits set too high to refuse anything; every answer is stored. Prints
predictions per second, rows stored and p50/p99 latency. ``--site DIR`` serves another checkout of
the project (a git worktree of an older commit, as throughput_commits.py --api makes) with that
checkout's own code and live-server helpers; the wrk script is this checkout's.

    python bench/api_throughput.py [--workers 2] [--connections 16] [--duration 15] [--site DIR]
"""

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "serving_comparison" / "post.lua"
BODY = {"height_cm": 82.0, "weight_kg": 44.0}  # the animal serving_comparison.py times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--site", default=str(HERE.parent), help="checkout of the project to serve")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", ""))
    parser.add_argument("--warm-up", type=int, default=2, help="seconds of wrk before the timed run")
    # The site's own helpers, from the checkout being served.
    site = argparse.ArgumentParser(add_help=False)
    site.add_argument("--site", default=str(HERE.parent))
    sys.path.insert(0, str(Path(site.parse_known_args()[0].site).resolve()))
    from bench.server import add_wrk_arguments, parse_wrk_arguments, running_server

    add_wrk_arguments(parser)
    args = parse_wrk_arguments(parser)

    def wrk(base_url: str, duration: int) -> dict[str, str]:
        env = {**os.environ, "BODY": json.dumps(BODY), "CLOSE": "0"}
        command = ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{duration}s", "--latency"]
        command += ["-s", str(SCRIPT), base_url + "/api/v1/predict"]
        completed = subprocess.run(command, env=env, capture_output=True, text=True)
        if completed.returncode != 0 or "RESULT" not in completed.stdout:
            raise RuntimeError(f"wrk failed:\n{completed.stdout}\n{completed.stderr}")
        return dict(re.findall(r"(\w+)=([\d.]+)", completed.stdout))

    def rows(server) -> int:
        return server.query("SELECT COUNT(*) FROM predictor_prediction")[0][0]

    with running_server(workers=args.workers, database_url=args.database_url) as server:
        wrk(server.base_url, args.warm_up)  # every worker warm: model loaded, connections open
        before = rows(server)
        result = wrk(server.base_url, args.duration)
        time.sleep(0.5)  # the answers to wrk's last requests are stored too
        stored = rows(server) - before

    answered, seconds = int(result["answered"]), float(result["seconds"])
    failures = int(result["failures"]) + int(result["socket_errors"])
    database = "PostgreSQL" if args.database_url.startswith("postgres") else "SQLite"
    print(f"Site: {Path(args.site).resolve()}, {database}, {args.workers} workers, {args.connections} connections")
    print(f"{answered / seconds:,.0f} predictions/s ({answered:,} answers in {seconds:.1f} s, {failures} failures)")
    print(f"{stored / seconds:,.0f} rows stored/s")
    print(f"p50 {float(result['p50_ms']):.1f} ms, p99 {float(result['p99_ms']):.1f} ms")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
