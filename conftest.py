import pytest
from django.core.files.storage import storages

from predictor import model_service, training


@pytest.fixture(autouse=True)
def artifact_storage(tmp_path, settings):
    """Every test trains into, and loads from, its own temporary artifact storage."""
    location = tmp_path / "ml_artifacts"
    settings.STORAGES = {
        **settings.STORAGES,
        # The hashed-name manifest exists only after collectstatic; tests render without it.
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        "ml_artifacts": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": location, "base_url": None},
        },
    }
    storage = storages["ml_artifacts"]
    assert storage.location == str(location)
    return storage


@pytest.fixture(autouse=True)
def batch_uploads_storage(tmp_path, settings):
    """Uploaded batch CSVs are kept in a temporary directory, never in batch_uploads/."""
    location = tmp_path / "batch_uploads"
    settings.STORAGES = {
        **settings.STORAGES,
        "batch_uploads": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": location, "base_url": None},
        },
    }
    storage = storages["batch_uploads"]
    assert storage.location == str(location)
    return storage


@pytest.fixture(autouse=True)
def fresh_model_cache():
    """The service keeps its model per process; without this, one test's model leaks into the next."""
    model_service.clear_cache()
    yield
    model_service.clear_cache()


@pytest.fixture
def trained_version(db):
    """The shipped data set trained into the temporary storage, active."""
    return training.train().version
