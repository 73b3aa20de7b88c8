"""Rate limits, log-in lock-outs, password reset without mail, and Idempotency-Key on API writes."""

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.utils import timezone

from predictor.models import IdempotentRequest, LimitCounter, Prediction
from predictor.ops import api_keys
from predictor.ops.counters import CULL_EVERY_SECONDS, DatabaseCounters, RedisCounters
from predictor.serving import model_service
from predictor.tests.live_server import PROJECT_DIR

pytestmark = pytest.mark.django_db

ATTACKER = "203.0.113.7"
NEIGHBOUR = "198.51.100.2"
FORM = {"height": "40", "weight": "12.5"}
ONE = {"height_cm": 40, "weight_kg": 12.5}
PREDICT = "/api/v1/predict"
BATCH = "/api/v1/predict/batch"
LOGIN = "/accounts/login/"
PASSWORD = "a long staff password 42"


class FrozenClock:
    """Fixed-window counters restart at a window's end; a frozen clock keeps a test inside one window."""

    @staticmethod
    def time() -> float:
        return 1_900_000_020.0


@pytest.fixture(autouse=True)
def frozen_windows(monkeypatch):
    monkeypatch.setattr("predictor.ops.limits.time", FrozenClock)


def post_json(client, path, body, address, **headers):
    return client.post(path, json.dumps(body), content_type="application/json", REMOTE_ADDR=address, headers=headers)


def assert_retry_after(response):
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0


def test_form_submissions_past_the_limit_get_the_429_page_while_another_client_is_served(
    client, trained_version, settings
):
    settings.RATE_LIMIT_PREDICTIONS_PER_MINUTE = 3
    for _ in range(3):
        assert client.post("/", FORM, REMOTE_ADDR=ATTACKER).status_code == 200

    refused = client.post("/", FORM, REMOTE_ADDR=ATTACKER)

    assert_retry_after(refused)
    assert "Too many predictions from your address: at most 3 a minute" in refused.content.decode()
    assert refused["Content-Type"].startswith("text/html")
    assert client.post("/", FORM, REMOTE_ADDR=NEIGHBOUR).status_code == 200
    assert client.get("/", REMOTE_ADDR=ATTACKER).status_code == 200  # reading the form costs nothing
    assert Prediction.objects.count() == 4


def test_api_predictions_past_the_limit_get_json_429_and_batches_share_the_budget(
    key_client, trained_version, settings
):
    client = key_client  # batches need an API key (an operator's)
    settings.RATE_LIMIT_PREDICTIONS_PER_MINUTE = 2
    assert post_json(client, PREDICT, ONE, ATTACKER).status_code == 200
    assert post_json(client, "/api/predict/batch", [ONE], ATTACKER).status_code == 200  # the alias counts too

    refused = post_json(client, PREDICT, ONE, ATTACKER)

    assert_retry_after(refused)
    assert refused.json()["detail"].startswith("Too many predictions from your address")
    assert refused.json()["errors"] == []
    assert post_json(client, BATCH, [ONE], ATTACKER).status_code == 429
    assert post_json(client, PREDICT, ONE, NEIGHBOUR).status_code == 200


def test_the_counter_is_kept_in_the_database_where_every_worker_reads_it(client, trained_version, settings):
    settings.RATE_LIMIT_PREDICTIONS_PER_MINUTE = 100
    for _ in range(3):
        post_json(client, PREDICT, ONE, ATTACKER)

    with connection.cursor() as cursor:
        cursor.execute("SELECT count FROM predictor_limitcounter")
        counts = [count for (count,) in cursor.fetchall()]

    assert counts == [3]


def test_a_proxy_header_is_believed_only_when_named(client, trained_version, settings):
    settings.RATE_LIMIT_PREDICTIONS_PER_MINUTE = 1
    post_json(client, PREDICT, ONE, ATTACKER, X_Forwarded_For="10.0.0.1")
    # A forged header changes nothing: the connection's address is the client.
    assert post_json(client, PREDICT, ONE, ATTACKER, X_Forwarded_For="10.0.0.2").status_code == 429

    settings.CLIENT_IP_HEADER = "HTTP_X_FORWARDED_FOR"
    assert post_json(client, PREDICT, ONE, "127.0.0.1", X_Forwarded_For="10.0.0.3").status_code == 200


def test_batch_items_are_limited_per_client_and_a_refused_batch_stores_and_spends_nothing(
    key_client, trained_version, settings
):
    client = key_client  # batches need an API key (an operator's)
    settings.RATE_LIMIT_BATCH_ROWS_PER_HOUR = 5
    assert post_json(client, BATCH, [ONE] * 3, ATTACKER).status_code == 200

    refused = post_json(client, BATCH, [ONE] * 3, ATTACKER)

    assert_retry_after(refused)
    assert "at most 5 an hour, 2 left now" in refused.json()["detail"]
    assert Prediction.objects.count() == 3
    assert post_json(client, BATCH, [ONE] * 2, ATTACKER).status_code == 200
    assert post_json(client, BATCH, [ONE] * 5, NEIGHBOUR).status_code == 200


@pytest.fixture
def staff(db):
    users = get_user_model().objects
    return users.create_user("staff", password=PASSWORD, is_staff=True), users.create_user("other", password=PASSWORD)


def log_in(address, username, password=PASSWORD, path=LOGIN):
    visitor = Client()
    response = visitor.post(path, {"username": username, "password": password}, REMOTE_ADDR=address)
    return response, "_auth_user_id" in visitor.session


def test_thirty_wrong_passwords_lock_that_username_out_for_that_address_only(staff, settings):
    settings.AXES_FAILURE_LIMIT = 5
    answers = [log_in(ATTACKER, "staff", f"guess {n}")[0].status_code for n in range(30)]
    assert answers[:4] == [200] * 4  # the form again, with its error
    assert set(answers[5:]) == {429}

    locked, logged_in = log_in(ATTACKER, "staff")
    assert_retry_after(locked)
    assert "Too many failed log-ins for this username" in locked.content.decode()
    assert not logged_in
    assert not log_in(ATTACKER, "staff", path="/admin/login/")[1]

    response, logged_in = log_in(NEIGHBOUR, "staff")
    assert (response.status_code, logged_in) == (302, True)
    response, logged_in = log_in(ATTACKER, "other")
    assert (response.status_code, logged_in) == (302, True)


def test_log_in_attempts_are_limited_per_address_whatever_the_username(staff, settings):
    settings.RATE_LIMIT_LOGINS_PER_HOUR = 3
    for username in ("a", "b", "c"):
        assert log_in(ATTACKER, username)[0].status_code == 200

    refused, logged_in = log_in(ATTACKER, "staff")

    assert_retry_after(refused)
    assert not logged_in
    assert log_in(ATTACKER, "staff", path="/admin/login/")[0].status_code == 429
    assert log_in(NEIGHBOUR, "staff")[1]


def test_guessing_api_keys_gets_429_even_for_the_right_key_while_others_are_served(client, operator, settings):
    settings.RATE_LIMIT_API_KEY_FAILURES_PER_MINUTE = 3
    _, secret = api_keys.create_key(name="reports", created_by=operator)
    for n in range(3):
        guess = client.get("/api/v1/models", headers={"X-API-Key": f"guess-{n}"}, REMOTE_ADDR=ATTACKER)
        assert guess.status_code == 401

    refused = client.get("/api/v1/models", headers={"Authorization": "Bearer guess-4"}, REMOTE_ADDR=ATTACKER)
    right_key = client.get("/api/v1/models", headers={"X-API-Key": secret}, REMOTE_ADDR=ATTACKER)

    assert_retry_after(refused)
    assert refused.json()["detail"].startswith("Too many wrong API keys from your address")
    assert right_key.status_code == 429
    assert client.get("/api/v1/models", headers={"X-API-Key": secret}, REMOTE_ADDR=NEIGHBOUR).status_code == 200
    assert client.get("/api/v1/models", REMOTE_ADDR=ATTACKER).status_code == 401  # no key sent: not a guess


def test_password_reset_is_not_found_without_mail_and_limited_with_it(client, staff, settings, mailoutbox):
    settings.EMAIL_HOST = ""
    assert client.get("/accounts/password_reset/").status_code == 404
    assert client.post("/accounts/password_reset/", {"email": "staff@example.com"}).status_code == 404
    assert "password_reset" not in client.get(LOGIN).content.decode()

    settings.EMAIL_HOST = "mail.example.com"
    settings.RATE_LIMIT_PASSWORD_RESETS_PER_HOUR = 2
    assert 'href="/accounts/password_reset/"' in client.get(LOGIN).content.decode()
    assert client.get("/accounts/password_reset/").status_code == 200
    for _ in range(2):
        assert (
            client.post("/accounts/password_reset/", {"email": "x@example.com"}, REMOTE_ADDR=ATTACKER).status_code
            == 302
        )
    assert_retry_after(client.post("/accounts/password_reset/", {"email": "x@example.com"}, REMOTE_ADDR=ATTACKER))


def test_a_retry_with_the_same_idempotency_key_replays_the_answer_and_stores_once(key_client, trained_version):
    client = key_client  # batches need an API key (an operator's)
    key = str(uuid.uuid4())
    first = post_json(client, PREDICT, ONE, ATTACKER, Idempotency_Key=key)
    retry = post_json(client, PREDICT, ONE, ATTACKER, Idempotency_Key=key)

    assert first.status_code == retry.status_code == 200
    assert retry.json() == first.json()
    assert retry["Idempotent-Replayed"] == "true"
    assert Prediction.objects.count() == 1

    batch = [ONE, {"height_cm": 90, "weight_kg": 48}]
    answers = [post_json(client, BATCH, batch, ATTACKER, Idempotency_Key="batch-1").json() for _ in range(2)]
    assert answers[0] == answers[1]
    assert Prediction.objects.count() == 3


def test_the_same_idempotency_key_with_another_body_is_409_and_stores_nothing(client, trained_version):
    post_json(client, PREDICT, ONE, ATTACKER, Idempotency_Key="k1")

    reused = post_json(client, PREDICT, {"height_cm": 90, "weight_kg": 48}, ATTACKER, Idempotency_Key="k1")

    assert reused.status_code == 409
    assert "already used with another request body" in reused.json()["detail"]
    assert Prediction.objects.count() == 1


def test_idempotency_keys_belong_to_the_api_key_else_to_the_address(client, trained_version, staff):
    post_json(client, PREDICT, ONE, ATTACKER, Idempotency_Key="shared")
    assert post_json(client, PREDICT, ONE, NEIGHBOUR, Idempotency_Key="shared").status_code == 200
    assert Prediction.objects.count() == 2  # two clients, two requests

    _, secret = api_keys.create_key(name="importer", created_by=staff[0])
    post_json(client, PREDICT, ONE, ATTACKER, Idempotency_Key="shared", X_API_Key=secret)
    moved = post_json(client, PREDICT, ONE, NEIGHBOUR, Idempotency_Key="shared", Authorization=f"Bearer {secret}")
    assert moved["Idempotent-Replayed"] == "true"  # the same program, retrying from another address
    assert Prediction.objects.count() == 3


def test_failures_are_not_remembered_and_bad_keys_are_refused(client, make_version):
    assert post_json(client, PREDICT, ONE, ATTACKER, Idempotency_Key="retry-me").status_code == 503  # no model yet
    make_version(stored=True, is_active=True)
    model_service.clear_cache()
    assert post_json(client, PREDICT, ONE, ATTACKER, Idempotency_Key="retry-me").status_code == 200

    too_long = post_json(client, PREDICT, ONE, ATTACKER, Idempotency_Key="k" * 256)
    assert too_long.status_code == 400
    assert "Idempotency-Key" in too_long.json()["detail"]
    assert Prediction.objects.count() == 1


def test_expired_idempotency_keys_are_cleared(client, trained_version, settings):
    post_json(client, PREDICT, ONE, ATTACKER, Idempotency_Key="old")
    IdempotentRequest.objects.update(expires_at=timezone.now())

    call_command("clear_idempotency_keys", stdout=StringIO())

    assert not IdempotentRequest.objects.exists()
    assert post_json(client, PREDICT, ONE, ATTACKER, Idempotency_Key="old").status_code == 200
    assert Prediction.objects.count() == 2


def redis_is_up() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=0.5).close()
    except OSError:
        return False
    return True


@pytest.mark.skipif(not redis_is_up(), reason="needs Redis at 127.0.0.1:6379")
def test_with_redis_the_counters_live_in_redis(key_client, trained_version, settings):
    client = key_client  # batches need an API key (an operator's)
    import redis

    prefix = f"mlsite-test-{uuid.uuid4().hex}"
    settings.REDIS_URL = "redis://127.0.0.1:6379/15"
    settings.REDIS_KEY_PREFIX = prefix
    settings.RATE_LIMIT_PREDICTIONS_PER_MINUTE = 2
    settings.RATE_LIMIT_BATCH_ROWS_PER_HOUR = 3
    server = redis.Redis.from_url("redis://127.0.0.1:6379/15")
    try:
        assert post_json(client, PREDICT, ONE, ATTACKER).status_code == 200
        assert post_json(client, BATCH, [ONE] * 3, ATTACKER).status_code == 200
        assert_retry_after(post_json(client, PREDICT, ONE, ATTACKER))
        assert post_json(client, BATCH, [ONE], NEIGHBOUR).status_code == 200
        assert post_json(client, BATCH, [ONE] * 3, NEIGHBOUR).status_code == 429  # items: 1 + 3 > 3

        counters = {key.decode(): int(server.get(key)) for key in server.scan_iter(f"{prefix}:*")}
        # The attacker: 3 requests (one refused), 3 items; the neighbour: 2 requests, 1 item (3 refused).
        # (The batches' API key was right, so each client's wrong-key counter stays at 0.)
        assert sorted(count for count in counters.values() if count) == [1, 2, 3, 3]
        assert not LimitCounter.objects.exists()
    finally:
        for key in server.scan_iter(f"{prefix}:*"):
            server.delete(key)


@pytest.mark.slow
def test_two_gunicorn_workers_share_one_counter(tmp_path):
    from predictor.tests.live_server import running_server

    with running_server(workers=2, extra_env={"RATE_LIMIT_PREDICTIONS_PER_MINUTE": "5"}) as server:
        statuses = []
        for _ in range(12):  # a new connection each time, so both workers answer some
            request = urllib.request.Request(
                server.base_url + PREDICT, json.dumps(ONE).encode(), {"Content-Type": "application/json"}
            )
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    statuses.append(response.status)
            except urllib.error.HTTPError as error:
                statuses.append(error.code)
        counts = [count for (count,) in server.query("SELECT count FROM predictor_limitcounter")]

    # Every request counted in one place; 5 served per window (a minute's window may end mid-run).
    assert sum(counts) == 12
    assert statuses.count(200) == 5 * len(counts)
    assert statuses.count(429) == 12 - statuses.count(200)


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="two connections at once: run with a PostgreSQL DATABASE_URL"
)
@pytest.mark.django_db(transaction=True)
def test_a_duplicate_sent_while_the_first_runs_gets_the_first_answer_and_stores_nothing():
    from django.db import connections
    from django.http import HttpResponse
    from django.test import RequestFactory

    from predictor.models import ApiKey
    from predictor.ops import idempotency

    first_is_running = threading.Event()

    def answer(name: str, *, wait: bool):
        def run():
            ApiKey(name=name, prefix=name, key_sha256=ApiKey.hash(name)).save()  # what a prediction would store
            if wait:
                first_is_running.set()
                time.sleep(0.5)
            return HttpResponse(json.dumps({"answered_by": name}), status=200)

        request = RequestFactory().post(PREDICT, json.dumps(ONE), content_type="application/json")
        try:
            return idempotency.answer_once(request=request, key="twice", operation="predict", run=run)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(answer, "first", wait=True)
        first_is_running.wait(5)
        second = pool.submit(answer, "second", wait=False)
        answers = [json.loads(future.result(timeout=30).content) for future in (first, second)]

    assert answers == [{"answered_by": "first"}] * 2
    assert list(ApiKey.objects.values_list("name", flat=True)) == ["first"]


def count_at_once(counters, *, key: str, threads: int, times: int) -> list[int]:
    """Every count returned while ``threads`` threads each add 1 to ``key`` ``times`` times, all at once."""
    from django.db import connections

    start = threading.Barrier(threads)

    def count_many() -> list[int]:
        start.wait()
        try:
            return [counters.add(key, 1, expires_at=int(time.time()) + 60) for _ in range(times)]
        finally:
            connections.close_all()

    with ThreadPoolExecutor(threads) as pool:
        return [count for counts in pool.map(lambda _: count_many(), range(threads)) for count in counts]


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="SQLite's in-memory test database locks tables instead of waiting: see the slow test on a file below",
)
@pytest.mark.django_db(transaction=True)
def test_counts_made_at_once_in_the_database_are_all_kept():
    returned = count_at_once(DatabaseCounters(), key="limits:test:1:" + ATTACKER, threads=8, times=25)

    assert sorted(returned) == list(range(1, 201))  # each count saw its own total: none lost, none twice
    assert LimitCounter.objects.get().count == 200


@pytest.mark.slow
def test_counts_made_at_once_in_a_sqlite_file_and_postgresql_are_all_kept():
    """The benchmark on throw-away databases with the site's own settings; it fails when a count is lost."""
    database_url = os.environ.get("DATABASE_URL", "") if connection.vendor == "postgresql" else ""
    command = [sys.executable, "bench/limit_counters.py", "--threads", "8", "--counts", "25", "--rounds", "1"]
    bench = subprocess.run(
        [*command, "--database-url", database_url], cwd=PROJECT_DIR, capture_output=True, text=True, timeout=600
    )

    assert bench.returncode == 0, bench.stderr
    assert bench.stdout.count("| yes ") == (4 if database_url else 2)


@pytest.mark.skipif(not redis_is_up(), reason="needs Redis at 127.0.0.1:6379")
def test_counts_made_at_once_in_redis_are_all_kept():
    counters = RedisCounters(
        "redis://127.0.0.1:6379/15", f"mlsite-test-{uuid.uuid4().hex}", fallback=DatabaseCounters()
    )
    key = "limits:test:1:" + ATTACKER

    returned = count_at_once(counters, key=key, threads=8, times=25)

    assert sorted(returned) == list(range(1, 201))
    assert counters.read(key) == 200
    assert 0 < counters._redis.ttl(counters._key(key)) <= 60  # it expires with its window
    counters._redis.delete(counters._key(key))


def test_expired_counters_are_deleted_and_live_ones_kept(monkeypatch):
    counters = DatabaseCounters()
    now = time.time()
    counters.add("live", 1, expires_at=int(now) + 3600)
    counters.add("old", 1, expires_at=int(now) - 1)
    assert set(LimitCounter.objects.values_list("key", flat=True)) == {"old", "live"}  # culled once a minute

    class AMinuteLater:
        @staticmethod
        def time() -> float:
            return now + CULL_EVERY_SECONDS + 1

    monkeypatch.setattr("predictor.ops.counters.time", AMinuteLater)
    counters.add("live", 1, expires_at=int(now) + 3600)

    assert list(LimitCounter.objects.values_list("key", "count")) == [("live", 2)]
