"""Every command README.md shows, run exactly as written in a fresh clone of the committed HEAD.

The commands are read from the README itself (its ```sh blocks and the inline code that starts
like a command), so changing a command there changes what runs here, and a command this test does
not know fails it. The clone reuses this run's virtualenv instead of installing one, and runs with
a newcomer's environment: none of the test run's DJANGO_* variables, no PYTEST_VERSION, so the
`.env` that `make run` writes is what the commands read. Servers listen on free ports (HOST/PORT),
never on 8000.
"""

import json
import os
import re
import secrets
import select
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from predictor.tests.live_server import PROJECT_DIR, free_port

pytestmark = pytest.mark.slow

README_URL = "http://127.0.0.1:8000"

# They run this test, or need root; CI runs them itself.
NOT_RUN_HERE = {
    "make test": "the suite this test belongs to",
    "make test-slow": "the suite this test belongs to",
    "make lint": "run by CI after the suites",
    ".ci/run": "CI itself",
    "sudo apt-get install chromium chromium-driver": "a system package",
}
SERVERS = {"make run", "make serve"}


def readme_commands(text: str) -> list[str]:
    """The commands in ```sh blocks and in inline code, in order of first appearance, comments dropped."""
    commands = []
    blocks = re.findall(r"^ *```sh\n(.*?)^ *```", text, flags=re.S | re.M)
    for block in blocks:
        lines = [line.strip() for line in block.splitlines() if line.strip()]
        while lines:
            command = lines.pop(0)
            while command.endswith("\\"):
                command += "\n" + lines.pop(0)
            commands.append(re.sub(r"\s+#\s.*$", "", command))
    prose = re.sub(r"^ *```.*?^ *```", "", text, flags=re.S | re.M)
    commands += re.findall(r"`((?:make |\.venv/bin/|curl |sudo |\.ci/)[^`]*)`", prose)
    first_seen = sorted(set(commands), key=lambda command: _first_position(text, command))
    return first_seen


def _first_position(text: str, command: str) -> int:
    return text.index(command.split("\n")[0])


def newcomer_env(**extra: str) -> dict[str, str]:
    # Nothing from the test run or from an outer make: a shell in a fresh clone.
    dropped = ("DJANGO_", "DATABASE_URL", "ML_", "BATCH_", "PYTEST_", "MAKE", "MFLAGS", "VIRTUAL_ENV")
    env = {key: value for key, value in os.environ.items() if not key.startswith(dropped)}
    return {**env, **extra}


def fresh_clone(destination: Path) -> Path:
    if not (PROJECT_DIR / ".git").exists():
        pytest.skip("the project folder is not a git checkout")
    if sys.prefix == sys.base_prefix:
        pytest.skip("needs the virtualenv this suite runs in, to reuse it")
    clone = destination / "clone"
    subprocess.run(["git", "clone", "--quiet", str(PROJECT_DIR), str(clone)], check=True, timeout=120)
    # A clone where `make install` already ran: this run's virtualenv, linked in, with fresh stamps
    # so make does not reinstall (and nothing is written into the shared virtualenv).
    venv = clone / ".venv"
    venv.mkdir()
    for entry in Path(sys.prefix).iterdir():
        if not entry.name.startswith("."):
            (venv / entry.name).symlink_to(entry.resolve())
    (venv / ".installed").touch()
    (venv / ".installed-dev").touch()
    return clone


class Background:
    """A server command started in its own process group, so stopping it stops make and its children."""

    def __init__(self, command: str, *, cwd: Path, log: Path, port: int):
        self.command, self.log, self.base_url = command, log, f"http://127.0.0.1:{port}"
        env = newcomer_env(HOST="127.0.0.1", PORT=str(port), WEB_CONCURRENCY="2")
        with open(log, "w") as output:
            self.process = subprocess.Popen(
                command, shell=True, cwd=cwd, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
            )

    def wait_until_up(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"{self.command} exited:\n{self.log.read_text()}"
            try:
                with urllib.request.urlopen(self.base_url + "/healthz", timeout=2):
                    return
            except urllib.error.HTTPError:
                return
            except OSError:
                time.sleep(0.3)
        raise AssertionError(f"{self.command} did not answer within {timeout} s:\n{self.log.read_text()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def run(command: str, *, cwd: Path) -> str:
    result = subprocess.run(
        command, shell=True, cwd=cwd, env=newcomer_env(), capture_output=True, text=True, timeout=120
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{command!r} exited with {result.returncode}:\n{output}"
    return output


def run_on_terminal(command: str, answers: list[tuple[str, str]], *, cwd: Path, timeout: float = 60) -> str:
    """Run an interactive command on a pseudo-terminal, typing each answer once its prompt appears.

    In a session of its own the command has no controlling terminal, so getpass reads the password
    from the pseudo-terminal on stdin, as it would from a person's terminal.
    """
    controller, terminal = os.openpty()
    process = subprocess.Popen(
        command,
        shell=True,
        cwd=cwd,
        env=newcomer_env(),
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        start_new_session=True,
    )
    os.close(terminal)
    output, answered_up_to, pending = "", 0, list(answers)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if not select.select([controller], [], [], 0.5)[0]:
                continue
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # the command closed the terminal: it has finished
                break
            if not chunk:
                break
            output += chunk.decode(errors="replace")
            if pending and pending[0][0] in output[answered_up_to:]:
                prompt, answer = pending.pop(0)
                answered_up_to = output.index(prompt, answered_up_to) + len(prompt)
                os.write(controller, answer.encode() + b"\n")
        returncode = process.wait(timeout=max(deadline - time.monotonic(), 1))
    finally:
        os.close(controller)
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert not pending, f"{command!r} never asked {pending[0][0]!r}:\n{output}"
    assert returncode == 0, f"{command!r} exited with {returncode}:\n{output}"
    return output


def healthz_model(base_url: str) -> str:
    return json.loads(get(base_url + "/healthz")[1])["model"]


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_every_readme_command_works_as_written_in_a_fresh_clone(tmp_path):
    clone = fresh_clone(tmp_path)
    commands = readme_commands((clone / "README.md").read_text())
    assert commands[0] == "make run", f"the README's first command should be `make run`, not {commands[0]!r}"
    server: Background | None = None
    trained_version = 1  # `make run` trains v1
    try:
        for command in commands:
            if command in NOT_RUN_HERE:
                continue
            if command in SERVERS:
                if server:
                    server.stop()
                server = Background(
                    command, cwd=clone, log=tmp_path / f"{command.replace(' ', '-')}.log", port=free_port()
                )
                server.wait_until_up()
                status, page = get(server.base_url + "/")
                assert status == 200 and "Predict species" in page, f"{command}: / answered {status}"
                status, page = get(server.base_url + "/no-such-page/")
                debug_page = "Using the URLconf defined in" in page
                assert status == 404 and debug_page == (command == "make run"), f"{command}: debug on is wrong"
            elif command.startswith("curl "):
                assert server, f"{command!r} needs a server; the README shows it before `make run`/`make serve`"
                output = run(command.replace(README_URL, server.base_url), cwd=clone)
                assert {"species", "probability"} <= json.loads(output).keys(), output
            elif command == ".venv/bin/python manage.py createsuperuser":
                password = secrets.token_urlsafe(16)
                answers = [("Username", "staff"), ("Email address:", "staff@example.com")]
                answers += [("Password:", password), ("Password (again):", password)]
                assert "Superuser created successfully." in run_on_terminal(command, answers, cwd=clone)
            elif command.startswith(".venv/bin/python manage.py train_model"):
                trained_version += 1
                assert f"Trained model v{trained_version} " in run(command, cwd=clone)
            elif command.startswith(".venv/bin/python manage.py activate_model "):
                version = command.split()[-1]
                assert f"Model v{version} is now active." in run(command, cwd=clone)
                # "Running servers switch within a second" (the check is at most once a second).
                if server:
                    deadline = time.monotonic() + 10
                    while healthz_model(server.base_url) != f"v{version}" and time.monotonic() < deadline:
                        time.sleep(0.2)
                    assert healthz_model(server.base_url) == f"v{version}"
            elif command == "make messages":
                # Rebuilds the Chinese catalogue from the code and locale/zh_hans_translations.py.
                if shutil.which("xgettext") is None and not os.environ.get("REQUIRE_GETTEXT"):
                    continue  # GNU gettext is not on this machine (.ci/run installs it)
                output = run(command, cwd=clone)
                assert "processing file django.po" in output, output
                assert (clone / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.mo").stat().st_size > 10_000
            elif command == "make worker":
                # One more job worker: it starts, keeps running (waiting for jobs), and stops cleanly.
                worker = Background(command, cwd=clone, log=tmp_path / "make-worker.log", port=free_port())
                try:
                    time.sleep(5)
                    log = worker.log.read_text()
                    assert worker.process.poll() is None, f"make worker exited:\n{log}"
                    assert "Traceback" not in log, log
                finally:
                    worker.stop()
            elif command.startswith(".venv/bin/python manage.py populate_history --count "):
                count = int(re.search(r"--count (\d+)", command).group(1))
                assert f"Added {count:,} predictions" in run(command, cwd=clone)
            else:
                pytest.fail(f"README shows {command!r}, which this test does not know how to check: add it here")
    finally:
        if server:
            server.stop()
    assert (clone / ".env").stat().st_mode & 0o777 == 0o600
    assert "make serve" in commands and trained_version > 1
