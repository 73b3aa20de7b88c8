"""Backup and restore of a whole site: every table and every stored file, in one folder.

Why not pg_dump or sqlite3's .backup: one format for both databases (a SQLite site's backup
restores into PostgreSQL, which is how a site moves to several hosts), and files go through the
storages, so the same commands work when artifacts and uploads live in S3-compatible storage.

Consistent: the tables are read in one snapshot (REPEATABLE READ on PostgreSQL, one deferred read
transaction on SQLite; writers go on meanwhile), then the stored files are copied. An artifact is
complete before the row that names it commits and is never deleted, so every one the snapshot
names is there. Streamed: rows are read a chunk at a time and written as gzipped JSON lines, and
read back the same way, so memory stays flat at a million predictions.

A restore checks the whole folder (every sha256, the migrations, an empty site) before it writes
anything, stores the files before the rows, and writes every row in one transaction.

Private and signed: a backup holds password and API-key hashes, so its folders are 0700 and its
files 0600 (the process's umask is 077 while it is written). The manifest carries an HMAC-SHA256
of its content, keyed with BACKUP_SIGNING_KEY (else SECRET_KEY), and a restore checks it before
anything else: the sha256s in the manifest say a file is undamaged, the HMAC that this site's key
wrote them, so a row edited in the backup (a viewer made superuser) with its sha256 rewritten is
refused. A malformed manifest is a BackupError (one line), never a traceback.
"""

import base64
import datetime as dt
import gzip
import hashlib
import hmac
import json
import os
import re
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import islice
from pathlib import Path
from typing import Any

from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.core.files.base import File
from django.core.files.storage import Storage, storages
from django.core.management.color import no_style
from django.db import DEFAULT_DB_ALIAS, connection, connections, models, transaction
from django.db.migrations.recorder import MigrationRecorder
from django.utils import timezone
from django.utils.duration import duration_iso_string
from django.utils.translation import gettext

from predictor.models import ApiKey, AuditEvent, ModelVersion, Prediction

FORMAT = 2  # 2: the manifest is signed (format 1, before, was not)
MANIFEST = "manifest.json"  # written last: a folder without it is an unfinished backup
SIGNATURE = "hmac"  # the manifest's key for its own HMAC, made over every other key
TABLES_FOLDER = "tables"
FILES_FOLDER = "files"
STORAGE_ALIASES = ("ml_artifacts", "batch_uploads")
CHUNK_ROWS = 10_000  # rows read or inserted per round trip: bounds memory whatever the table's size
COPY_CHUNK_BYTES = 1 << 20
# Made by `migrate` in every site, each with ids of its own: rows that point at them are written with
# their names (natural keys) and pointed at the restoring site's own rows. Sessions are left out:
# after a restore, people log in again.
NOT_BACKED_UP = {"contenttypes.contenttype", "auth.permission", "sessions.session"}
# Values a JSON line holds as they are and the database takes as they are; every other field is
# parsed back with its own to_python and prepared by its own get_db_prep_save.
PLAIN_TYPES = {
    "AutoField",
    "BigAutoField",
    "SmallAutoField",
    "IntegerField",
    "BigIntegerField",
    "SmallIntegerField",
    "PositiveIntegerField",
    "PositiveBigIntegerField",
    "PositiveSmallIntegerField",
    "FloatField",
    "CharField",
    "TextField",
    "SlugField",
    "EmailField",
    "URLField",
    "BooleanField",
}


class BackupError(Exception):
    """A backup cannot be made or restored; the message says why and what to do."""


@dataclass
class Report:
    """What a backup or restore did, for the command to print."""

    rows: dict[str, int] = field(default_factory=dict)  # model label -> rows
    files: int = 0
    file_bytes: int = 0
    missing_files: list[str] = field(default_factory=list)  # named by a row but absent from storage
    seconds: float = 0.0

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


# --- backup ---


def backup_site(*, folder: Path, progress: Callable[[str], None] = lambda line: None) -> Report:
    """Write every table and every stored file of this site into ``folder`` (new or empty)."""
    folder = Path(folder)
    if folder.exists() and any(folder.iterdir()):
        raise BackupError(gettext("%(folder)s is not empty: back up into a new folder.") % {"folder": folder})
    with _private_files():
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        folder.chmod(0o700)  # an empty folder made beforehand, with the usual umask
        return _back_up(folder, progress)


def _back_up(folder: Path, progress: Callable[[str], None]) -> Report:
    started = time.monotonic()
    (folder / TABLES_FOLDER).mkdir()
    report = Report()
    manifest: dict[str, Any] = {"format": FORMAT, "created_at": timezone.now().isoformat()}
    with _snapshot():
        manifest["database"] = connection.vendor
        manifest["migrations"] = _applied_migrations()
        content_types = {ct.pk: [ct.app_label, ct.model] for ct in ContentType.objects.all()}
        permissions = {p.pk: [*content_types[p.content_type_id], p.codename, p.name] for p in Permission.objects.all()}
        manifest["permissions"] = sorted(permissions.values())
        names_by_id = {ContentType: content_types, Permission: {pk: key[:3] for pk, key in permissions.items()}}
        manifest["tables"] = []
        for model in backed_up_models():
            table = _write_table(model, folder / TABLES_FOLDER, names_by_id)
            manifest["tables"].append(table)
            report.rows[table["model"]] = table["rows"]
            progress(gettext("%(table)s: %(rows)s rows") % {"table": table["model"], "rows": f"{table['rows']:,}"})
        named_artifacts = dict(ModelVersion.objects.values_list("artifact_name", "artifact_sha256"))
        named_pictures = set(ModelVersion.objects.exclude(picture_name="").values_list("picture_name", flat=True))
    # After the snapshot: every artifact and picture it names was stored before its row committed.
    manifest["files"] = {}
    for alias in STORAGE_ALIASES:
        manifest["files"][alias] = _copy_out(storages[alias], folder / FILES_FOLDER / alias, named_artifacts)
        copied = manifest["files"][alias]
        report.files += len(copied)
        report.file_bytes += sum(item["bytes"] for item in copied)
        progress(gettext("%(store)s: %(files)s files") % {"store": alias, "files": f"{len(copied):,}"})
    copied_artifacts = {item["name"] for item in manifest["files"]["ml_artifacts"]}
    report.missing_files = sorted((set(named_artifacts) | named_pictures) - copied_artifacts)
    manifest["missing_files"] = report.missing_files
    _write_json(folder / MANIFEST, signed(manifest))
    report.seconds = time.monotonic() - started
    return report


def backed_up_models() -> list[type[models.Model]]:
    """Every table of every installed app but NOT_BACKED_UP, each after the tables it points at."""
    candidates = [
        model
        for model in apps.get_models(include_auto_created=True)
        if model._meta.managed and not model._meta.proxy and model._meta.label_lower not in NOT_BACKED_UP
    ]
    ordered: list[type[models.Model]] = []

    def visit(model: type[models.Model], seen: set) -> None:
        if model in ordered or model in seen:
            return
        seen.add(model)
        for related in _related_models(model):
            if related in candidates:
                visit(related, seen)
        ordered.append(model)

    for model in sorted(candidates, key=lambda model: model._meta.label_lower):
        visit(model, set())
    return ordered


def _related_models(model: type[models.Model]) -> list[type[models.Model]]:
    return [f.related_model for f in model._meta.concrete_fields if f.is_relation and f.related_model is not model]


@contextmanager
def _private_files() -> Iterator[None]:
    """Every folder and file made inside is its owner's only: 0700 and 0600."""
    previous = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(previous)


def signed(manifest: dict[str, Any]) -> dict[str, Any]:
    """``manifest`` with its HMAC under SIGNATURE, made with this site's backup key."""
    unsigned = {key: value for key, value in manifest.items() if key != SIGNATURE}
    return {**unsigned, SIGNATURE: _signature(unsigned)}


def _signature(unsigned: dict[str, Any]) -> str:
    content = json.dumps(unsigned, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()
    key = (settings.BACKUP_SIGNING_KEY or settings.SECRET_KEY).encode()
    return hmac.new(key, b"mlsite backup manifest\n" + content, hashlib.sha256).hexdigest()


@contextmanager
def _snapshot() -> Iterator[None]:
    """Every read inside sees the database as it was at the first one, without blocking writers."""
    if connection.in_atomic_block:  # the caller's transaction (a test's) is the snapshot
        yield
        return
    if connection.vendor == "postgresql":
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield
    elif connection.vendor == "sqlite":
        # Django's atomic() would BEGIN IMMEDIATE and hold the write lock for the whole backup; a
        # deferred transaction reads one WAL snapshot while the site goes on writing.
        with connection.cursor() as cursor:
            cursor.execute("BEGIN DEFERRED")
            try:
                yield
            finally:
                cursor.execute("ROLLBACK")
    else:
        raise BackupError(
            gettext("Backups support SQLite and PostgreSQL, not %(vendor)s.") % {"vendor": connection.vendor}
        )


def _applied_migrations() -> list[list[str]]:
    return sorted([app, name] for app, name in MigrationRecorder(connection).applied_migrations())


def _write_table(model: type[models.Model], folder: Path, names_by_id: dict) -> dict[str, Any]:
    fields = model._meta.concrete_fields
    # Rows that point at a content type or permission carry its name instead of this site's id.
    renames = [
        (index, names_by_id[f.related_model]) for index, f in enumerate(fields) if f.related_model in names_by_id
    ]
    label = model._meta.label_lower
    path = folder / f"{label}.jsonl.gz"
    rows = model._base_manager.order_by("pk").values_list(*(f.attname for f in fields))
    count = 0
    # Level 1: a third of the plain size at several times level 6's speed.
    with gzip.open(path, "wt", encoding="utf-8", compresslevel=1) as out:
        for row in rows.iterator(chunk_size=CHUNK_ROWS):
            if renames:
                row = list(row)
                for index, names in renames:
                    row[index] = None if row[index] is None else names[row[index]]
            out.write(json.dumps(row, default=_json_value, ensure_ascii=False, separators=(",", ":")))
            out.write("\n")
            count += 1
    return {
        "model": label,
        "file": f"{TABLES_FOLDER}/{path.name}",
        "columns": [f.attname for f in fields],
        "rows": count,
        "sha256": _file_sha256(path),
    }


def _json_value(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    if isinstance(value, dt.timedelta):
        return duration_iso_string(value)
    if isinstance(value, bytes | memoryview):
        return base64.b64encode(bytes(value)).decode()
    raise TypeError(f"cannot back up a {type(value).__name__}")


def _copy_out(storage: Storage, folder: Path, expected_sha256: dict[str, str]) -> list[dict[str, Any]]:
    """Copy every file of ``storage`` into ``folder``; an artifact must still match its recorded sha256."""
    copied = []
    for name in stored_names(storage):
        target = _local_path(folder, name)
        target.parent.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        size = 0
        try:
            with storage.open(name, "rb") as source, open(target, "xb") as out:
                for chunk in source.chunks(COPY_CHUNK_BYTES):
                    digest.update(chunk)
                    size += len(chunk)
                    out.write(chunk)
        except FileNotFoundError:  # deleted since it was listed (an expired upload)
            target.unlink(missing_ok=True)
            continue
        sha256 = digest.hexdigest()
        if name in expected_sha256 and sha256 != expected_sha256[name]:
            message = gettext(
                "Artifact %(name)s in storage has sha256 %(found)s…, not the recorded %(recorded)s…: it was "
                "altered; the backup stopped."
            )
            raise BackupError(message % {"name": name, "found": sha256[:12], "recorded": expected_sha256[name][:12]})
        copied.append({"name": name, "sha256": sha256, "bytes": size})
    return copied


def stored_names(storage: Storage, folder: str = "") -> Iterator[str]:
    try:
        folders, names = storage.listdir(folder)
    except FileNotFoundError:  # nothing was ever stored
        return
    for name in sorted(names):
        yield f"{folder}/{name}" if folder else name
    for sub in sorted(folders):
        yield from stored_names(storage, f"{folder}/{sub}" if folder else sub)


# --- restore ---


def restore_site(*, folder: Path, progress: Callable[[str], None] = lambda line: None) -> Report:
    """Restore the backup in ``folder`` into this site, which must be migrated and hold no data."""
    started = time.monotonic()
    folder = Path(folder)
    manifest = _verified_manifest(folder)
    progress(gettext("backup verified: every sha256 matches"))
    _check_restorable(manifest)
    report = Report(missing_files=manifest["missing_files"])
    written: list[tuple[Storage, str]] = []
    try:
        for alias, items in manifest["files"].items():
            storage = storages[alias]
            for item in items:
                if _store(storage, item, folder / FILES_FOLDER / alias):
                    written.append((storage, item["name"]))
                report.files += 1
                report.file_bytes += item["bytes"]
            progress(gettext("%(store)s: %(files)s files") % {"store": alias, "files": f"{len(items):,}"})
        with transaction.atomic():
            ids = _LocalIds(manifest)
            restored = [_restore_table(table, folder, ids, progress) for table in manifest["tables"]]
            with connection.cursor() as cursor:
                for statement in connection.ops.sequence_reset_sql(no_style(), [model for model, _ in restored]):
                    cursor.execute(statement)
    except BaseException:
        for storage, name in written:  # rows and files come back together or not at all
            storage.delete(name)
        raise
    report.rows = {model._meta.label_lower: rows for model, rows in restored}
    report.seconds = time.monotonic() - started
    return report


def _verified_manifest(folder: Path) -> dict[str, Any]:
    """The manifest, once its HMAC, its shape and every file's sha256 are checked; BackupError otherwise."""
    manifest = _signed_manifest(folder)
    _check_shape(manifest)
    expected = [(table["file"], table["sha256"]) for table in manifest["tables"]]
    for alias, items in manifest["files"].items():
        expected += [(f"{FILES_FOLDER}/{alias}/{item['name']}", item["sha256"]) for item in items]
    for relative, sha256 in expected:
        path = _local_path(folder, relative)
        if not path.is_file():
            raise BackupError(gettext("%(path)s is missing from the backup: nothing was restored.") % {"path": path})
        if _file_sha256(path) != sha256:
            message = gettext(
                "%(path)s does not match its sha256 in %(manifest)s (damaged or altered): nothing was restored."
            )
            raise BackupError(message % {"path": path, "manifest": MANIFEST})
    return manifest


def _signed_manifest(folder: Path) -> dict[str, Any]:
    path = folder / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        message = gettext("%(folder)s holds no %(manifest)s: it is not a backup, or the backup did not finish.")
        raise BackupError(message % {"folder": folder, "manifest": MANIFEST}) from None
    except (OSError, UnicodeDecodeError, ValueError) as error:
        message = gettext("%(path)s is not a readable manifest (%(reason)s): nothing was restored.")
        raise BackupError(message % {"path": path, "reason": error}) from None
    if not isinstance(manifest, dict):
        raise BackupError(gettext("%(path)s is not a backup manifest: nothing was restored.") % {"path": path})
    if manifest.get("format") != FORMAT:
        message = gettext(
            "%(folder)s is a backup in format %(format)r; this code reads format %(expected)s (signed "
            "manifests): restore it with the release that made it."
        )
        raise BackupError(message % {"folder": folder, "format": manifest.get("format"), "expected": FORMAT})
    claimed = manifest.get(SIGNATURE)
    unsigned = {key: value for key, value in manifest.items() if key != SIGNATURE}
    if not isinstance(claimed, str) or not hmac.compare_digest(claimed, _signature(unsigned)):
        message = gettext(
            "%(path)s is not signed with this site's backup key (altered, or made with another "
            "DJANGO_BACKUP_SIGNING_KEY or DJANGO_SECRET_KEY): nothing was restored. Restore with the key of the "
            "site that made it."
        )
        raise BackupError(message % {"path": path})
    return manifest


_SHA256 = re.compile(r"[0-9a-f]{64}")


def _check_shape(manifest: dict[str, Any]) -> None:
    """BackupError unless every part a restore reads is there, of its type, and names files inside the folder."""

    def refuse(what: str) -> BackupError:
        return BackupError(
            gettext("%(manifest)s is malformed (%(what)s): nothing was restored.")
            % {"manifest": MANIFEST, "what": what}
        )

    def names(value: Any, length: int) -> bool:
        return isinstance(value, list) and all(
            isinstance(item, list) and len(item) == length and all(isinstance(part, str) for part in item)
            for item in value
        )

    if not names(manifest.get("migrations"), 2):
        raise refuse("migrations")
    if not names(manifest.get("permissions"), 4):
        raise refuse("permissions")
    missing_files = manifest.get("missing_files")
    if not isinstance(missing_files, list) or not all(isinstance(name, str) for name in missing_files):
        raise refuse("missing_files")
    tables = manifest.get("tables")
    if not isinstance(tables, list):
        raise refuse("tables")
    for table in tables:
        if not (
            isinstance(table, dict)
            and isinstance(table.get("model"), str)
            and _is_relative_name(table.get("file"))
            and isinstance(table.get("columns"), list)
            and isinstance(table.get("rows"), int)
            and _SHA256.fullmatch(str(table.get("sha256")))
        ):
            raise refuse(f"table {str(table)[:80]}")
    files = manifest.get("files")
    if not isinstance(files, dict) or set(files) - set(STORAGE_ALIASES):
        raise refuse(f"files: stores are {', '.join(STORAGE_ALIASES)}")
    for alias, items in files.items():
        if not isinstance(items, list):
            raise refuse(f"files of {alias}")
        for item in items:
            if not (
                isinstance(item, dict)
                and _is_relative_name(item.get("name"))
                and isinstance(item.get("bytes"), int)
                and _SHA256.fullmatch(str(item.get("sha256")))
            ):
                raise refuse(f"{alias} file {str(item)[:80]}")


def _is_relative_name(name: Any) -> bool:
    """A name as the storages write them: relative, no "..", "." or empty part, no backslash."""
    if not isinstance(name, str) or not name or "\\" in name or "\x00" in name or os.path.isabs(name):
        return False
    return all(part not in {"", ".", ".."} for part in name.split("/"))


def _check_restorable(manifest: dict[str, Any]) -> None:
    """Refuse a site at other migrations, or one that already holds data, before anything is written."""
    applied = _applied_migrations()
    if not applied:
        raise BackupError(gettext("This database is not migrated: run `manage.py migrate` first, then restore."))
    if applied != manifest["migrations"]:
        ours, theirs = {tuple(m) for m in applied}, {tuple(m) for m in manifest["migrations"]}
        differences = sorted(f"+{app}.{name}" for app, name in theirs - ours)
        differences += sorted(f"-{app}.{name}" for app, name in ours - theirs)
        message = gettext(
            "The backup was made at other migrations than this database's (%(differences)s): restore it with the "
            "release of the code that made it (after `manage.py migrate`), then upgrade as usual."
        )
        raise BackupError(message % {"differences": ", ".join(differences[:6])})
    for table in manifest["tables"]:
        model = _model(table["model"])
        if table["columns"] != [f.attname for f in model._meta.concrete_fields]:
            message = gettext("The backup's %(table)s columns differ from this code's: use the same release.")
            raise BackupError(message % {"table": table["model"]})
    held = {
        model._meta.verbose_name_plural: model._base_manager.count()
        for model in (get_user_model(), ModelVersion, Prediction, ApiKey, AuditEvent)
    }
    if any(held.values()):
        found = ", ".join(f"{rows:,} {name}" for name, rows in held.items() if rows)
        message = gettext(
            "This site already holds data (%(found)s). Restore only into an empty site: a new database, migrated "
            "with `manage.py migrate`, and empty artifact and upload storage."
        )
        raise BackupError(message % {"found": found})
    for alias, items in manifest["files"].items():
        storage = storages[alias]
        for item in items:
            if storage.exists(item["name"]) and _stored_sha256(storage, item["name"]) != item["sha256"]:
                message = gettext(
                    "The %(store)s storage already holds a different %(name)s: restore into empty storage."
                )
                raise BackupError(message % {"store": alias, "name": item["name"]})


def _store(storage: Storage, item: dict[str, Any], folder: Path) -> bool:
    """Put one backed-up file into storage under its own name; False if an identical one is there."""
    if storage.exists(item["name"]):
        return False  # the same bytes: checked by _check_restorable
    with open(_local_path(folder, item["name"]), "rb") as source:
        stored_name = storage.save(item["name"], File(source, name=item["name"]))
    if stored_name != item["name"]:
        storage.delete(stored_name)
        message = gettext("The storage renamed %(name)s to %(stored)s; rows name the original.")
        raise BackupError(message % {"name": item["name"], "stored": stored_name})
    return True


def _restore_table(
    table: dict[str, Any], folder: Path, ids: "_LocalIds", progress: Callable[[str], None]
) -> tuple[type[models.Model], int]:
    model = _model(table["model"])
    fields = model._meta.concrete_fields
    converters = [_converter(f, ids) for f in fields]
    write_rows = _row_writer(model._meta.db_table, [f.column for f in fields])
    rows = 0
    with connection.cursor() as cursor:
        # Only rows `migrate` made (the permission groups) can be here: the backup's replace them.
        cursor.execute(f"DELETE FROM {connection.ops.quote_name(model._meta.db_table)}")  # nosec B608
        with gzip.open(_local_path(folder, table["file"]), "rt", encoding="utf-8") as lines:
            while chunk := list(islice(lines, CHUNK_ROWS)):
                values = [
                    [
                        value if convert is None or value is None else convert(value)
                        for convert, value in zip(converters, json.loads(line), strict=True)
                    ]
                    for line in chunk
                ]
                write_rows(cursor, values)
                rows += len(values)
    if rows != table["rows"]:
        message = gettext("%(file)s holds %(rows)s rows, not the %(expected)s its manifest says.")
        raise BackupError(message % {"file": table["file"], "rows": rows, "expected": table["rows"]})
    progress(gettext("%(table)s: %(rows)s rows") % {"table": table["model"], "rows": f"{rows:,}"})
    return model, rows


def _row_writer(db_table: str, columns: list[str]) -> Callable[[Any, list[list[Any]]], None]:
    """How a chunk of rows, database parameters in ``columns`` order, is written into ``db_table``.

    Plain SQL, not bulk_create(): a field's pre_save would replace stored values (auto_now_add
    times, as in django-axes), and a model instance per row costs more than the database. On
    PostgreSQL, COPY: a 200,000-row restore took 17 s instead of 49 s with INSERTs (bench/backup.py).
    Table and column names come from the models' own metadata, quoted; values are never SQL text.
    """
    quote = connection.ops.quote_name
    names = f"{quote(db_table)} ({', '.join(quote(column) for column in columns)})"
    if connection.vendor == "postgresql":
        copy_sql = f"COPY {names} FROM STDIN"

        def copy(cursor, rows: list[list[Any]]) -> None:
            with cursor.cursor.copy(copy_sql) as stream:  # the psycopg cursor under Django's wrapper
                for row in rows:
                    stream.write_row(row)

        return copy
    placeholders = ", ".join(["%s"] * len(columns))
    # One literal and .format(), not an f-string: bandit takes each part of an f-string for a line of
    # its own and warns that its nosec is unused, so `make lint` would not be silent.
    insert_sql = "INSERT INTO {} VALUES ({})".format(names, placeholders)  # nosec B608  # noqa: UP032
    return lambda cursor, rows: cursor.executemany(insert_sql, rows)


def _converter(model_field: models.Field, ids: "_LocalIds") -> Callable[[Any], Any] | None:
    """How one column's JSON value becomes a database parameter; None when it already is one."""
    if model_field.related_model is ContentType:
        return ids.content_type
    if model_field.related_model is Permission:
        return ids.permission
    target = model_field.target_field if model_field.is_relation else model_field
    if target.get_internal_type() in PLAIN_TYPES:
        return None
    database = connections[DEFAULT_DB_ALIAS]  # the connection itself: each look-up through the proxy costs
    return lambda value: model_field.get_db_prep_save(model_field.to_python(value), database)


class _LocalIds:
    """This site's id of each content type and permission the backup names, made where it has none."""

    def __init__(self, manifest: dict[str, Any]) -> None:
        self.permission_names = {tuple(item[:3]): item[3] for item in manifest["permissions"]}
        self.content_types = {(ct.app_label, ct.model): ct.pk for ct in ContentType.objects.all()}
        rows = Permission.objects.values_list("content_type__app_label", "content_type__model", "codename", "pk")
        self.permissions = {tuple(row[:3]): row[3] for row in rows}

    def content_type(self, name: list[str]) -> int:
        key = tuple(name)
        if key not in self.content_types:
            self.content_types[key] = ContentType.objects.get_or_create(app_label=key[0], model=key[1])[0].pk
        return self.content_types[key]

    def permission(self, name: list[str]) -> int:
        key = tuple(name)
        if key not in self.permissions:
            made = Permission.objects.create(
                content_type_id=self.content_type(name[:2]),
                codename=key[2],
                name=self.permission_names.get(key, key[2]),
            )
            self.permissions[key] = made.pk
        return self.permissions[key]


def _model(label: str) -> type[models.Model]:
    try:
        return apps.get_model(label)
    except LookupError:
        message = gettext("The backup holds table %(table)s, which this code does not have: use the same release.")
        raise BackupError(message % {"table": label}) from None


# --- files ---


def _local_path(folder: Path, relative: str) -> Path:
    """``relative`` inside ``folder``; a name that climbs out of it (a doctored manifest) is refused."""
    path = (folder / relative).resolve()
    if not path.is_relative_to(folder.resolve()) or os.path.isabs(relative):
        raise BackupError(gettext("%(name)r is not a name inside the backup folder.") % {"name": relative})
    return path


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as source:
        while chunk := source.read(COPY_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def _stored_sha256(storage: Storage, name: str) -> str:
    digest = hashlib.sha256()
    with storage.open(name, "rb") as source:
        for chunk in source.chunks(COPY_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def _write_json(path: Path, content: dict[str, Any]) -> None:
    # Written 0600 by the umask _private_files sets, as every file of the backup.
    temporary = path.with_suffix(".partial")
    temporary.write_text(json.dumps(content, indent=1))
    temporary.replace(path)
