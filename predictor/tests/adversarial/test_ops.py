"""Backups that were damaged or doctored, and artifacts altered in storage: refused before anything is written.

A backup is as trusted as the database it came from (it holds pickled models, and restoring it
makes the site load them), so these check accidents and tampering that a checksum catches, and
names that would reach outside the backup folder, not a backup forged whole.
"""

import hashlib
import json

import pytest
from django.core.files.base import ContentFile

from predictor.models import ModelVersion
from predictor.ops import backup
from predictor.tests.test_backup import empty_the_site, site_contents

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("damage", ["table", "artifact"])
def test_restore_refuses_a_damaged_backup_before_writing_anything(trained_version, settings, tmp_path, damage):
    backup.backup_site(folder=tmp_path / "backup")
    if damage == "table":
        target = tmp_path / "backup" / "tables" / "predictor.modelversion.jsonl.gz"
    else:
        target = tmp_path / "backup" / "files" / "ml_artifacts" / trained_version.artifact_name
    target.write_bytes(target.read_bytes()[:-1])
    empty_the_site(settings, tmp_path)
    with pytest.raises(backup.BackupError, match="does not match its sha256"):
        backup.restore_site(folder=tmp_path / "backup")
    assert site_contents()["files"] == {}
    assert not ModelVersion.objects.exists()


def test_restore_refuses_file_names_that_climb_out_of_the_backup(trained_version, settings, tmp_path):
    backup.backup_site(folder=tmp_path / "backup")
    (tmp_path / "secret").write_text("not for the artifact storage")
    manifest_path = tmp_path / "backup" / backup.MANIFEST
    manifest = json.loads(manifest_path.read_text())
    sha256 = hashlib.sha256(b"not for the artifact storage").hexdigest()
    manifest["files"]["ml_artifacts"].append({"name": "../../../secret", "sha256": sha256, "bytes": 28})
    manifest_path.write_text(json.dumps(backup.signed(manifest)))  # even signed with the site's key
    empty_the_site(settings, tmp_path)
    with pytest.raises(backup.BackupError, match=r"malformed \(ml_artifacts file .*\.\./\.\./\.\./secret"):
        backup.restore_site(folder=tmp_path / "backup")
    assert site_contents()["files"] == {}


def test_backup_stops_on_an_altered_artifact(trained_version, artifact_storage, tmp_path):
    artifact_storage.delete(trained_version.artifact_name)
    artifact_storage.save(trained_version.artifact_name, ContentFile(b"not the model that was trained"))
    with pytest.raises(backup.BackupError, match="it was altered; the backup stopped"):
        backup.backup_site(folder=tmp_path / "backup")
    assert not (tmp_path / "backup" / backup.MANIFEST).exists()
