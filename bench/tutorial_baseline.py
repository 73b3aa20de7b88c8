"""The yardstick: the original Flask tutorial app under gunicorn, measured with wrk like ours.

Trains GaussianNB on the shipped data set, pickles it with joblib, serves bench/tutorial_app with
gunicorn and fires the same form POSTs at it as bench/throughput.py does at this site. Needs Flask
(requirements-dev.txt) and wrk.

    python bench/tutorial_baseline.py [--workers 2] [--connections 16] [--duration 15]
"""

import argparse
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import joblib
import pandas as pd
from sklearn.naive_bayes import GaussianNB

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.server import add_wrk_arguments, parse_wrk_arguments, serving_app
from bench.throughput import submit_with_wrk

APP_DIR = Path(__file__).resolve().parent / "tutorial_app"
DATA = Path(__file__).resolve().parent.parent / "predictor" / "data" / "animals.csv"


@contextmanager
def serving_tutorial_app(workers: int) -> Iterator[str]:
    """The seed app under gunicorn on loopback, with its pickle in a throw-away folder; yields its URL."""
    with tempfile.TemporaryDirectory(prefix="tutorial-") as workdir:
        data = pd.read_csv(DATA)
        model_path = Path(workdir) / "clf.pkl"
        joblib.dump(GaussianNB().fit(data[["Height", "Weight"]], data["Species"]), model_path)
        env = {**os.environ, "TUTORIAL_MODEL_PATH": str(model_path)}
        with serving_app("app:app", env, workers=workers, log_dir=Path(workdir), cwd=APP_DIR) as base_url:
            yield base_url


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_wrk_arguments(parser)
    args = parse_wrk_arguments(parser)

    with serving_tutorial_app(args.workers) as base_url:
        run = submit_with_wrk(base_url, args)
    print(
        f"Flask tutorial app, gunicorn {args.workers} workers, wrk {args.connections} connections, "
        f"{run.seconds:.0f} s: {run.per_second:,.0f} predictions/s (nothing stored), "
        f"latency p50 {run.p50_ms:.1f} ms, p99 {run.p99_ms:.1f} ms, failures {run.failures}"
    )
    return 1 if run.failures else 0


if __name__ == "__main__":
    sys.exit(main())
