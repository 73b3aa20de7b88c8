"""The yardstick: the original Flask tutorial app under gunicorn, measured with wrk like ours.

Trains GaussianNB on the shipped data set, pickles it with joblib, serves bench/tutorial_app with
gunicorn and fires form POSTs at it. Needs Flask (requirements-dev.txt) and wrk.

    python bench/tutorial_baseline.py [--workers 2] [--connections 16] [--duration 15]
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import joblib
import pandas as pd
from sklearn.naive_bayes import GaussianNB

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.server import add_wrk_arguments, free_port, stop, wait_until_up

APP_DIR = Path(__file__).resolve().parent / "tutorial_app"
DATA = Path(__file__).resolve().parent.parent / "predictor" / "data" / "animals.csv"
POST_SCRIPT = """
wrk.method = "POST"
wrk.body = "height=80&weight=40"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_wrk_arguments(parser)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        print("wrk is not installed: apt-get install wrk")
        return 2

    with tempfile.TemporaryDirectory(prefix="tutorial-") as workdir:
        data = pd.read_csv(DATA)
        model_path = Path(workdir) / "clf.pkl"
        joblib.dump(GaussianNB().fit(data[["Height", "Weight"]], data["Species"]), model_path)
        script = Path(workdir) / "post.lua"
        script.write_text(POST_SCRIPT)
        port = free_port()
        log_path = Path(workdir) / "gunicorn.log"
        command = [sys.executable, "-m", "gunicorn", "app:app", "--bind", f"127.0.0.1:{port}"]
        command += ["--workers", str(args.workers), "--backlog", "4096"]
        env = {**os.environ, "TUTORIAL_MODEL_PATH": str(model_path)}
        with open(log_path, "w") as log:
            process = subprocess.Popen(command, cwd=APP_DIR, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            base_url = f"http://127.0.0.1:{port}"
            wait_until_up(base_url, process, log_path)
            wrk = ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{args.duration}s", "--latency"]
            output = subprocess.run([*wrk, "-s", str(script), base_url + "/"], capture_output=True, text=True).stdout
        finally:
            stop(process)

    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    latency = dict(re.findall(r"\s+(50|99)%\s+([\d.]+\w+)", output))
    print(
        f"Flask tutorial app, gunicorn {args.workers} workers, wrk {args.connections} connections, "
        f"{args.duration} s: {rate:,.0f} predictions/s (nothing stored), latency p50 {latency.get('50')}, "
        f"p99 {latency.get('99')}, non-2xx {errors.group(1) if errors else 0}"
    )
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
