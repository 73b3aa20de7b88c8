"""Issue 13, area "inputs": each finding re-run as an attacker or a confused user would, and shown fixed.

8  the API's database errors are JSON; /healthz notices a write lock (slow tests, on real servers).
10 one number parser: the form, batch CSVs, training CSVs and the API agree; no subnormals.
11 CSP and Permissions-Policy headers; a training cannot activate on a stale comparison.
7  (part) anonymous /healthz reveals nothing but its status.
And: artifacts saved with another scikit-learn series are refused, with the reason shown.
"""

import functools
import json
import os
import shutil
import sqlite3
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sklearn
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import OperationalError, connection
from django.test import RequestFactory

from predictor.models import ModelVersion, Prediction
from predictor.ops.middleware import DatabaseUnavailableMiddleware
from predictor.registry import training, versions
from predictor.registry.training_data import DEFAULT_TRAINING_DATA, TrainingDataError
from predictor.schema import numbers
from predictor.schema.features import FEATURES
from predictor.serving import model_service
from predictor.tests.live_server import free_port, running_server
from predictor.tests.load import BrowserLikeClient

pytestmark = pytest.mark.django_db

HEIGHT, WEIGHT = FEATURES
REMOTE = {"REMOTE_ADDR": "203.0.113.9"}  # a caller on another machine (the test client is 127.0.0.1)
ALL_PARTS_OK = {"counters": "ok", "queue": "ok", "storage": "ok"}  # /healthz's optional parts, all answering

# (typed text, what every entry point must make of it: a number, or None for "refused")
SPELLINGS = {
    "full-width digits (Chinese input methods)": ("４０", 40.0),
    "full-width decimal point": ("４２．５", 42.5),
    "mathematical bold digits": ("𝟒𝟎", 40.0),
    "Arabic-Indic digits": ("٤٠", None),
    "Devanagari digits": ("४०", None),
    "superscript": ("4²", None),
    "underscore grouping": ("1_0", None),
    "hexadecimal": ("0x10", None),
    "infinity": ("inf", None),
    "not a number": ("nan", None),
    "a word": ("forty", None),
    "plain": (" 40 ", 40.0),
    "exponent": ("4e1", 40.0),
}


def form_answer(client, height: str):
    response = client.post("/", {"height": height, "weight": "12"})
    if response.status_code == 400:
        return None, response.context["form"].errors["height"][0]
    return Prediction.objects.latest("id").inputs["height"], ""


def batch_answer(admin_client, height: str):
    content = f"Height,Weight\n{height},12\n".encode()
    upload = SimpleUploadedFile("animals.csv", content, content_type="text/csv")
    response = admin_client.post("/predictions/upload/", {"file": upload})
    if response.status_code == 400:
        return None, response.context["form"].errors["file"][0]
    job = admin_client.get(response["Location"]).context  # the upload's job (run at once in tests)
    if job and job["job"].status == "failed":  # a cell is checked by the job, which says why it failed
        return None, job["job"].error
    return Prediction.objects.latest("id").inputs["height"], ""


@pytest.mark.parametrize("case", SPELLINGS)
def test_the_form_and_a_batch_upload_read_the_same_text_as_the_same_number(client, admin_client, trained_version, case):
    text, expected = SPELLINGS[case]
    from_form, form_error = form_answer(client, text)
    from_batch, batch_error = batch_answer(admin_client, text)

    assert from_form == from_batch == expected
    if expected is None:
        assert "Height" in form_error or "height" in form_error  # says which field
        assert batch_error.startswith("Line 2, column Height: ")  # says which line and column
        assert repr(text.strip()) in batch_error


def test_training_csvs_follow_the_same_rule(tmp_path):
    path = tmp_path / "animals.csv"
    rows = DEFAULT_TRAINING_DATA.read_text().splitlines()
    path.write_text("\n".join([rows[0], rows[1], "٤٠,40,Cat", *rows[2:]]))
    with pytest.raises(TrainingDataError, match="line 3, column Height: '٤٠' uses digits other than 0–9"):
        training.train(data_path=path, activate=False)


def test_foreign_digits_are_explained_in_the_form_not_just_refused(client, trained_version):
    _, error = form_answer(client, "٤٠")
    assert error == "Write the height with the digits 0–9, such as 42.5."


@pytest.mark.parametrize("tiny", ["5e-324", "1e-300", "0.5"])
def test_a_subnormal_or_unrealistic_height_is_refused_everywhere(client, admin_client, trained_version, tiny):
    message = "Height must be at least 1 cm."
    assert form_answer(client, tiny) == (None, message)
    assert batch_answer(admin_client, tiny)[1].endswith(f"is not allowed: {message}")  # one full stop
    response = client.post(
        "/api/v1/predict", {"height_cm": float(tiny), "weight_kg": 12}, content_type="application/json"
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["message"] == message
    assert not Prediction.objects.exists()


def test_a_subnormal_weight_is_refused_by_the_api_as_a_json_number(client, trained_version):
    response = client.post("/api/v1/predict", '{"height_cm": 40, "weight_kg": 5e-324}', content_type="application/json")
    assert response.status_code == 422
    assert response.json()["errors"][0]["message"] == "Weight must be at least 0.01 kg."


def test_the_api_refuses_a_number_sent_as_a_string(client, trained_version):
    response = client.post("/api/v1/predict", {"height_cm": "４０", "weight_kg": 12}, content_type="application/json")
    assert response.status_code == 422


def test_the_form_hints_show_the_minimum(client, trained_version):
    html = client.get("/").content.decode()
    assert "At least 1 and at most 300 cm." in html
    assert 'min="0.01"' in html


def test_a_million_row_column_is_parsed_in_well_under_a_second():
    import time

    import pandas as pd

    column = pd.Series(["42.5"] * 999_999 + ["４０"])
    started = time.perf_counter()
    values = numbers.parse_column(column)
    assert time.perf_counter() - started < 1.5
    assert values[-1] == 40.0 and values[0] == 42.5


# Finding 8: a database error reaching the middleware under /api/ is answered in the API's JSON.


@pytest.mark.parametrize("path", ["/api/v1/predict", "/api", "/api/v1/predictions"])
def test_a_database_failure_outside_ninja_is_answered_as_api_json(path):
    request = RequestFactory().post(path)
    middleware = DatabaseUnavailableMiddleware(lambda request: None)
    response = middleware.process_exception(request, OperationalError("database is locked"))

    assert response.status_code == 503
    assert response["Content-Type"].startswith("application/json")
    assert response["Retry-After"] == "5"
    assert "busy or unavailable" in json.loads(response.content)["detail"]


def test_a_database_failure_on_a_page_is_still_the_503_page():
    request = RequestFactory().post("/apiary/")  # not the API, though it starts like it
    response = DatabaseUnavailableMiddleware(lambda request: None).process_exception(
        request, OperationalError("database is locked")
    )
    assert response.status_code == 503
    assert response["Content-Type"].startswith("text/html")


# Finding 7 (part): anonymous /healthz says only its status.


def test_anonymous_remote_health_check_reveals_only_the_status(client, trained_version, make_version, settings):
    settings.ML_MODEL_CHECK_SECONDS = 0
    client.get("/healthz")
    broken = make_version(stored=True, is_active=True)
    Path(model_service.artifacts.artifact_storage().path(broken.artifact_name)).write_bytes(b"altered")

    remote = client.get("/healthz", **REMOTE)
    local = client.get("/healthz")

    assert remote.json() == {"status": "degraded"}
    assert broken.artifact_name not in remote.content.decode()
    assert local.json()["status"] == "degraded" and broken.artifact_name in local.json()["warning"]


def test_staff_see_health_details_from_anywhere(client, django_user_model, trained_version):
    client.force_login(django_user_model.objects.create_user("staff", password="pw-only-for-tests", is_staff=True))
    assert client.get("/healthz", **REMOTE).json() == {"status": "ok", "database": "ok", "model": "v1", **ALL_PARTS_OK}


def test_without_a_model_anonymous_callers_do_not_learn_the_command(client):
    response = client.get("/healthz", **REMOTE)
    assert (response.status_code, response.json()) == (503, {"status": "unavailable"})


def test_a_forwarded_for_header_does_not_make_a_remote_caller_local(client, trained_version):
    response = client.get("/healthz", HTTP_X_FORWARDED_FOR="127.0.0.1", **REMOTE)
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db(transaction=True)
def test_a_read_only_postgresql_makes_the_health_check_degraded(client, trained_version):
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only: SQLite's write lock is checked on a real server (test_inputs_slow)")
    with connection.cursor() as cursor:
        cursor.execute("SET default_transaction_read_only = on")
    try:
        response = client.get("/healthz")
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET default_transaction_read_only = off")
    assert response.status_code == 503
    assert response.json()["status"] == "degraded"
    assert response.json()["database"] == "is read-only"


# Finding 11: headers.


@pytest.mark.parametrize("path", ["/", "/api/", "/healthz", "/accounts/login/"])
def test_every_answer_carries_a_csp_without_inline_scripts_and_a_permissions_policy(client, trained_version, path):
    response = client.get(path)
    policy = response["Content-Security-Policy"]
    assert "script-src 'self';" in policy and "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy
    assert {"camera=()", "microphone=()", "geolocation=()"} <= set(response["Permissions-Policy"].split(", "))


def test_no_page_carries_an_inline_script_or_style_attribute(admin_client, trained_version):
    prediction = admin_client.post("/", {"height": "88", "weight": "47"})
    for response in [prediction, admin_client.get("/predictions/"), admin_client.get("/models/1/")]:
        html = response.content.decode()
        assert "style=" not in html
        assert "<script>" not in html and '<script type="text/javascript">' not in html


# Finding 11: concurrent trainings cannot both activate on a stale comparison.


def test_a_training_rejudges_when_another_version_was_activated_meanwhile(trained_version, make_version, monkeypatch):
    judge = training._gate
    rival = {}

    def judge_then_lose_the_race(*args, **kwargs):
        gate = judge(*args, **kwargs)
        if not rival:  # another run commits its activation between this judgement and the switch
            rival["version"] = make_version(is_active=True, stored=True)
        return gate

    monkeypatch.setattr(training, "_gate", judge_then_lose_the_race)
    result = training.train()

    assert result.gate.baseline == rival["version"]  # judged again, against the version now active
    assert result.version.baseline_version == rival["version"].version
    assert ModelVersion.objects.filter(is_active=True).count() == 1


def test_an_activation_on_a_stale_comparison_is_refused_and_stores_nothing(trained_version, make_version):
    make_version(is_active=True)
    before = ModelVersion.objects.count()
    fields = {**{f.name: getattr(trained_version, f.name) for f in ModelVersion._meta.concrete_fields}}
    for name in ("id", "version", "is_active", "activated_at", "created_at"):
        fields.pop(name)
    with pytest.raises(versions.ActiveVersionChanged):
        versions.record_version(activate=True, compared_with=trained_version.pk, **fields)
    assert ModelVersion.objects.count() == before


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_trainings_leave_exactly_one_active_version_judged_against_its_predecessor(trained_version):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite's in-memory test database is not shared between threads")
    results, errors = [], []

    def run():
        try:
            results.append(training.train())
        except Exception as error:  # reported below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not errors
    assert ModelVersion.objects.filter(is_active=True).count() == 1
    # Equal accuracy passes the gate, so both activate, one after the other; the later one must
    # have been judged against the earlier one, not against the v1 both started from.
    first, second = sorted((result.version for result in results), key=lambda version: version.activated_at)
    assert first.baseline_version == trained_version.version
    assert second.baseline_version == first.version


# Model activations: artifacts from another scikit-learn series.


def test_a_version_saved_with_another_sklearn_series_is_refused_and_the_reason_shown(
    client, admin_client, trained_version, make_version, settings
):
    settings.ML_MODEL_CHECK_SECONDS = 0
    old = make_version(stored=True, is_active=True, sklearn_version="0.24.2")

    model = model_service.active_model()  # the older version that still loads answers
    assert model.version == trained_version.version
    health = client.get("/healthz").json()
    assert health["status"] == "degraded"
    assert "saved with scikit-learn 0.24.2" in health["warning"] and "scikit-learn==0.24.*" in health["warning"]
    assert "train_model" in health["warning"]

    listing = admin_client.get("/models/").content.decode()
    assert "Cannot be loaded: saved with scikit-learn 0.24.2." in listing
    detail = admin_client.get(f"/models/{old.version}/").content.decode()
    assert f"This server runs scikit-learn {sklearn.__version__}" in detail
    assert "Cannot be loaded" not in admin_client.get(f"/models/{trained_version.version}/").content.decode()


def test_a_patch_release_of_the_same_series_still_loads(trained_version, make_version, settings):
    major, minor, *_ = sklearn.__version__.split(".")
    settings.ML_MODEL_CHECK_SECONDS = 0
    make_version(stored=True, is_active=True, sklearn_version=f"{major}.{minor}.999")
    assert model_service.active_model().version == 2


def test_an_explicit_activation_is_not_gated(trained_version, make_version):
    worse = make_version(stored=True, cv_accuracy=0.1)
    assert versions.activate_version(worse.version).is_active


# Finding 8 on real servers (slow): a held SQLite write lock, and a PostgreSQL that stops.

JSON = "application/json; charset=utf-8"


def api_predict(base_url: str) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(
        base_url + "/api/v1/predict",
        data=b'{"height_cm": 90, "weight_kg": 50}',
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def health(base_url: str, **headers: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(urllib.request.Request(base_url + "/healthz", headers=headers), timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.mark.slow
@pytest.mark.django_db(False)
def test_a_held_sqlite_write_lock_makes_healthz_degraded_and_the_api_answer_json_503():
    with running_server(workers=2, extra_env={"DJANGO_SQLITE_TIMEOUT": "1"}) as server:
        assert health(server.base_url) == (200, {"status": "ok", "database": "ok", "model": "v1", **ALL_PARTS_OK})
        blocker = sqlite3.connect(server.database, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")  # another writer holds the lock: reads still work
        try:
            locked_health = health(server.base_url)
            status, headers, body = api_predict(server.base_url)
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        assert locked_health == (
            503,
            {"status": "degraded", "database": "writes are locked out", "model": "v1", **ALL_PARTS_OK},
        )
        assert (status, headers["Content-Type"], headers["Retry-After"]) == (503, JSON, "5")
        assert "busy or unavailable" in json.loads(body)["detail"]
        assert health(server.base_url)[0] == 200
        assert api_predict(server.base_url)[0] == 200


@contextmanager
def private_postgres_cluster() -> Iterator[tuple[str, Callable[[], None], Callable[[], None]]]:
    """A throw-away PostgreSQL cluster on a free port: (its URL, start, stop). Never the shared one on 5432."""
    binaries = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not binaries:
        pytest.skip("no PostgreSQL server binaries under /usr/lib/postgresql")
    bin_dir = binaries[-1].parent
    as_owner = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []  # initdb refuses root
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="mlsite-pg-") as workdir:
        data, socket_dir = Path(workdir) / "data", Path(workdir)
        if as_owner:
            shutil.chown(workdir, "postgres")
        run = functools.partial(subprocess.run, check=True, capture_output=True, timeout=120)
        run([*as_owner, bin_dir / "initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8"])
        options = f"-p {port} -k {socket_dir} -c listen_addresses=127.0.0.1 -c fsync=off"

        def start() -> None:
            run([*as_owner, bin_dir / "pg_ctl", "-D", data, "-o", options, "-l", Path(workdir) / "log", "-w", "start"])

        def stop() -> None:
            run([*as_owner, bin_dir / "pg_ctl", "-D", data, "-m", "fast", "-w", "stop"])

        start()
        try:
            yield f"postgres://postgres@127.0.0.1:{port}/postgres", start, stop
        finally:
            subprocess.run([*as_owner, bin_dir / "pg_ctl", "-D", data, "-m", "immediate", "stop"], capture_output=True)


@pytest.mark.slow
@pytest.mark.django_db(False)
def test_a_stopped_postgresql_is_answered_with_json_503s_a_503_page_and_unavailable_then_recovers():
    with (
        private_postgres_cluster() as (database_url, start, stop_cluster),
        running_server(workers=1, database_url=database_url) as server,
    ):
        visitor = BrowserLikeClient(server.base_url)
        visitor.open_form()
        assert api_predict(server.base_url)[0] == 200

        stop_cluster()
        try:
            status, headers, body = api_predict(server.base_url)
            form_status, form_headers, form_body = visitor.request(
                "POST", "/", f"csrfmiddlewaretoken={visitor.token}&height=90&weight=50"
            )
            down = health(server.base_url)
        finally:
            start()

        assert (status, headers["Content-Type"], headers["Retry-After"]) == (503, JSON, "5")
        assert set(json.loads(body)) == {"detail", "errors", "request_id"}
        assert form_status == 503 and form_headers["Content-Type"].startswith("text/html")
        assert b"Temporarily unavailable" in form_body and b"Traceback" not in form_body
        assert down[0] == 503 and down[1]["status"] == "unavailable"

        deadline = time.monotonic() + 30
        while health(server.base_url)[0] != 200 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert health(server.base_url) == (200, {"status": "ok", "database": "ok", "model": "v1", **ALL_PARTS_OK})
        assert api_predict(server.base_url)[0] == 200
        assert visitor.submit(90, 50) == (200, True)
