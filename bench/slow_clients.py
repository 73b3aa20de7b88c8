"""Slow clients: do sockets that trickle a POST body leave the site answering?

Run: .venv/bin/python bench/slow_clients.py [--workers 2] [--slow-sockets 8] [--compare-sync]

Starts the site under gunicorn with its own settings (gunicorn.conf.py) on a throw-away database,
opens more slow sockets than there are workers, each sending a form POST's headers and then one
body byte a second, and meanwhile times GET /healthz and GET / (the form). --compare-sync repeats
the run with gunicorn's sync workers, as `make serve` ran before, for the figure to compare.
predictor/tests/adversarial/test_bounds.py runs `measure` at a small size.
"""

import argparse
import contextlib
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from predictor.tests.live_server import running_server

SLOW_BODY_BYTES = 1_000_000  # under the body cap, so the server reads it (slowly) instead of refusing it
PROBE_TIMEOUT = 15.0  # seconds; a probe that gets no answer by then counts as this long


@dataclass(frozen=True)
class Report:
    workers: int
    worker_class: str
    slow_sockets: int
    healthz_seconds: list[float]
    form_seconds: list[float]

    @property
    def worst(self) -> float:
        return max(self.healthz_seconds + self.form_seconds)

    def summary(self) -> str:
        def describe(times: list[float]) -> str:
            return f"median {sorted(times)[len(times) // 2] * 1000:.0f} ms, worst {max(times) * 1000:.0f} ms"

        return (
            f"{self.worker_class}, {self.workers} workers, {self.slow_sockets} slow POST sockets: "
            f"/healthz {describe(self.healthz_seconds)}; / {describe(self.form_seconds)}"
        )


def open_slow_post(base_url: str) -> socket.socket:
    """A client that sends a form POST's headers and its first body byte, and then takes its time."""
    parts = urlsplit(base_url)
    connection = socket.create_connection((parts.hostname, parts.port), timeout=PROBE_TIMEOUT)
    head = (
        f"POST / HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {SLOW_BODY_BYTES}\r\n\r\n"
    )
    connection.sendall(head.encode() + b"h")
    return connection


def timed_get(url: str) -> float:
    started = time.monotonic()
    try:
        with urllib.request.urlopen(url, timeout=PROBE_TIMEOUT) as response:
            response.read()
    except urllib.error.HTTPError:
        pass  # an answer, whatever its status
    except OSError:
        return PROBE_TIMEOUT
    return time.monotonic() - started


def measure(base_url: str, *, workers: int, worker_class: str, slow_sockets: int, probes: int = 5) -> Report:
    """Hold ``slow_sockets`` trickling POSTs open while timing ``probes`` GETs of /healthz and of /."""
    sockets = [open_slow_post(base_url) for _ in range(slow_sockets)]
    stop = threading.Event()

    def trickle() -> None:
        while not stop.wait(1.0):
            for connection in sockets:
                with contextlib.suppress(OSError):  # the server gave up on it: fine
                    connection.send(b"h")

    trickler = threading.Thread(target=trickle, daemon=True)
    trickler.start()
    try:
        time.sleep(2.0)  # every slow socket has reached the server and is being read
        healthz = [timed_get(base_url + "/healthz") for _ in range(probes)]
        form = [timed_get(base_url + "/") for _ in range(probes)]
    finally:
        stop.set()
        trickler.join()
        for connection in sockets:
            connection.close()
    return Report(workers, worker_class, slow_sockets, healthz, form)


def run(*, workers: int, slow_sockets: int, sync: bool = False) -> Report:
    extra_env = {"GUNICORN_CMD_ARGS": "--worker-class sync"} if sync else {}
    with running_server(workers=workers, extra_env=extra_env) as server:
        return measure(
            server.base_url, workers=workers, worker_class="sync" if sync else "gthread", slow_sockets=slow_sockets
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--slow-sockets", type=int, default=8)
    parser.add_argument("--compare-sync", action="store_true", help="also run with sync workers (the old make serve)")
    args = parser.parse_args()
    print(run(workers=args.workers, slow_sockets=args.slow_sockets).summary())
    if args.compare_sync:
        print(run(workers=args.workers, slow_sockets=args.slow_sockets, sync=True).summary())


if __name__ == "__main__":
    main()
