"""Issue 26, points 4 and 5: backups private and signed; every malformed backup refused in one line.

`backup_site` wrote 0644 files holding password and API-key hashes; a viewer promoted to
superuser inside a backup, the file's sha256 rewritten in the manifest, restored with rc 0; three
malformed manifests crashed restore_site with tracebacks (JSONDecodeError, KeyError,
SuspiciousFileOperation after "backup verified").
"""

import gzip
import hashlib
import json
import os
import stat
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from predictor.ops import backup
from predictor.tests.test_backup import empty_the_site, site_contents

pytestmark = pytest.mark.django_db


@pytest.fixture
def made_backup(trained_version, make_staff, tmp_path):
    make_staff("viewer", group="viewer")
    folder = tmp_path / "backup"
    call_command("backup_site", str(folder), stdout=StringIO())
    return folder


def manifest_of(folder) -> dict:
    return json.loads((folder / backup.MANIFEST).read_text())


def write_manifest(folder, manifest: dict) -> None:
    (folder / backup.MANIFEST).write_text(json.dumps(manifest))


def refusal(folder) -> str:
    """What restore_site says, as one line, when it refuses the backup."""
    with pytest.raises(CommandError) as refused:
        call_command("restore_site", str(folder), stdout=StringIO())
    message = str(refused.value)
    assert "\n" not in message and "Traceback" not in message
    return message


def test_a_backup_is_readable_by_its_owner_only(trained_version, tmp_path):
    folder = tmp_path / "backup"
    folder.mkdir(mode=0o755)  # made beforehand, empty, with the usual mode
    previous = os.umask(0o022)
    try:
        call_command("backup_site", str(folder), stdout=StringIO())
        assert os.umask(0o022) == 0o022  # the process's umask is given back
    finally:
        os.umask(previous)

    modes = {path: stat.S_IMODE(path.stat().st_mode) for path in [folder, *folder.rglob("*")]}
    assert {mode for path, mode in modes.items() if path.is_dir()} == {0o700}
    assert {mode for path, mode in modes.items() if path.is_file()} == {0o600}
    assert len([path for path in modes if path.is_file()]) > 5  # tables, files, manifest


def test_a_viewer_made_superuser_in_the_backup_with_its_sha256_rewritten_is_refused(made_backup, settings, tmp_path):
    manifest = manifest_of(made_backup)
    table = next(table for table in manifest["tables"] if table["model"] == "auth.user")
    path = made_backup / table["file"]
    superuser, username = table["columns"].index("is_superuser"), table["columns"].index("username")
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        rows = [json.loads(line) for line in lines]
    for row in rows:
        if row[username] == "viewer":
            row[superuser] = True
    with gzip.open(path, "wt", encoding="utf-8") as out:
        out.writelines(json.dumps(row) + "\n" for row in rows)
    table["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    write_manifest(made_backup, manifest)
    empty_the_site(settings, tmp_path)

    message = refusal(made_backup)

    assert "is not signed with this site's backup key" in message and "nothing was restored" in message
    assert not get_user_model().objects.exists()
    assert site_contents()["files"] == {}


def test_a_backup_made_with_another_key_is_refused_and_restores_with_that_key(made_backup, settings, tmp_path):
    empty_the_site(settings, tmp_path)
    settings.SECRET_KEY = "another site's secret key, not the one that signed the backup"

    assert "not signed with this site's backup key" in refusal(made_backup)

    settings.BACKUP_SIGNING_KEY = "a backup key named on both sites"
    manifest = backup.signed(manifest_of(made_backup))
    write_manifest(made_backup, manifest)  # as the first site would have signed it with that key
    call_command("restore_site", str(made_backup), stdout=StringIO())
    assert get_user_model().objects.filter(username="viewer", is_superuser=False).exists()


@pytest.mark.parametrize(
    ("manifest_text", "said"),
    [
        ("{not json", "is not a readable manifest"),
        ("[1, 2, 3]", "is not a backup manifest"),
        ('{"format": 1}', "is a backup in format 1; this code reads format 2"),
        ('{"format": 2}', "is not signed with this site's backup key"),
        (b"\xff\xfe{}", "is not a readable manifest"),
    ],
    ids=["bad JSON", "a list", "format 1", "unsigned", "not UTF-8"],
)
def test_a_manifest_that_is_not_one_is_refused_in_one_line(made_backup, settings, tmp_path, manifest_text, said):
    target = made_backup / backup.MANIFEST
    target.write_bytes(manifest_text if isinstance(manifest_text, bytes) else manifest_text.encode())
    empty_the_site(settings, tmp_path)

    assert said in refusal(made_backup)


@pytest.mark.parametrize(
    ("change", "said"),
    [
        (lambda manifest: manifest.pop("tables"), "malformed (tables)"),
        (lambda manifest: manifest.pop("migrations"), "malformed (migrations)"),
        (lambda manifest: manifest["tables"][0].pop("sha256"), "malformed (table"),
        (lambda manifest: manifest["tables"][0].update(file="../../outside.jsonl.gz"), "malformed (table"),
        (lambda manifest: manifest["tables"][0].update(file="/etc/passwd"), "malformed (table"),
        (lambda manifest: manifest["files"]["ml_artifacts"][0].update(name="a/../../b"), "malformed (ml_artifacts"),
        (lambda manifest: manifest["files"].update(elsewhere=[]), "malformed (files"),
        (lambda manifest: manifest["tables"][0].update(model="nowhere.table"), "holds table nowhere.table"),
    ],
    ids=[
        "no tables",
        "no migrations",
        "no sha256",
        "climbing file",
        "absolute file",
        "climbing name",
        "store",
        "model",
    ],
)
def test_a_signed_but_malformed_manifest_is_refused_in_one_line(made_backup, settings, tmp_path, change, said):
    # Signed with the site's own key: the shape is checked for itself, not only by the signature.
    manifest = manifest_of(made_backup)
    change(manifest)
    write_manifest(made_backup, backup.signed(manifest))
    empty_the_site(settings, tmp_path)

    assert said in refusal(made_backup)
    assert site_contents()["files"] == {}


def test_a_backup_restores_as_before(made_backup, settings, tmp_path):
    empty_the_site(settings, tmp_path)

    out = StringIO()
    call_command("restore_site", str(made_backup), stdout=out)

    assert "Restored" in out.getvalue()
    assert get_user_model().objects.filter(username="viewer").exists()
