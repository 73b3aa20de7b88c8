"""Many concurrent, browser-like form submissions against a live server, and a check that nothing is lost.

Each client behaves like a browser: it loads the form, keeps the CSRF cookie, and posts the form
with the token and the form's submission key; the answer is the result page, whose own form it
fills in next. Afterwards the database must hold exactly one row per successful submission, with
the inputs that were sent. Used by the slow serving tests and by bench/load_test.py.
"""

import http.client
import json
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit

from predictor.tests.live_server import Server, running_server

TOKEN_PATTERN = re.compile(rb'name="csrfmiddlewaretoken" value="([^"]+)"')
SUBMISSION_KEY_PATTERN = re.compile(rb'name="submission_key" value="([^"]+)"')
RESULT_MARK = b"data-permalink="


@dataclass
class LoadReport:
    sent: int = 0
    succeeded: int = 0
    statuses: Counter = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    sent_inputs: dict[tuple[float, float], int] = field(default_factory=dict)
    stored_rows: int = 0
    missing_inputs: int = 0
    unexpected_rows: int = 0
    rows_without_version: int = 0
    versions_trained: int = 1
    final_rows_on_newest: tuple[int, int] = (0, 0)
    seconds: float = 0.0

    @property
    def server_errors(self) -> int:
        return sum(count for status, count in self.statuses.items() if status >= 500)

    def problems(self) -> list[str]:
        found = []
        if self.server_errors:
            found.append(f"{self.server_errors} responses with a 5xx status: {dict(self.statuses)}")
        if self.errors:
            found.append(f"{len(self.errors)} requests not answered, first: {self.errors[0]}")
        if self.succeeded != self.sent:
            found.append(f"only {self.succeeded} of {self.sent} submissions succeeded")
        if self.stored_rows != self.succeeded:
            found.append(f"{self.stored_rows} rows stored for {self.succeeded} successful submissions")
        if self.missing_inputs or self.unexpected_rows:
            found.append(f"{self.missing_inputs} sent inputs not stored, {self.unexpected_rows} rows not sent")
        if self.rows_without_version:
            found.append(f"{self.rows_without_version} rows name no existing model version")
        on_newest, total = self.final_rows_on_newest
        if on_newest != total:
            found.append(f"after training stopped, only {on_newest} of {total} predictions used the newest version")
        return found

    def summary(self) -> str:
        rate = self.succeeded / self.seconds if self.seconds else 0
        return (
            f"{self.sent} submissions in {self.seconds:.1f} s ({rate:.0f}/s), "
            f"statuses {dict(sorted(self.statuses.items()))}, "
            f"{self.stored_rows} rows stored, {self.versions_trained} model versions"
        )


class BrowserLikeClient:
    """One visitor: a CSRF cookie and token from the form page, then one form post per prediction."""

    def __init__(self, base_url: str) -> None:
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname, parts.port
        self.cookie = ""
        self.token = ""
        self.submission_key = ""

    def request(self, method: str, path: str, body: str | None = None) -> tuple[int, dict[str, str], bytes]:
        connection = http.client.HTTPConnection(self.host, self.port, timeout=60)
        headers = {"Cookie": self.cookie} if self.cookie else {}
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            headers["Referer"] = f"http://{self.host}:{self.port}/"
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            connection.close()

    def open_form(self) -> None:
        status, headers, body = self.request("GET", "/")
        if status != 200:
            raise RuntimeError(f"GET / answered {status}")
        cookie = headers.get("Set-Cookie", "")
        self.cookie = cookie.split(";", 1)[0] if cookie.startswith("csrftoken=") else self.cookie
        self.token = TOKEN_PATTERN.search(body).group(1).decode()
        self.submission_key = SUBMISSION_KEY_PATTERN.search(body).group(1).decode()

    def submit(self, height: float, weight: float) -> tuple[int, bool]:
        """POST the form; returns the status and whether the answer is a result page."""
        fields = {"csrfmiddlewaretoken": self.token, "submission_key": self.submission_key}
        status, _, body = self.request("POST", "/", urlencode({**fields, "height": height, "weight": weight}))
        # The next prediction is sent from the form on this page, with its own submission key.
        if next_key := SUBMISSION_KEY_PATTERN.search(body):
            self.submission_key = next_key.group(1).decode()
        return status, status == 200 and RESULT_MARK in body


def inputs_for(index: int) -> tuple[float, float]:
    # Unique per submission, inside the bounds, so each stored row can be matched to its request.
    return round(20 + index * 0.01, 2), round(5 + (index * 7919 % 4000) * 0.1, 1)


def fire(server: Server, report: LoadReport, *, requests: int, clients: int, first_index: int = 0) -> None:
    lock = threading.Lock()
    next_index = iter(range(first_index, first_index + requests))

    def work() -> None:
        client = BrowserLikeClient(server.base_url)
        try:
            client.open_form()
        except Exception as error:  # noqa: BLE001  (reported, not raised: the count tells)
            with lock:
                report.errors.append(f"opening the form: {error!r}")
            return
        while True:
            with lock:
                index = next(next_index, None)
                if index is None:
                    return
                height, weight = inputs_for(index)
                report.sent += 1
            try:
                status, answered = client.submit(height, weight)
            except Exception as error:  # noqa: BLE001
                with lock:
                    report.errors.append(f"{height}/{weight}: {error!r}")
                continue
            with lock:
                report.statuses[status] += 1
                if answered:
                    report.succeeded += 1
                    report.sent_inputs[(height, weight)] = index

    threads = [threading.Thread(target=work) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def run_load_test(
    *, requests: int = 2000, clients: int = 16, workers: int = 4, database_url: str = "", train_loop: bool = False
) -> LoadReport:
    report = LoadReport()
    with running_server(workers=workers, database_url=database_url) as server:
        stop_training = threading.Event()

        def retrain_repeatedly() -> None:
            while not stop_training.is_set():
                server.manage("train_model")

        trainer = threading.Thread(target=retrain_repeatedly)
        started = time.monotonic()
        if train_loop:
            trainer.start()
        fire(server, report, requests=requests, clients=clients)
        report.seconds = time.monotonic() - started
        if train_loop:
            stop_training.set()
            trainer.join()
            time.sleep(1.5)  # one model check interval, and a little more
            final = LoadReport()
            fire(server, final, requests=workers * 25, clients=clients, first_index=requests)
            report.sent += final.sent
            report.succeeded += final.succeeded
            report.statuses.update(final.statuses)
            report.errors += final.errors
            report.sent_inputs.update(final.sent_inputs)
        _check_stored_rows(server, report, final_indices=range(requests, report.sent) if train_loop else range(0))
    return report


def _check_stored_rows(server: Server, report: LoadReport, final_indices: range) -> None:
    stored_rows = server.query(
        "SELECT p.inputs, v.version FROM predictor_prediction p "
        "LEFT JOIN predictor_modelversion v ON v.id = p.model_version_id"
    )
    # SQLite hands the inputs JSON back as text, PostgreSQL's jsonb as a dict.
    inputs = [json.loads(raw) if isinstance(raw, str) else raw for raw, _ in stored_rows]
    rows = [
        (given["height"], given["weight"], version) for given, (_, version) in zip(inputs, stored_rows, strict=True)
    ]
    newest = server.query("SELECT MAX(version) FROM predictor_modelversion")[0][0]
    report.versions_trained = newest
    report.stored_rows = len(rows)
    stored = {(round(h, 2), round(w, 1)): version for h, w, version in rows}
    report.missing_inputs = len(set(report.sent_inputs) - set(stored))
    report.unexpected_rows = len(set(stored) - set(report.sent_inputs))
    report.rows_without_version = sum(1 for _, _, version in rows if version is None)
    final_inputs = [key for key, index in report.sent_inputs.items() if index in final_indices]
    report.final_rows_on_newest = (sum(1 for key in final_inputs if stored.get(key) == newest), len(final_inputs))
