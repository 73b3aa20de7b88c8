"""The JSON API's single-prediction throughput beside BentoML and MLflow serving the same GaussianNB.

One run, one machine, three servers with two workers each, all trained on the shipped CSV
(predictor/data/animals.csv, Height and Weight):

- this site: ``POST /api/v1/predict`` under gunicorn with the site's gunicorn.conf.py, on a
  throw-away database, rate limits set too high to refuse anything; every answer is validated
  and stored, as in production;
- BentoML (``bentoml serve``, serving_comparison/bentoml_service.py): ``POST /predict``;
- MLflow (``mlflow models serve``, an ``mlflow.sklearn`` model folder): ``POST /invocations``.

BentoML and MLflow run from venvs of their own that this script creates once under
``.bench-venvs/`` (git-ignored) from the pinned lists in serving_comparison/; they never touch the
project's requirements and never run in CI. Every server must first answer a set of probe
measurements exactly as a GaussianNB fitted here does; then wrk times each one with kept-alive
connections and with a new connection per request ("Connection: close"). With ``--rounds`` above
1 the servers take turns round by round and each figure is the median. Prints a table and writes
it, with date, machine and command, into docs/performance.md (``--write``), one block per
database (and limit-counter store).

    python bench/serving_comparison.py [--duration 10] [--connections 16] [--rounds 1]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres python bench/serving_comparison.py
    DATABASE_URL=... REDIS_URL=redis://127.0.0.1:6379/0 python bench/serving_comparison.py  # limits in Redis
"""

import argparse
import hashlib
import json
import os
import platform
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import sklearn
from sklearn.naive_bayes import GaussianNB

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.server import Server, add_wrk_arguments, parse_wrk_arguments, running_server
from bench.throughput import WrkRun
from predictor.tests.live_server import GENEROUS_LIMITS, PROJECT_DIR, free_port

HERE = Path(__file__).resolve().parent / "serving_comparison"
VENVS = PROJECT_DIR / ".bench-venvs"
DATA = PROJECT_DIR / "predictor" / "data" / "animals.csv"
REPORT = PROJECT_DIR / "docs" / "performance.md"
# A run's figures sit between these lines, one pair per database; the text around them is kept.
REPORT_START = "<!-- serving_comparison results ({database}): written by bench/serving_comparison.py -->"
REPORT_END = "<!-- end of serving_comparison results ({database}) -->"
FEATURES = ["Height", "Weight"]
# Inside every bound of the site's form and API: the training rows, the space between and around them.
PROBES = [(76.4, 35.4), (88.9, 48.3), (80.0, 42.0), (82.0, 44.0), (70.0, 30.0), (95.0, 55.0), (30.0, 8.0)]
TIMED_BODY = (82.0, 44.0)  # one animal, the same for every server and request
FRAMEWORKS = ("bentoml", "mlflow")  # each with serving_comparison/requirements-NAME.txt
CONNECTION_MODES = {False: "kept alive", True: "new per request"}  # Connection: close?
START_ATTEMPTS = 3
START_TIMEOUT_SECONDS = 180  # a busy machine takes a while to import BentoML or MLflow


@dataclass(frozen=True)
class Contender:
    """One server in the comparison: how to ask it for one prediction and read the species in its answer."""

    name: str
    path: str
    body: Callable[[float, float], dict]
    species: Callable[[dict], str]


SITE = Contender(
    "This site",
    "/api/v1/predict",
    lambda height, weight: {"height_cm": height, "weight_kg": weight},
    lambda answer: answer["species"],
)
BENTOML = Contender(
    "BentoML",
    "/predict",
    lambda height, weight: {"height_cm": height, "weight_kg": weight},
    lambda answer: answer["species"],
)
MLFLOW = Contender(
    "MLflow",
    "/invocations",
    lambda height, weight: {"dataframe_split": {"columns": FEATURES, "data": [[height, weight]]}},
    lambda answer: answer["predictions"][0],
)


# ---- The frameworks' venvs and servers -------------------------------------------------------


def framework_venv(name: str) -> Path:
    """``.bench-venvs/NAME`` built from serving_comparison/requirements-NAME.txt; rebuilt when that list changes."""
    pins = HERE / f"requirements-{name}.txt"
    venv = VENVS / name
    stamp = venv / "installed-from.sha256"
    wanted = hashlib.sha256(pins.read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == wanted:
        return venv
    print(f"Creating {venv.relative_to(PROJECT_DIR)} from {pins.relative_to(PROJECT_DIR)} (once; a minute or two)")
    shutil.rmtree(venv, ignore_errors=True)
    # The interpreter the project's venv was made from, not the project's venv itself.
    subprocess.run([sys._base_executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "-r", str(pins)], check=True)
    stamp.write_text(wanted)
    return venv


def framework_env(venv: Path, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "DATABASE_URL"))}
    # MLflow starts uvicorn by name, so the venv's bin comes first on PATH; no usage reports.
    env.update(PATH=f"{venv / 'bin'}:{env.get('PATH', '')}", DO_NOT_TRACK="true", PYTHONUNBUFFERED="1")
    env.update(BENTOML_DO_NOT_TRACK="true", MLFLOW_DISABLE_TELEMETRY="true", **extra)
    return env


def save_model(python: str, arguments: list[str], *, env: dict[str, str]) -> None:
    """Train and save the framework's model with its own venv's ``python`` (serving_comparison/save_model.py)."""
    completed = subprocess.run([python, "save_model.py", *arguments], cwd=HERE, env=env, capture_output=True, text=True)
    if completed.returncode != 0:
        raise RuntimeError(f"save_model.py {arguments[0]} failed:\n{completed.stdout}\n{completed.stderr}")


@contextmanager
def serving_command(command: list[str], *, env: dict[str, str], ready_path: str, log: Path) -> Iterator[str]:
    """Run a server (and the workers it forks) until it answers ``ready_path``; yields its URL."""
    for attempt in range(1, START_ATTEMPTS + 1):
        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        process = _start(command, port=port, env=env, log=log)
        if _wait_until_ready(base_url + ready_path, process):
            break
        _stop_group(process)
        # The free port, or one a server picks for itself (BentoML's process manager binds a
        # control socket), can be taken by someone else's process in between: try other ports.
        print(f"{command[0]} did not start (attempt {attempt}):\n{log.read_text()[-3000:]}", file=sys.stderr)
    else:
        raise RuntimeError(f"{command[0]} did not start in {START_ATTEMPTS} attempts; its log: {log}")
    try:
        yield base_url
    finally:
        _stop_group(process)


def _start(command: list[str], *, port: int, env: dict[str, str], log: Path) -> subprocess.Popen:
    with open(log, "w") as log_file:
        # A process group of its own, so stopping it stops the workers it forks too.
        return subprocess.Popen(
            [part.replace("{port}", str(port)) for part in command],
            cwd=HERE,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _wait_until_ready(url: str, process: subprocess.Popen) -> bool:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while not _answers(url):
        if process.poll() is not None or time.monotonic() > deadline:
            return False
        time.sleep(0.5)
    return True


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (OSError, urllib.error.HTTPError):
        return False


def _stop_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        pass


@contextmanager
def serving_bentoml(workers: int, workdir: Path) -> Iterator[str]:
    venv = framework_venv("bentoml")
    env = framework_env(venv, BENTOML_HOME=str(workdir / "bentoml"), BENCH_WORKERS=str(workers))
    python = str(venv / "bin" / "python")
    save_model(python, ["bentoml", str(DATA)], env=env)
    command = [str(venv / "bin" / "bentoml"), "serve", "bentoml_service:AnimalClassifier"]
    command += ["--host", "127.0.0.1", "--port", "{port}"]
    with serving_command(command, env=env, ready_path="/readyz", log=workdir / "bentoml.log") as base_url:
        yield base_url


@contextmanager
def serving_mlflow(workers: int, workdir: Path) -> Iterator[str]:
    venv = framework_venv("mlflow")
    # uvicorn reads its options from UVICORN_* too: no access log, as for the other two.
    env = framework_env(venv, UVICORN_ACCESS_LOG="false")
    model = workdir / "mlflow-model"
    python = str(venv / "bin" / "python")
    save_model(python, ["mlflow", str(DATA), str(model)], env=env)
    command = [str(venv / "bin" / "mlflow"), "models", "serve", "-m", str(model), "--env-manager", "local"]
    command += ["--workers", str(workers), "--host", "127.0.0.1", "--port", "{port}"]
    with serving_command(command, env=env, ready_path="/ping", log=workdir / "mlflow.log") as base_url:
        yield base_url


# ---- Checking and timing ---------------------------------------------------------------------


def expected_species() -> list[str]:
    """What a GaussianNB fitted here on the shipped CSV answers for each probe."""
    data = pd.read_csv(DATA)
    model = GaussianNB().fit(data[FEATURES], data["Species"])
    return list(model.predict(pd.DataFrame(PROBES, columns=FEATURES)))


def check_answers(contender: Contender, base_url: str, expected: list[str]) -> None:
    """Stop the run unless the server answers every probe as the reference model does."""
    for (height, weight), species in zip(PROBES, expected, strict=True):
        request = urllib.request.Request(
            base_url + contender.path,
            data=json.dumps(contender.body(height, weight)).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            answer = json.load(response)
        if contender.species(answer) != species:
            raise RuntimeError(f"{contender.name} answered {answer} for {height} cm, {weight} kg; expected {species}")


@dataclass(frozen=True)
class Timing(WrkRun):
    socket_errors: int = 0


def time_with_wrk(contender: Contender, base_url: str, args: argparse.Namespace, *, close: bool) -> Timing:
    """wrk POSTs one prediction request over and over (serving_comparison/post.lua)."""
    body = json.dumps(contender.body(*TIMED_BODY))
    env = {**os.environ, "BODY": body, "CLOSE": "1" if close else "0"}
    command = ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{args.duration}s", "--latency"]
    command += ["-s", str(HERE / "post.lua"), base_url + contender.path]
    completed = subprocess.run(command, env=env, capture_output=True, text=True)
    if completed.returncode != 0 or "RESULT" not in completed.stdout:
        raise RuntimeError(f"wrk failed:\n{completed.stdout}\n{completed.stderr}")
    figures = dict(
        part.split("=") for line in completed.stdout.splitlines() for part in line.split()[1:] if "=" in part
    )
    return Timing(
        answered=int(figures["answered"]),
        failures=int(figures["failures"]),
        socket_errors=int(figures["socket_errors"]),
        seconds=float(figures["seconds"]),
        p50_ms=float(figures["p50_ms"]),
        p99_ms=float(figures["p99_ms"]),
    )


def stored_rows(site: Server) -> int:
    """The site's stored predictions once the answers to wrk's last requests have been stored too."""
    count = site.query("SELECT COUNT(*) FROM predictor_prediction")[0][0]
    while True:
        time.sleep(0.3)  # wrk has stopped, but the site may still be answering its last requests
        settled, count = count, site.query("SELECT COUNT(*) FROM predictor_prediction")[0][0]
        if count == settled:
            return count


def median_timing(runs: list[Timing]) -> tuple[float, float, float, int]:
    """Requests/s, p50 and p99 (each the median over the rounds) and every failure of every round."""
    return (
        statistics.median(run.per_second for run in runs),
        statistics.median(run.p50_ms for run in runs),
        statistics.median(run.p99_ms for run in runs),
        sum(run.failures + run.socket_errors for run in runs),
    )


# ---- The report --------------------------------------------------------------------------------


def pinned_version(framework: str, package: str) -> str:
    """The version of ``package`` pinned in the framework's venv list."""
    pins = (HERE / f"requirements-{framework}.txt").read_text().splitlines()
    return next(line.split("==")[1] for line in pins if line.lower().startswith(f"{package}=="))


def results_table(timings: dict[tuple[str, str], list[Timing]]) -> list[str]:
    lines = [
        "| Server | Connections | Requests/s | p50 ms | p99 ms | Failures |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for (server, mode), runs in timings.items():
        per_second, p50, p99, failures = median_timing(runs)
        lines.append(f"| {server} | {mode} | {per_second:,.0f} | {p50:.1f} | {p99:.1f} | {failures} |")
    return lines


def machine_description() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.processor() or "unknown CPU",
    )
    return f"`nproc` {len(os.sched_getaffinity(0))}, {cpu}, Python {platform.python_version()}"


def write_report(path: Path, section: list[str], *, database: str) -> None:
    """Put ``section`` between the markers of ``database`` in ``path``, keeping everything around them."""
    start, end = REPORT_START.format(database=database), REPORT_END.format(database=database)
    text = path.read_text() if path.exists() else ""
    block = "\n".join([start, *section, end])
    if start in text and end in text:
        before, rest = text.split(start, 1)
        text = before + block + rest.split(end, 1)[1]
    else:
        text = text + ("\n" if text else "") + block + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@dataclass
class Results:
    timings: dict[tuple[str, str], list[Timing]] = field(default_factory=dict)  # (server, connections) -> rounds
    site_answered: int = 0
    site_stored: int = 0
    site_in_flight: int = 0  # at most: requests sent but not yet answered when wrk stops (one per connection)

    @property
    def failed(self) -> bool:
        broken = any(run.failures or run.socket_errors for runs in self.timings.values() for run in runs)
        # wrk does not count the answers to the requests it left in flight; the site stores them.
        lost_or_extra = not 0 <= self.site_stored - self.site_answered <= self.site_in_flight
        return broken or lost_or_extra


def take_turns(servers: dict[Contender, str], site: Server, names: dict, args: argparse.Namespace) -> Results:
    """Time every server in both connection modes, round after round, counting the rows the site stores."""
    results = Results()
    warm_up = argparse.Namespace(**{**vars(args), "duration": 2})
    for round_number in range(args.rounds):
        for close, mode in CONNECTION_MODES.items():
            for contender, base_url in servers.items():
                if round_number == 0:  # every worker and connection path warm before timing
                    time_with_wrk(contender, base_url, warm_up, close=close)
                rows_before = stored_rows(site) if contender is SITE else 0
                run = time_with_wrk(contender, base_url, args, close=close)
                if contender is SITE:
                    results.site_answered += run.answered
                    results.site_stored += stored_rows(site) - rows_before
                    results.site_in_flight += args.connections
                results.timings.setdefault((names[contender], mode), []).append(run)
                print(f"round {round_number + 1}, {mode}, {names[contender]}: {run.per_second:,.0f} requests/s")
    return results


def report_section(results: Results, args: argparse.Namespace, *, started: datetime, load_before: float) -> list[str]:
    # The environment variables the run read in place of an option, so the command repeats the run.
    from_environment = [
        f"{name}={os.environ[name]}"
        for name, option in (("DATABASE_URL", "--database-url"), ("REDIS_URL", "--redis-url"))
        if os.environ.get(name) and not any(argument.startswith(option) for argument in sys.argv[1:])
    ]
    command = shlex.join([*from_environment, "python", "bench/serving_comparison.py", *sys.argv[1:]])
    rounds = f", median of {args.rounds} rounds" if args.rounds > 1 else ""
    return [
        f"Measured {started:%Y-%m-%d %H:%M} UTC on {machine_description()}; load average "
        f"{load_before:.1f} before and {os.getloadavg()[0]:.1f} after the run.",
        "",
        f"Command: `{command}`. gunicorn, BentoML and MLflow with {args.workers} workers each; wrk "
        f"{args.threads} threads, {args.connections} connections, {args.duration} s per figure{rounds}; "
        f"one JSON prediction per request. scikit-learn {sklearn.__version__} in all three. The site "
        f"stored {results.site_stored:,} rows for its {results.site_answered:,} timed answers "
        "(the rest: requests still in flight when wrk stopped).",
        "",
        *results_table(results.timings),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_wrk_arguments(parser)
    parser.set_defaults(duration=10)
    parser.add_argument("--rounds", type=int, default=1, help="servers take turns; each figure is the median")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", ""))
    parser.add_argument(
        "--redis-url", default=os.environ.get("REDIS_URL", ""), help="the site's rate-limit counters in this Redis"
    )
    parser.add_argument("--write", default=str(REPORT), help="report file ('' to only print)")
    args = parse_wrk_arguments(parser)

    for framework in FRAMEWORKS:
        # The same library everywhere, or the servers would not be serving the same model.
        if pinned_version(framework, "scikit-learn") != sklearn.__version__:
            pins = f"requirements-{framework}.txt"
            parser.exit(2, f"{pins} must pin scikit-learn=={sklearn.__version__}, as the project does\n")
        framework_venv(framework)  # before any server starts, so building a venv never overlaps a timing
    database = "PostgreSQL" if args.database_url.startswith("postgres") else "SQLite"
    if args.redis_url:
        database += ", limits in Redis"
    names = {
        SITE: f"This site ({database}, stores each answer)",
        BENTOML: f"BentoML {pinned_version('bentoml', 'bentoml')}",
        MLFLOW: f"MLflow {pinned_version('mlflow', 'mlflow')}",
    }
    load_before, started = os.getloadavg()[0], datetime.now(UTC)

    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="serving-comparison-")))
        # Explicit, though running_server sets them too: one address sends every request. The
        # counters go to the database's cache table unless a Redis is named (keys of this run only).
        site_env = {**GENEROUS_LIMITS, "REDIS_URL": args.redis_url, "REDIS_KEY_PREFIX": workdir.name}
        site = stack.enter_context(
            running_server(workers=args.workers, database_url=args.database_url, extra_env=site_env)
        )
        servers = {
            SITE: site.base_url,
            BENTOML: stack.enter_context(serving_bentoml(args.workers, workdir)),
            MLFLOW: stack.enter_context(serving_mlflow(args.workers, workdir)),
        }
        expected = expected_species()
        for contender, base_url in servers.items():
            check_answers(contender, base_url, expected)
            print(f"{names[contender]}: answers all {len(PROBES)} probes as GaussianNB does")
        results = take_turns(servers, site, names, args)

    section = report_section(results, args, started=started, load_before=load_before)
    print("\n" + "\n".join(section))
    if args.write:
        write_report(Path(args.write), section, database=database)
        print(f"\nWritten to {args.write}")
    return 1 if results.failed else 0


if __name__ == "__main__":
    sys.exit(main())
