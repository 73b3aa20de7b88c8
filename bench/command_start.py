"""How long a command takes before it does anything: `manage.py check`, a failing `activate_model 99`,
and a second `make run` until its first page answers. Each tree given is timed in turn, round by
round (A B A B ...), on throw-away settings and data.

    .venv/bin/python bench/command_start.py [--rounds 5] [TREE ...]   # default: this checkout

A TREE is a checkout of the project (for example a `git worktree add /tmp/before <commit>`); every
tree runs with this script's Python, so they share one set of installed packages. `make run` is
timed in each tree with a fresh SQLite file migrated and trained once before the rounds, as on a
machine where `make run` ran before: what the second start costs.
"""

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))

from predictor.tests.live_server import throwaway_site_settings  # noqa: E402


def site_env(workdir: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "DATABASE_URL", "ML_"))}
    env.update(throwaway_site_settings(workdir))
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # as the Makefile does: compiled modules are cached
    return env


def timed(command: list[str], *, cwd: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - started


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def make_run_until_first_page(tree: Path, env: dict[str, str]) -> float:
    port = free_port()
    venv = Path(sys.executable).parent.parent
    command = ["make", "run", f"PORT={port}", f"VENV={venv}", f"PYTHON={sys.executable}"]
    started = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=tree, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        while time.perf_counter() - started < 120:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:  # nosec B310
                    if response.status == 200:
                        return time.perf_counter() - started
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"make run in {tree} served no page within 120 s")
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trees", nargs="*", type=Path, default=[PROJECT])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-make-run", action="store_true", help="time the two commands only")
    args = parser.parse_args()

    python = sys.executable
    results: dict[tuple[Path, str], list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="command-start-") as scratch:
        envs = {}
        for index, tree in enumerate(args.trees):
            workdir = Path(scratch) / str(index)
            workdir.mkdir()
            envs[tree] = env = site_env(workdir)
            subprocess.run([python, "manage.py", "migrate", "-v0"], cwd=tree, env=env, check=True)
            subprocess.run([python, "manage.py", "train_model"], cwd=tree, env=env, check=True, capture_output=True)
        for _ in range(args.rounds):
            for tree in args.trees:
                env = envs[tree]
                results.setdefault((tree, "manage.py check"), []).append(
                    timed([python, "manage.py", "check"], cwd=tree, env=env)
                )
                results.setdefault((tree, "manage.py activate_model 99 (fails)"), []).append(
                    timed([python, "manage.py", "activate_model", "99"], cwd=tree, env=env)
                )
                if not args.no_make_run:
                    results.setdefault((tree, "make run, to the first page"), []).append(
                        make_run_until_first_page(tree, {**env, "DJANGO_DEBUG": "1"})
                    )
    print(f"{'tree':40} {'command':38} {'median':>8} {'min':>7} {'max':>7}  (s, {args.rounds} rounds)")
    for (tree, name), values in results.items():
        print(f"{str(tree)[-40:]:40} {name:38} {statistics.median(values):8.2f} {min(values):7.2f} {max(values):7.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
