"""The form's throughput at several commits and the seed app's, interleaved in one run.

Each commit is checked out into a throw-away git worktree that shares this checkout's virtualenv,
and its own bench/throughput.py measures it (so each build serves its own code, with the settings
that build had). The seed app (bench/tutorial_baseline.py) runs before and after every round.
Rounds alternate the commits' order (ABBA), so a machine that speeds up or slows down mid-run
weighs on every build alike. Prints each run, each build's median and its median against the
seed's median: the "same run" comparison the throughput goal of issue 11 asks for.

    python bench/throughput_commits.py de52fc7 6a46e8b HEAD [--rounds 4] [--duration 8]
    python bench/throughput_commits.py 54c0190 HEAD --api [--rounds 3]   # POST /api/v1/predict

With --api each build is measured by this checkout's bench/api_throughput.py serving that build's
worktree (``--site``): one JSON prediction per request, stored, against the same seed app's form.

Needs wrk and Flask (requirements-dev.txt). Commits older than the virtualenv's requirements may
not start; pick ones whose requirements this virtualenv satisfies.
"""

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
RATE = re.compile(r"([\d,]+) predictions/s")


def rate(command: list[str], cwd: Path, duration: int) -> float:
    """Predictions per second that one benchmark script printed."""
    completed = subprocess.run(
        [sys.executable, *command, "--duration", str(duration)], cwd=cwd, capture_output=True, text=True, timeout=600
    )
    found = RATE.findall(completed.stdout)
    if completed.returncode != 0 or not found:
        output = f"{completed.stdout[-2000:]}\n{completed.stderr[-2000:]}"
        raise RuntimeError(f"{' '.join(command)} in {cwd} failed:\n{output}")
    return float(found[-1].replace(",", ""))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("commits", nargs="+", help="commits to compare, e.g. de52fc7 HEAD")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--duration", type=int, default=8, help="seconds per run")
    parser.add_argument("--api", action="store_true", help="measure POST /api/v1/predict instead of the form")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="throughput-commits-") as workdir:
        builds: dict[str, Path] = {}
        for commit in args.commits:
            tree = Path(workdir) / re.sub(r"\W", "_", commit)
            subprocess.run(["git", "worktree", "add", "--detach", str(tree), commit], cwd=PROJECT_DIR, check=True)
            (tree / ".venv").symlink_to(PROJECT_DIR / ".venv")
            builds[commit] = tree
        try:
            rates: dict[str, list[float]] = {commit: [] for commit in builds}
            seed: list[float] = []
            for round_number in range(1, args.rounds + 1):
                order = list(builds) if round_number % 2 else list(reversed(builds))
                seed.append(rate(["bench/tutorial_baseline.py"], PROJECT_DIR, args.duration))
                for commit in order:
                    if args.api:
                        command = [str(PROJECT_DIR / "bench" / "api_throughput.py"), "--site", str(builds[commit])]
                    else:
                        command = ["bench/throughput.py"]
                    rates[commit].append(rate(command, builds[commit], args.duration))
                seed.append(rate(["bench/tutorial_baseline.py"], PROJECT_DIR, args.duration))
                runs = ", ".join(f"{commit} {rates[commit][-1]:,.0f}/s" for commit in order)
                print(f"round {round_number}: seed {seed[-2]:,.0f}/s, {runs}, seed {seed[-1]:,.0f}/s", flush=True)
        finally:
            for tree in builds.values():
                subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=PROJECT_DIR, check=False)

    seed_median = statistics.median(seed)
    print(f"\n{'POST /api/v1/predict' if args.api else 'The form'}, against the seed app's form")
    print(f"| Build | Median | Against the seed's median ({seed_median:,.0f}/s) |")
    print("| --- | ---: | ---: |")
    for commit, values in rates.items():
        median = statistics.median(values)
        print(f"| {commit} | {median:,.0f}/s | {median / seed_median:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
