"""Property-based: whatever a client sends, the API answers with a 2xx or a 4xx, never a 5xx."""

import json
import math
from datetime import UTC, timedelta, timezone

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from predictor.schema.features import FEATURES

pytestmark = pytest.mark.django_db

EXAMPLES = settings(
    max_examples=100,
    deadline=None,
    database=None,  # no .hypothesis/ folder in the work tree
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
)
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
)
measurement_values = scalars | st.floats(min_value=-1, max_value=600)
measurements = st.fixed_dictionaries(
    {},
    optional={feature.field: measurement_values for feature in FEATURES} | {"extra": json_values},
)
# Mostly in bounds, sometimes just outside: reaches the model and the database as well as validation.
near_valid = st.fixed_dictionaries(
    {feature.field: st.floats(min_value=-1, max_value=feature.max_value + 1) for feature in FEATURES}
)
bodies = (
    st.builds(json.dumps, near_valid)
    | st.builds(json.dumps, st.lists(near_valid, min_size=1, max_size=5))
    | st.builds(json.dumps, json_values)
    | st.builds(json.dumps, measurements)
    | st.builds(json.dumps, st.lists(measurements, max_size=5))
    | st.binary(max_size=50)
)


def assert_not_a_server_error(response) -> None:
    assert response.status_code < 500, response.content[:300]
    assert response["Content-Type"] == "application/json; charset=utf-8"
    json.loads(response.content)


@EXAMPLES
@given(body=bodies, url=st.sampled_from(["/api/predict", "/api/predict/batch"]))
def test_posting_anything_never_causes_a_server_error(key_client, trained_version, body, url):
    response = key_client.post(url, body, content_type="application/json")
    event(f"status {response.status_code}")  # --hypothesis-show-statistics shows the mix
    assert_not_a_server_error(response)
    if response.status_code == 200:
        results = response.json().get("results", [response.json()])
        for result in results:
            assert math.isclose(sum(result["probabilities"].values()), 1)
            for feature in FEATURES:
                assert feature.bounds_error(result[feature.field]) is None


times = st.datetimes(
    timezones=st.sampled_from([None, UTC, timezone(timedelta(hours=14)), timezone(-timedelta(hours=12))])
).map(lambda moment: moment.isoformat())
query_values = st.text(max_size=30) | st.integers(min_value=-(10**30), max_value=10**30).map(str) | times
queries = st.dictionaries(
    st.sampled_from(["species", "version", "created_after", "created_before", "page", "page_size", "other"]),
    query_values,
    max_size=4,
)


@EXAMPLES
@given(query=queries)
def test_any_history_query_never_causes_a_server_error(admin_client, trained_version, query):
    response = admin_client.get("/api/predictions", query)
    assert_not_a_server_error(response)
    assert response.status_code in {200, 400, 422}  # 400: no such model version
