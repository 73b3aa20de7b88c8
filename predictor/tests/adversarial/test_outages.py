"""Issue 26, point 1: Redis stopped under a running site. Pages and predictions answer, the limits
still count (in the database meanwhile), and /healthz says which part is down.

Each test starts its own redis-server on a free port and stops it itself: no mock.
"""

import json
import logging
import shutil

import pytest
from prometheus_client import REGISTRY

from predictor.models import LimitCounter, Prediction
from predictor.ops import counters
from predictor.tests.redis_server import running_redis

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server on PATH"),
]

ADDRESS = "203.0.113.40"
FORM = {"height": "40", "weight": "12.5"}
ONE = {"height_cm": 40, "weight_kg": 12.5}
PREDICT = "/api/v1/predict"


class FrozenClock:
    """Fixed-window counters restart at a window's end; a frozen clock keeps a test inside one window."""

    @staticmethod
    def time() -> float:
        return 1_900_000_020.0


@pytest.fixture
def redis_server(settings, monkeypatch):
    monkeypatch.setattr("predictor.ops.limits.time", FrozenClock)
    with running_redis() as server:
        settings.REDIS_URL = server.url
        settings.REDIS_RETRY_SECONDS = 0  # each count tries Redis again: the test decides when it is back
        yield server


def post_json(client, body, **headers):
    return client.post(PREDICT, json.dumps(body), content_type="application/json", REMOTE_ADDR=ADDRESS, headers=headers)


def counts_in_database() -> float:
    return REGISTRY.get_sample_value("mlsite_limit_counts_in_database_total") or 0


def test_with_redis_stopped_the_form_the_api_and_a_wrong_key_answer_and_health_says_degraded(
    client, trained_version, redis_server, caplog
):
    assert client.post("/", FORM, REMOTE_ADDR=ADDRESS).status_code == 200
    assert client.get("/healthz").json()["counters"] == "ok"
    before = counts_in_database()

    redis_server.stop()
    with caplog.at_level(logging.WARNING, logger="predictor.ops.counters"):
        form = client.post("/", FORM, REMOTE_ADDR=ADDRESS)
        api = post_json(client, ONE)
        wrong_key = client.get("/api/v1/models", REMOTE_ADDR=ADDRESS, headers={"Authorization": "Bearer not-a-key"})
        health = client.get("/healthz")

    assert form.status_code == 200 and '<span class="species">' in form.content.decode()
    assert (api.status_code, api["Content-Type"]) == (200, "application/json; charset=utf-8")
    assert api.json()["species"]
    assert (wrong_key.status_code, wrong_key["Content-Type"]) == (401, "application/json; charset=utf-8")
    assert Prediction.objects.count() == 3
    assert health.status_code == 200  # it still predicts: the load balancer keeps it
    body = health.json()
    assert body["status"] == "degraded"
    assert body["counters"].startswith("Redis unavailable") and "database" in body["counters"]
    assert (body["database"], body["model"]) == ("ok", "v1")
    assert LimitCounter.objects.exists()  # counted meanwhile in the database
    assert counts_in_database() > before
    assert "counting rate limits in the database" in caplog.text


def test_with_redis_stopped_the_limits_still_hold(client, trained_version, redis_server, settings):
    settings.RATE_LIMIT_PREDICTIONS_PER_MINUTE = 2
    redis_server.stop()

    answers = [post_json(client, ONE).status_code for _ in range(3)]

    assert answers == [200, 200, 429]
    assert Prediction.objects.count() == 2


def test_when_redis_is_back_the_counts_go_there_again_and_health_is_ok(client, trained_version, redis_server):
    import redis

    redis_server.stop()
    assert post_json(client, ONE).status_code == 200
    assert client.get("/healthz").json()["status"] == "degraded"

    redis_server.start()
    assert post_json(client, ONE).status_code == 200

    health = client.get("/healthz").json()
    assert (health["status"], health["counters"]) == ("ok", "ok")
    keys = list(redis.Redis.from_url(redis_server.url).scan_iter("mlsite:limits:predictions:*"))
    assert keys  # the request after the restart was counted in Redis


def test_an_outage_costs_one_timeout_per_retry_period_not_one_per_count(
    trained_version, redis_server, settings, monkeypatch
):
    settings.REDIS_RETRY_SECONDS = 60
    redis_server.stop()
    limit_counters = counters.counters()
    limit_counters.add("outage-test", 1, expires_at=1_900_000_100)  # finds Redis down
    tries = []
    real_pipeline = limit_counters._redis.pipeline
    monkeypatch.setattr(limit_counters._redis, "pipeline", lambda **kwargs: tries.append(1) or real_pipeline(**kwargs))

    for _ in range(50):
        limit_counters.add("outage-test", 1, expires_at=1_900_000_100)

    assert limit_counters.read("outage-test") == 51  # every count kept, in the database
    assert tries == []  # Redis not asked again within the retry period: no request waits on it


def test_with_the_job_queue_on_a_stopped_redis_health_names_the_queue(client, trained_version, redis_server, settings):
    settings.JOBS_BACKEND = "rq"
    assert client.get("/healthz").json()["queue"] == "ok"

    redis_server.stop()
    health = client.get("/healthz")

    assert health.status_code == 200
    assert health.json()["status"] == "degraded"
    assert health.json()["queue"].startswith("Redis unavailable")
    assert "jobs cannot be queued" in health.json()["queue"]
