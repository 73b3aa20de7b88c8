"""What this machine allows: the same wrk form submissions against less and more work per request.

One run, one machine, one load, five servers (gunicorn, 2 workers by default):

1. gunicorn alone: a bare WSGI app that reads the POST and answers a fixed page;
2. this site's Django stack (settings, middleware, CSRF check) with a bare view that scores the
   animal and answers one line, storing nothing;
3. the same bare view storing the row (``history.record_prediction``);
4. this site's form: validation, storing, the result page;
5. the seed Flask tutorial app (nothing stored).

Machines differ from day to day; the rungs of one run show where a request's time goes and what
the slowest necessary parts cap the rate at. Needs wrk and Flask (requirements-dev.txt).

    python bench/throughput_ladder.py [--workers 2] [--connections 16] [--duration 15]
"""

import argparse
import os
import sys
import tempfile
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.server import add_wrk_arguments, parse_wrk_arguments, running_server, serving_app
from bench.throughput import WrkRun, submit_to_site, submit_with_wrk
from bench.tutorial_baseline import serving_tutorial_app


def bare_gunicorn(args: argparse.Namespace) -> WrkRun:
    with tempfile.TemporaryDirectory(prefix="bare-wsgi-") as workdir:
        app, env = "bench.floor_site.bare_wsgi", dict(os.environ)
        with serving_app(app, env, workers=args.workers, log_dir=Path(workdir)) as base_url:
            return submit_with_wrk(base_url, args)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_wrk_arguments(parser)
    args = parse_wrk_arguments(parser)

    rungs: list[tuple[str, WrkRun, int | None]] = [("gunicorn alone, bare WSGI app", bare_gunicorn(args), None)]
    floor_settings = {"DJANGO_SETTINGS_MODULE": "bench.floor_site.settings"}
    with running_server(workers=args.workers, extra_env=floor_settings) as server:
        for label, path in [
            ("Django stack, bare view, scores, stores nothing", "/floor/score/"),
            ("Django stack, bare view, scores, stores the row", "/floor/store/"),
            ("This site's form (SQLite): validates, stores, result page", "/"),
        ]:
            run, stored = submit_to_site(server, args, path=path)
            rungs.append((label, run, stored))
    with serving_tutorial_app(args.workers) as base_url:
        rungs.append(("The seed Flask tutorial app, nothing stored", submit_with_wrk(base_url, args), None))

    print(f"gunicorn {args.workers} workers, wrk {args.threads} threads {args.connections} connections, ", end="")
    print(f"{args.duration} s each, form POSTs")
    print(f"| {'Server':60} | Answers/s | Rows stored/s | p50 ms | p99 ms | Failures |")
    print(f"| {'-' * 60} | --------: | ------------: | -----: | -----: | -------: |")
    for label, run, stored in rungs:
        rows = "" if stored is None else f"{stored / run.seconds:,.0f}"
        print(
            f"| {label:60} | {run.per_second:9,.0f} | {rows:>13} | {run.p50_ms:6.1f} | {run.p99_ms:6.1f} "
            f"| {run.failures:8} |"
        )
    return 1 if any(run.failures for _, run, _ in rungs) else 0


if __name__ == "__main__":
    sys.exit(main())
