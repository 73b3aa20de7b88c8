"""A shadow and its promotion reaching a real gunicorn with several workers."""

import json
import os
import time
import urllib.request

import pytest

from predictor.tests.live_server import running_server

pytestmark = pytest.mark.slow

DATABASE_URL = os.environ.get("DATABASE_URL", "")
CHECK_SECONDS = 1.0


def answered_by(base_url: str) -> int:
    request = urllib.request.Request(
        base_url + "/api/v1/predict",
        data=json.dumps({"height_cm": 80.0, "weight_kg": 40.0}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)["model_version"]


def test_a_promotion_reaches_every_worker_within_the_check_interval_plus_a_second():
    settings = {"ML_MODEL_CHECK_SECONDS": str(CHECK_SECONDS)}
    with running_server(workers=2, database_url=DATABASE_URL, extra_env=settings) as server:
        server.manage("train_model", "--no-activate")
        server.manage("candidate", "shadow", "2")
        time.sleep(CHECK_SECONDS + 0.5)
        assert {answered_by(server.base_url) for _ in range(20)} == {1}  # the shadow never answers
        shadowed = server.query(
            "SELECT COUNT(*) FROM predictor_prediction p JOIN predictor_modelversion v ON v.id = p.shadow_version_id "
            "WHERE v.version = 2 AND p.shadow_species IS NOT NULL"
        )
        assert shadowed == [(20,)]

        server.manage("candidate", "promote")
        promoted_at = time.monotonic()
        answers = []
        while (elapsed := time.monotonic() - promoted_at) < CHECK_SECONDS + 2:
            answers.append((elapsed, answered_by(server.base_url)))

    late = [(round(elapsed, 2), version) for elapsed, version in answers if elapsed > CHECK_SECONDS + 1]
    assert late and {version for _, version in late} == {2}, answers
