"""The artifact format: how a trained model is written to storage and read back.

Unpickling runs code, so bytes are unpickled only after their sha256 matches the one the app
recorded when it wrote them. Each version gets its own file, written completely and read back
before the database row that points at it is committed, so a reader never meets a half-written
artifact. Only the Storage API is used (never a local path), so the storage may be a local folder
or an S3 bucket shared by several hosts (the STORAGES setting).
"""

import hashlib
import importlib.metadata
import io
from dataclasses import dataclass
from typing import Any

import joblib
from botocore.exceptions import BotoCoreError, ClientError
from django.core.files.base import ContentFile, File
from django.core.files.storage import Storage, storages
from django.utils import timezone

STORAGE_ALIAS = "ml_artifacts"
# Read from the installed package's metadata: importing scikit-learn only to learn its version
# cost every command and server start its import (docs/performance.md, command start).
SKLEARN_VERSION = importlib.metadata.version("scikit-learn")
ARTIFACT_FORMAT = 1
# What a storage raises when it cannot be read: a local disk's OSError, an S3 bucket's botocore
# errors (unreachable, refused credentials, denied).
STORAGE_ERRORS = (OSError, BotoCoreError, ClientError)


class ArtifactError(Exception):
    """An artifact is missing, altered or not one this app wrote."""


@dataclass(frozen=True)
class Artifact:
    estimator: Any  # a fitted scikit-learn Pipeline
    feature_columns: tuple[str, ...]
    sklearn_version: str


def artifact_storage() -> Storage:
    return storages[STORAGE_ALIAS]


def sha256_hex(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def serialize(estimator: Any, *, feature_columns: tuple[str, ...]) -> bytes:
    payload = {
        "format": ARTIFACT_FORMAT,
        "estimator": estimator,
        "feature_columns": list(feature_columns),
        "sklearn_version": SKLEARN_VERSION,
    }
    buffer = io.BytesIO()
    joblib.dump(payload, buffer)
    return buffer.getvalue()


def save(content: bytes) -> tuple[str, str]:
    """Write ``content`` to a new file in artifact storage, check it reads back whole; return its name and sha256.

    Raises ArtifactError (and leaves nothing behind) if what was stored is not what was written.
    """
    digest = sha256_hex(content)
    name = f"model-{timezone.now():%Y%m%dT%H%M%S}-{digest[:16]}.joblib"
    storage = artifact_storage()
    try:
        stored_name = storage.save(name, ContentFile(content))
    except STORAGE_ERRORS as error:
        raise ArtifactError(f"the artifact storage refused {name}: {error}; no version was recorded") from error
    # Read back before any row may point at it: a storage that cut or changed the bytes (a full
    # disk, a proxy, an object store that acknowledged too early) is caught here, not at load time.
    try:
        with storage.open(stored_name, "rb") as stored:
            stored_sha256 = sha256_hex(stored.read())
    except STORAGE_ERRORS as error:
        stored_sha256 = f"unreadable ({error})"
    if stored_sha256 != digest:
        storage.delete(stored_name)
        raise ArtifactError(
            f"artifact {stored_name} did not read back as written (sha256 {stored_sha256[:40]}, "
            f"not {digest[:12]}…): it was deleted and no version was recorded"
        )
    return stored_name, digest


def save_picture(content: bytes, *, artifact_name: str, scheme: str = "light") -> str:
    """Write a training picture beside its artifact (same name, .png); return the stored name.

    The dark colour scheme's picture is named after the light one (see dark_picture_name).
    """
    name = artifact_name.removesuffix(".joblib") + ".png"
    if scheme == "dark":
        name = dark_picture_name(name)
    return artifact_storage().save(name, ContentFile(content))


def dark_picture_name(picture_name: str) -> str:
    return picture_name.removesuffix(".png") + "-dark.png"


def open_picture(name: str, *, scheme: str = "light") -> File:
    """Open a stored training picture for streaming; raise FileNotFoundError if it is gone.

    A version trained before pictures had a dark variant gets its light picture.
    """
    if not name.endswith(".png"):
        raise FileNotFoundError(name)
    if scheme == "dark":
        try:
            return artifact_storage().open(dark_picture_name(name), "rb")
        except FileNotFoundError:
            pass
    return artifact_storage().open(name, "rb")


def delete(name: str) -> None:
    artifact_storage().delete(name)


def same_sklearn_series(saved_with: str) -> bool:
    """Whether a model saved with scikit-learn ``saved_with`` can be loaded here: the same major.minor.

    scikit-learn guarantees pickles only within a version; patch releases keep the estimators'
    attributes, minor ones may not, and a model that unpickles may then answer wrongly.
    """
    return sklearn_series(saved_with) == sklearn_series(SKLEARN_VERSION)


def sklearn_mismatch(saved_with: str) -> str:
    """Why a model saved with scikit-learn ``saved_with`` is refused here, and what to do; "" if it is not."""
    if same_sklearn_series(saved_with):
        return ""
    return (
        f"it was saved with scikit-learn {saved_with} and this server runs {SKLEARN_VERSION}: "
        f"retrain it with this scikit-learn (`python manage.py train_model`), "
        f"or pin scikit-learn=={sklearn_series(saved_with)}.* in requirements.txt"
    )


def sklearn_series(version: str) -> str:
    return ".".join(version.split(".")[:2])


def load(name: str, *, expected_sha256: str, saved_with: str) -> Artifact:
    """Read, verify and unpickle an artifact; raise ArtifactError rather than load anything doubtful.

    ``saved_with`` is the scikit-learn version recorded with it, checked before anything is unpickled.
    """
    if mismatch := sklearn_mismatch(saved_with):
        raise ArtifactError(f"artifact {name} is not loaded: {mismatch}")
    try:
        with artifact_storage().open(name, "rb") as artifact_file:
            content = artifact_file.read()
    except FileNotFoundError:
        raise ArtifactError(f"artifact {name} is missing from the artifact storage") from None
    except STORAGE_ERRORS as error:
        raise ArtifactError(f"artifact {name} cannot be read: {error}") from None
    actual_sha256 = sha256_hex(content)
    if actual_sha256 != expected_sha256:
        raise ArtifactError(
            f"artifact {name} has sha256 {actual_sha256[:12]}…, not the recorded {expected_sha256[:12]}…: "
            "it was truncated or altered, so it was not unpickled"
        )
    payload = joblib.load(io.BytesIO(content))
    if not isinstance(payload, dict) or payload.get("format") != ARTIFACT_FORMAT:
        raise ArtifactError(f"artifact {name} is not in artifact format {ARTIFACT_FORMAT}")
    if mismatch := sklearn_mismatch(payload["sklearn_version"]):
        raise ArtifactError(f"artifact {name} is not used: {mismatch}")
    return Artifact(
        estimator=payload["estimator"],
        feature_columns=tuple(payload["feature_columns"]),
        sklearn_version=payload["sklearn_version"],
    )
