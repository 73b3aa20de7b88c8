"""/metrics (what it counts, who may read it) and the request id in answers, error pages and log lines."""

import io
import json
import logging
import os
import runpy
import threading
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured
from django.db import OperationalError, transaction
from django.test import Client
from django.utils.module_loading import import_string
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from predictor.history import writer
from predictor.models import Job, Prediction
from predictor.ops import request_id
from predictor.serving import model_service
from predictor.tests.tabular import IRIS_FLOWER

pytestmark = pytest.mark.django_db

REMOTE = {"REMOTE_ADDR": "203.0.113.9"}  # a caller on another machine (the test client is 127.0.0.1)
TOKEN = "a-metrics-token-long-enough-to-resist-guessing-0123456789"
ONE = {"height_cm": 40, "weight_kg": 12.5}


def samples(client=None, **extra) -> dict[tuple[str, tuple], float]:
    """/metrics parsed as Prometheus parses it: (sample name, sorted labels) -> value."""
    response = (client or Client()).get("/metrics", **extra)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def value(scraped: dict, name: str, **labels) -> float:
    return scraped.get((name, tuple(sorted(labels.items()))), 0.0)


def predictions(scraped: dict, *, version: int, species: str, source: str, model: str = "animals") -> float:
    labels = {"model": model, "model_version": str(version), "species": species, "source": source}
    return value(scraped, "mlsite_predictions_total", **labels)


def stored_counts(scraped: dict) -> dict:
    return {key: count for key, count in scraped.items() if key[0] == "mlsite_predictions_total"}


def post_json(client, path, body, **extra):
    return client.post(path, json.dumps(body), content_type="application/json", **extra)


# What is counted


def test_form_api_and_batch_predictions_move_their_own_counts(
    client, key_client, trained_version, django_capture_on_commit_callbacks
):
    version = trained_version.version
    before = samples()
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/", {"height": "40", "weight": "12.5"})
        single = post_json(client, "/api/v1/predict", {"height_cm": 90, "weight_kg": 50}).json()
        batch = post_json(key_client, "/api/v1/predict/batch", [ONE, ONE, {"height_cm": 90, "weight_kg": 50}]).json()
    after = samples()

    form_species = Prediction.objects.get(source=Prediction.Source.FORM).species
    batch_species = [item["species"] for item in batch["results"]]
    expected = {
        ("form", form_species): 1,
        ("api", single["species"]): 1 + batch_species.count(single["species"]),
    }
    for species in set(batch_species) - {single["species"]}:
        expected[("api", species)] = batch_species.count(species)
    for source in ("form", "api", "batch"):
        for species in ("Cat", "Dog"):
            moved = predictions(after, version=version, species=species, source=source) - predictions(
                before, version=version, species=species, source=source
            )
            assert moved == expected.get((source, species), 0), (source, species)


def test_a_batch_rolled_back_is_never_counted(trained_version, django_capture_on_commit_callbacks):
    features = np.array([[40, 12.5], [90, 50]], dtype=float)
    result = model_service.predict_many(features)
    before = samples()
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        writer.record_predictions(result=result, source=Prediction.Source.BATCH)
        transaction.set_rollback(True)  # as when the upload's file cannot be kept
    assert not Prediction.objects.exists()
    assert stored_counts(samples()) == stored_counts(before)


def test_latency_is_counted_by_route_name_and_method_never_by_raw_path(client, trained_version):
    before = samples()
    client.get("/")
    client.get("/")
    client.get("/no-such-page-4f1c9e/")
    client.get("/models/123456/")
    after = samples()

    def requests(scraped, route, method="GET"):
        return value(scraped, "mlsite_request_duration_seconds_count", route=route, method=method)

    assert requests(after, "predictor:predict") - requests(before, "predictor:predict") == 2
    assert requests(after, "unmatched") - requests(before, "unmatched") == 1
    assert requests(after, "predictor:model_detail") - requests(before, "predictor:model_detail") == 1
    labels = {value for _, sample_labels in after for _, value in sample_labels}
    assert not any("4f1c9e" in label or "123456" in label for label in labels)
    bucket = value(after, "mlsite_request_duration_seconds_bucket", route="predictor:predict", method="GET", le="+Inf")
    assert bucket == requests(after, "predictor:predict")


def test_an_invented_method_does_not_make_a_new_series(client, db):
    client.generic("BREW", "/")
    assert value(samples(), "mlsite_request_duration_seconds_count", route="predictor:predict", method="other") >= 1
    assert not any(dict(labels).get("method") == "BREW" for _, labels in samples())


def test_model_reloads_and_refusals_are_counted(client, make_version):
    before = samples()
    post_json(client, "/api/v1/predict", ONE)  # no model at all: refused, not ready
    make_version(stored=True, is_active=True)
    model_service.clear_cache()
    post_json(client, "/api/v1/predict", ONE)  # loads v1
    make_version(is_active=True)  # v2's artifact was never stored: refused, v1 keeps answering
    model_service.clear_cache()
    assert post_json(client, "/api/v1/predict", ONE).json()["model_version"] == 1
    after = samples()

    def moved(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("mlsite_model_refusals_total", reason="not_ready") == 1
    assert moved("mlsite_model_refusals_total", reason="artifact") == 1
    assert moved("mlsite_model_reloads_total") == 1


def test_job_counts_are_asked_of_the_database_at_every_scrape(db):
    for status in ("queued", "queued", "queued", "running"):
        Job.objects.create(kind=Job.Kind.BATCH, status=status)
    scraped = samples()
    assert value(scraped, "mlsite_jobs", status="queued") == 3
    assert value(scraped, "mlsite_jobs", status="running") == 1
    assert value(scraped, "mlsite_jobs", status="failed") == 0
    Job.objects.filter(status="queued").update(status="failed")
    assert value(samples(), "mlsite_jobs", status="queued") == 0
    assert value(samples(), "mlsite_jobs", status="failed") == 3


# Who may read it


def test_a_remote_anonymous_caller_is_told_there_is_no_such_page(client, db):
    response = client.get("/metrics", **REMOTE)
    assert response.status_code == 404
    assert b"mlsite_" not in response.content


def test_local_callers_and_the_token_may_scrape_a_wrong_token_may_not(client, db, settings):
    settings.METRICS_TOKEN = TOKEN
    assert client.get("/metrics").status_code == 200  # the test client is 127.0.0.1
    samples(HTTP_AUTHORIZATION=f"Bearer {TOKEN}", **REMOTE)
    wrong = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN[:-1]}x", **REMOTE)
    assert wrong.status_code == 403
    assert b"mlsite_" not in wrong.content


def test_guessing_the_token_meets_the_wrong_key_limit(client, db, settings):
    settings.METRICS_TOKEN = TOKEN
    settings.RATE_LIMIT_API_KEY_FAILURES_PER_MINUTE = 2
    statuses = [
        client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer guess-{attempt}", **REMOTE).status_code
        for attempt in range(3)
    ]
    assert statuses == [403, 403, 429]
    # Refused while the limit lasts, even with the right token.
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}", **REMOTE).status_code == 429


def test_no_token_is_accepted_when_none_is_set(client, db, settings):
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ", **REMOTE).status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer anything", **REMOTE).status_code == 403


def test_a_forwarded_address_is_believed_only_behind_a_named_proxy(client, db, settings):
    spoofed = {"HTTP_X_FORWARDED_FOR": "127.0.0.1", **REMOTE}
    assert client.get("/metrics", **spoofed).status_code == 404
    settings.CLIENT_IP_HEADER = "HTTP_X_FORWARDED_FOR"
    assert client.get("/metrics", HTTP_X_FORWARDED_FOR="127.0.0.1, 203.0.113.9", **REMOTE).status_code == 404
    assert client.get("/metrics", HTTP_X_FORWARDED_FOR="203.0.113.9, 127.0.0.1", **REMOTE).status_code == 200


def test_staff_need_the_permission(make_staff):
    bare, viewer = Client(**REMOTE), Client(**REMOTE)
    bare.force_login(make_staff("bare"))
    viewer.force_login(make_staff("viewer", group="viewer"))
    assert bare.get("/metrics").status_code == 403
    samples(viewer)


# The request id


def test_every_answer_carries_a_fresh_request_id_a_client_cannot_choose(client, db):
    first, second = client.get("/healthz"), client.get("/healthz", HTTP_X_REQUEST_ID="chosen-by-client")
    assert len(first["X-Request-ID"]) == 32
    assert second["X-Request-ID"] not in {first["X-Request-ID"], "chosen-by-client"}


def test_a_trusted_proxys_request_id_is_kept_when_well_formed(client, db, settings):
    settings.CLIENT_IP_HEADER = "HTTP_X_FORWARDED_FOR"
    assert client.get("/healthz", HTTP_X_REQUEST_ID="lb-7f3a:42")["X-Request-ID"] == "lb-7f3a:42"
    forged = client.get("/healthz", HTTP_X_REQUEST_ID="x\r\nFAKE log line")["X-Request-ID"]
    assert len(forged) == 32 and "FAKE" not in forged


@pytest.fixture
def json_log():
    """Log lines as DJANGO_LOG_FORMAT=json writes them (the settings' own formatter and filter), captured."""
    stream = io.StringIO()
    config = dict(django_settings.LOGGING["formatters"]["json"])
    formatter = import_string(config.pop("()"))(**config)
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    handler.addFilter(request_id.RequestIdFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    root.removeHandler(handler)


def test_an_api_error_quotes_its_request_id_as_its_log_lines_do(client, trained_version, json_log):
    response = post_json(client, "/api/v1/predict", {"height_cm": "tall"})
    assert response.status_code == 422
    answer_id = response["X-Request-ID"]
    assert response.json()["request_id"] == answer_id
    logged = [line for line in json_log() if line["request_id"] == answer_id]
    assert logged and logged[0]["level"] == "WARNING" and "/api/v1/predict" in logged[0]["message"]
    assert {"time", "logger", "host", "process"} <= set(logged[0])
    assert all(line["request_id"] == "-" for line in json_log() if line not in logged)


def test_work_done_for_a_request_elsewhere_logs_under_its_id(json_log):
    with request_id.carried("from-the-enqueuing-request"):
        logging.getLogger("predictor.jobs").warning("row 5 of 10")
    logging.getLogger("predictor.jobs").warning("after")
    assert [line["request_id"] for line in json_log()] == ["from-the-enqueuing-request", "-"]


def test_the_500_page_shows_the_request_id_in_small_print(trained_version, monkeypatch, json_log):
    def broken(values):
        raise RuntimeError("bug")

    monkeypatch.setattr(model_service, "predict", broken)
    response = Client(raise_request_exception=False).post("/", {"height": "40", "weight": "12.5"})
    assert response.status_code == 500
    answer_id = response["X-Request-ID"]
    assert f"<small>Request id: {answer_id}</small>" in response.content.decode()
    assert any(line["request_id"] == answer_id and line["level"] == "ERROR" for line in json_log())


def test_the_database_503_page_and_json_show_the_request_id(client, trained_version, monkeypatch):
    def locked(values):
        raise OperationalError("database is locked")

    monkeypatch.setattr(model_service, "predict", locked)
    page = client.post("/", {"height": "40", "weight": "12.5"})
    assert page.status_code == 503
    assert f"Request id: {page['X-Request-ID']}" in page.content.decode()
    api = post_json(client, "/api/v1/predict", ONE)
    assert api.status_code == 503
    assert api.json()["request_id"] == api["X-Request-ID"]


# The settings


def read_settings(monkeypatch, tmp_path, **env) -> dict:
    monkeypatch.setenv("DJANGO_SQLITE_PATH", str(tmp_path / "db.sqlite3"))  # never the worktree's database
    for name, setting in env.items():
        monkeypatch.setenv(name, setting)
    return runpy.run_path(str(Path(django_settings.BASE_DIR) / "mlsite" / "settings.py"))


def test_json_logs_are_one_setting_away(monkeypatch, tmp_path):
    assert read_settings(monkeypatch, tmp_path)["LOGGING"]["handlers"]["console"]["formatter"] == "plain"
    chosen = read_settings(monkeypatch, tmp_path, DJANGO_LOG_FORMAT="JSON")
    assert chosen["LOGGING"]["handlers"]["console"]["formatter"] == "json"


@pytest.mark.parametrize(("name", "wrong"), [("DJANGO_LOG_FORMAT", "xml"), ("DJANGO_METRICS_TOKEN", "secret")])
def test_a_wrong_metrics_or_log_setting_stops_start_up_naming_it(monkeypatch, tmp_path, name, wrong):
    with pytest.raises(ImproperlyConfigured, match=name):
        read_settings(monkeypatch, tmp_path, **{name: wrong})


# Under gunicorn: several workers, one sum


@pytest.mark.slow
def test_counts_are_summed_across_gunicorn_workers(tmp_path):
    from predictor.tests.live_server import running_server

    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    (metrics_dir / "counter_999999.db").write_bytes(b"stale")  # a previous run's: cleared at start
    env = {"PROMETHEUS_MULTIPROC_DIR": str(metrics_dir), "DJANGO_LOG_FORMAT": "json"}
    with running_server(workers=2, database_url=os.environ.get("DATABASE_URL", ""), extra_env=env) as server:
        sent, failures = 0, []
        # Concurrent new connections reach both workers; keep going until files show two writers.
        while sent < 400 and len(_writers(metrics_dir)) < 2:
            threads = [threading.Thread(target=_predict, args=(server.base_url, failures)) for _ in range(20)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            sent += len(threads)
        assert failures == []
        assert len(_writers(metrics_dir)) >= 2
        # Whichever worker answers the scrape, it reports every worker's predictions.
        totals = set()
        for _ in range(6):
            with urllib.request.urlopen(server.base_url + "/metrics", timeout=10) as response:
                scraped = {
                    (sample.name, tuple(sorted(sample.labels.items()))): sample.value
                    for family in text_string_to_metric_families(response.read().decode())
                    for sample in family.samples
                }
            totals.add(sum(v for (name, labels), v in scraped.items() if name == "mlsite_predictions_total"))
        assert totals == {float(sent)}
        assert not (metrics_dir / "counter_999999.db").exists()

        # One request, followed by its id: the answer's header, its JSON error, its log line.
        request = urllib.request.Request(
            server.base_url + "/api/v1/predict", data=b"{}", headers={"Content-Type": "application/json"}
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        answer_id = refused.value.headers["X-Request-ID"]
        assert json.loads(refused.value.read())["request_id"] == answer_id
        log = Path(server.workdir).glob("gunicorn-*.log")
        lines = [line for path in log for line in path.read_text().splitlines() if answer_id in line]
        assert any(json.loads(line)["request_id"] == answer_id for line in lines if line.startswith("{"))


def _predict(base_url: str, failures: list) -> None:
    request = urllib.request.Request(
        base_url + "/api/v1/predict", data=json.dumps(ONE).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 200
    except Exception as error:  # a thread's exception would be lost: the test reports it  # noqa: BLE001
        detail = error.read().decode() if isinstance(error, urllib.error.HTTPError) else ""
        failures.append(f"{error!r} {detail}")


def _writers(metrics_dir: Path) -> set[str]:
    """The worker processes whose own file counts at least one prediction."""
    return {
        path.name
        for path in metrics_dir.glob("counter_*.db")
        if any(
            sample.value
            for family in MultiProcessCollector.merge([str(path)], accumulate=False)
            for sample in family.samples
            if sample.name == "mlsite_predictions_total"
        )
    }


def test_each_models_predictions_are_counted_under_its_own_name(
    client, three_models, django_capture_on_commit_callbacks
):
    before = samples()
    with django_capture_on_commit_callbacks(execute=True):
        post_json(client, "/api/v2/models/iris/predict", IRIS_FLOWER)
        client.post("/", {"height": "40", "weight": "12.5"})
    after = samples()
    assert (
        predictions(after, model="iris", version=1, species="setosa", source="api")
        - predictions(before, model="iris", version=1, species="setosa", source="api")
        == 1
    )
    moved = {
        key: count - before.get(key, 0) for key, count in stored_counts(after).items() if count != before.get(key, 0)
    }
    assert {dict(labels)["model"] for _name, labels in moved} == {"iris", "animals"}
