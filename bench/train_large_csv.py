"""Memory and time to read, and to train on, a million-row training CSV.

Run: .venv/bin/python bench/train_large_csv.py [--rows 1000000]
Writes a throw-away CSV and database under a temporary folder (never db.sqlite3 or ml_artifacts/).
Each measurement runs in a fresh process and reports its peak resident memory above what the
imports alone take: the chunked reader that training uses, the whole-file read it replaced
(the same checks on one chunk holding the whole file), and a full `train_model` run with GaussianNB.
"""

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def measure(mode: str, path: Path) -> None:
    os.environ.update(DJANGO_DEBUG="1", DJANGO_SETTINGS_MODULE="mlsite.settings", DJANGO_LOG_LEVEL="WARNING")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    from predictor.registry import training, training_data

    call_command("migrate", verbosity=0)
    before = peak_mib()
    started = time.perf_counter()
    if mode == "chunked":
        rows = training_data.load_training_data(path).rows
    elif mode == "whole":
        # The same checks on one chunk that holds the whole file: how training read CSVs before.
        rows = training_data.load_training_data(path, chunk_rows=10**9).rows
    else:
        rows = training.train(data_path=path).version.training_rows
    seconds = time.perf_counter() - started
    sys.stdout.write(f"{mode:8} {rows:,} rows: {seconds:5.1f} s, peak memory +{peak_mib() - before:.0f} MiB\n")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--measure", choices=["chunked", "whole", "train"])
    parser.add_argument("--csv", type=Path)
    args = parser.parse_args()
    if args.measure:
        measure(args.measure, args.csv)
        return

    import numpy as np

    workdir = Path(tempfile.mkdtemp(prefix="bench-train-"))
    path = workdir / "animals-large.csv"
    rng = np.random.default_rng(0)
    half = args.rows // 2
    heights = np.concatenate([rng.normal(45, 8, half), rng.normal(85, 10, args.rows - half)]).clip(5, 290)
    weights = np.concatenate([rng.normal(6, 2, half), rng.normal(40, 8, args.rows - half)]).clip(0.5, 490)
    species = np.array(["Cat"] * half + ["Dog"] * (args.rows - half))
    with path.open("w") as out:
        out.write("Height,Weight,Species\n")
        out.writelines(f"{h:.1f},{w:.1f},{s}\n" for h, w, s in zip(heights, weights, species, strict=True))
    sys.stdout.write(f"CSV: {args.rows:,} rows, {path.stat().st_size / 2**20:.0f} MiB\n")
    env = {
        **os.environ,
        "DATABASE_URL": "",
        "DJANGO_SQLITE_PATH": str(workdir / "db.sqlite3"),
        "ML_ARTIFACTS_DIR": str(workdir / "artifacts"),
    }
    for mode in ("chunked", "whole", "train"):
        subprocess.run([sys.executable, __file__, "--measure", mode, "--csv", str(path)], env=env, check=True, cwd=ROOT)


if __name__ == "__main__":
    main()
