"""The real site under gunicorn with several workers: load, faults and model switches."""

import json
import os
import sqlite3
import urllib.error
import urllib.request

import pytest

from predictor.tests.live_server import free_port, running_server, start_gunicorn, stop, wait_until_up
from predictor.tests.load import BrowserLikeClient, run_load_test

pytestmark = pytest.mark.slow

DATABASE_URL = os.environ.get("DATABASE_URL", "")
ON_SQLITE = not DATABASE_URL.startswith("postgres")


def test_load_loses_nothing():
    report = run_load_test(requests=2000, clients=16, workers=4, database_url=DATABASE_URL)
    assert report.problems() == [], report.summary()
    assert report.stored_rows == report.succeeded == 2000


def test_retraining_in_a_loop_during_load_serves_without_errors_and_ends_on_the_newest_version():
    report = run_load_test(requests=600, clients=16, workers=3, database_url=DATABASE_URL, train_loop=True)
    assert report.problems() == [], report.summary()
    assert report.versions_trained > 1
    assert report.final_rows_on_newest[1] > 0


def test_a_broken_new_artifact_leaves_the_last_good_model_answering():
    with running_server(workers=2, database_url=DATABASE_URL) as server:
        client = BrowserLikeClient(server.base_url)
        client.open_form()
        server.manage("train_model", "--no-activate")
        artifact = server.query("SELECT artifact_name FROM predictor_modelversion WHERE version = 2")[0][0]
        path = server.workdir / "artifacts" / artifact
        path.write_bytes(path.read_bytes()[:-10])
        server.manage("activate_model", "2")

        statuses = [client.submit(90 + i * 0.01, 50) for i in range(20)]

        assert statuses == [(200, True)] * 20
        versions = server.query(
            "SELECT DISTINCT v.version FROM predictor_prediction p "
            "JOIN predictor_modelversion v ON v.id = p.model_version_id"
        )
        assert versions == [(1,)]


@pytest.mark.skipif(not ON_SQLITE, reason="holds an SQLite write lock")
def test_a_busy_sqlite_database_answers_503_and_stores_nothing():
    with running_server(workers=2, extra_env={"DJANGO_SQLITE_TIMEOUT": "1"}) as server:
        client = BrowserLikeClient(server.base_url)
        client.open_form()
        blocker = sqlite3.connect(server.database, isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")
        try:
            status, _, body = client.request("POST", "/", f"csrfmiddlewaretoken={client.token}&height=90&weight=50")
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        assert status == 503
        assert b"Temporarily unavailable" in body and b"Traceback" not in body
        assert server.query("SELECT COUNT(*) FROM predictor_prediction") == [(0,)]
        assert client.submit(90, 50) == (200, True)
        assert server.query("SELECT COUNT(*) FROM predictor_prediction") == [(1,)]


def test_an_unreachable_database_answers_503_without_a_traceback(tmp_path):
    with running_server(workers=1, database_url=DATABASE_URL) as server:
        env = {**server.env, "DATABASE_URL": "postgres://nobody@127.0.0.1:1/unreachable"}
        port = free_port()
        process, log_path = start_gunicorn(env, port=port, workers=1, log_dir=tmp_path)
        try:
            wait_until_up(f"http://127.0.0.1:{port}", process, log_path)
            with pytest.raises(urllib.error.HTTPError) as answer:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10)
            with pytest.raises(urllib.error.HTTPError) as health:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10)
        finally:
            stop(process)
        assert answer.value.code == 503
        body = answer.value.read()
        assert b"Temporarily unavailable" in body and b"Traceback" not in body
        assert health.value.code == 503
        assert json.loads(health.value.read())["database"] == "unavailable"
