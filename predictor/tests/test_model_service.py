import logging
from pathlib import Path

import joblib
import numpy as np
import pytest

from predictor.models import ModelVersion
from predictor.registry import training, versions
from predictor.serving import model_service

pytestmark = pytest.mark.django_db

# Predicts Cat for tall heavy animals: the opposite of the shipped data, so a switch is visible.
INVERTED_DATA = (
    "Height,Weight,Species\n88.9,48.3,Cat\n90.2,47.4,Cat\n82.7,44.8,Cat\n76.4,35.4,Dog\n70.3,30.4,Dog\n71.1,33.9,Dog\n"
)


class ManualClock:
    """Stands in for the service's monotonic clock: a check interval passes without sleeping through it."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch):
    clock = ManualClock()
    monkeypatch.setattr(model_service, "time", clock)
    return clock


def train_inverted(tmp_path: Path, activate: bool = True) -> ModelVersion:
    path = tmp_path / "inverted.csv"
    path.write_text(INVERTED_DATA)
    return training.train(data_path=path, activate=activate).version


def test_reference_predictions_of_the_original_tutorial(trained_version):
    assert model_service.predict({"height": 90, "weight": 50}).species == "Dog"
    assert model_service.predict({"height": 70, "weight": 40}).species == "Cat"


def test_result_has_every_class_probability_and_the_version(trained_version):
    result = model_service.predict({"height": 90, "weight": 50})
    assert set(result.probabilities) == {"Cat", "Dog"}
    assert sum(result.probabilities.values()) == pytest.approx(1)
    assert result.probability == result.probabilities["Dog"] == max(result.probabilities.values())
    assert result.model.version == trained_version.version == 1


def test_not_ready_without_any_trained_model():
    with pytest.raises(model_service.ModelNotReady, match="train_model"):
        model_service.predict({"height": 90, "weight": 50})


def test_model_is_kept_in_memory_not_reread_per_request(trained_version, artifact_storage):
    model_service.predict({"height": 90, "weight": 50})
    artifact_storage.delete(trained_version.artifact_name)
    assert model_service.predict({"height": 90, "weight": 50}).species == "Dog"


def test_at_most_one_database_check_per_interval(trained_version, django_assert_num_queries):
    model_service.predict({"height": 90, "weight": 50})
    with django_assert_num_queries(0):
        for _ in range(50):
            model_service.predict({"height": 70, "weight": 40})


def test_newly_activated_version_is_served_within_one_check(trained_version, tmp_path, settings, clock):
    assert settings.ML_MODEL_CHECK_SECONDS == 1
    assert model_service.predict({"height": 90, "weight": 50}).species == "Dog"
    train_inverted(tmp_path)

    # Still inside the interval: the loaded model keeps answering without asking the database.
    clock.advance(0.99)
    assert model_service.predict({"height": 90, "weight": 50}).model.version == 1
    clock.advance(0.01)
    result = model_service.predict({"height": 90, "weight": 50})
    assert (result.model.version, result.species) == (2, "Cat")


def test_rollback_is_served_within_one_check(trained_version, tmp_path, settings):
    settings.ML_MODEL_CHECK_SECONDS = 0  # check at every call: the interval is tested above
    train_inverted(tmp_path)
    assert model_service.predict({"height": 90, "weight": 50}).model.version == 2
    versions.activate_version(1)
    assert model_service.predict({"height": 90, "weight": 50}).model.version == 1


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda data: data + b"extra", id="appended"),
        pytest.param(lambda data: data[: len(data) // 2], id="truncated"),
        pytest.param(lambda data: data[:100] + bytes([data[100] ^ 1]) + data[101:], id="one-bit-flipped"),
    ],
)
def test_altered_new_artifact_is_refused_and_the_last_good_model_keeps_serving(
    damage, trained_version, tmp_path, settings, artifact_storage, caplog
):
    settings.ML_MODEL_CHECK_SECONDS = 0
    assert model_service.predict({"height": 90, "weight": 50}).model.version == 1
    broken = train_inverted(tmp_path)
    path = Path(artifact_storage.path(broken.artifact_name))
    path.write_bytes(damage(path.read_bytes()))

    with caplog.at_level(logging.ERROR, logger="predictor.serving.model_service"):
        result = model_service.predict({"height": 90, "weight": 50})
    assert (result.model.version, result.species) == (1, "Dog")
    assert "Refusing model v2" in caplog.text
    assert "serving v1 instead" in caplog.text


def test_a_fresh_process_falls_back_to_the_last_good_version(trained_version, tmp_path, artifact_storage):
    broken = train_inverted(tmp_path)
    artifact_storage.delete(broken.artifact_name)
    model_service.clear_cache()  # a worker that starts after the broken version was published
    result = model_service.predict({"height": 90, "weight": 50})
    assert (result.model.version, result.species) == (1, "Dog")


def test_a_never_activated_version_is_not_a_fallback(trained_version, tmp_path, artifact_storage):
    train_inverted(tmp_path, activate=False)
    artifact_storage.delete(trained_version.artifact_name)
    with pytest.raises(model_service.ModelNotReady, match="missing"):
        model_service.predict({"height": 90, "weight": 50})


def test_missing_artifact_without_a_loaded_model_is_not_ready(trained_version, artifact_storage):
    artifact_storage.delete(trained_version.artifact_name)
    with pytest.raises(model_service.ModelNotReady, match="missing"):
        model_service.predict({"height": 90, "weight": 50})


def test_a_tampered_artifact_is_never_unpickled(trained_version, artifact_storage, tmp_path):
    # A pickle that would create a file when loaded: proof that the sha256 check runs first.
    marker = tmp_path / "unpickled"
    joblib.dump(PickleBomb(str(marker)), artifact_storage.path(trained_version.artifact_name))
    with pytest.raises(model_service.ModelNotReady, match="altered"):
        model_service.predict({"height": 90, "weight": 50})
    assert not marker.exists()


class PickleBomb:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (Path.touch, (Path(self.path),))


def test_fast_single_row_scoring_matches_scikit_learn(trained_version):
    model = model_service.active_model()
    rng = np.random.default_rng(7)
    rows = np.column_stack([rng.uniform(0.1, 300, 500), rng.uniform(0.1, 500, 500)])
    rows = np.vstack([rows, [[90, 50], [70, 40], [82.4, 45.7], [0.01, 0.01], [300, 500]]])
    expected = model.estimator.predict_proba(rows)
    for row, probabilities in zip(rows.tolist(), expected, strict=True):
        assert model.probabilities_of(row) == pytest.approx(probabilities.tolist(), rel=1e-9, abs=1e-12)


def test_other_algorithms_are_scored_by_scikit_learn_itself():
    training.train(algorithm="LogisticRegression")
    model = model_service.active_model()
    result = model_service.predict({"height": 90, "weight": 50})
    expected = model.estimator.predict_proba(np.array([[90.0, 50.0]]))[0]
    assert list(result.probabilities.values()) == pytest.approx(expected.tolist())
    assert result.species == model.classes[int(expected.argmax())]


def test_while_a_process_loads_its_model_other_threads_wait_for_it(trained_version, monkeypatch):
    """A fresh gunicorn worker's threads must not answer "No model is ready" while one thread loads the model.

    The other threads skip the lock once the check is marked done, so it may be marked only after
    the load (a live server answered 2 of 20 concurrent first requests with 503 before the fix).
    """
    load = model_service._load
    seen_while_loading = []

    def load_and_look(version):
        seen_while_loading.append(model_service._check_due(model_service._cache_of("animals")))
        return load(version)

    monkeypatch.setattr(model_service, "_load", load_and_look)
    model_service.predict({"height": 40, "weight": 12})
    assert seen_while_loading == [True]  # a second thread arriving now would queue on the lock
