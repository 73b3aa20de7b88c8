import csv
import io
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from hypothesis import given, settings
from hypothesis import strategies as st

from predictor.history import batch
from predictor.models import Job, Prediction
from predictor.schema.features import FEATURES

pytestmark = pytest.mark.django_db

UPLOAD_URL = "/predictions/upload/"


def upload(client, text: str | bytes, name: str = "animals.csv"):
    """Post a file; an accepted one is a job (run at once in tests): then its page, or the batch's it leads to."""
    content = text.encode() if isinstance(text, str) else text
    response = client.post(UPLOAD_URL, {"file": SimpleUploadedFile(name, content, content_type="text/csv")})
    if response.status_code == 302 and response["Location"].startswith("/jobs/"):
        return client.get(response["Location"])  # a finished batch's job page redirects to its results
    return response


def refusal(response) -> str:
    """Why a file was refused: by the upload form (the header, the size) or by its job (a cell)."""
    if response.status_code == 400:
        return response.context["form"].errors["file"][0]
    assert response.status_code == 200, response
    assert response.context["job"].status == "failed"
    return response.context["job"].error


def download(client, response) -> list[dict[str, str]]:
    result_page = client.get(response["Location"])
    assert result_page.status_code == 200
    csv_response = client.get(response["Location"] + "results.csv")
    assert csv_response.status_code == 200
    text = b"".join(csv_response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


# The page


def test_upload_page_is_for_staff_only(client, django_user_model):
    response = client.get(UPLOAD_URL)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    client.force_login(django_user_model.objects.create_user("visitor", password="unused-password-1"))
    assert client.get(UPLOAD_URL).status_code == 403
    assert upload(client, "Height,Weight\n77,36\n").status_code == 403
    assert not Prediction.objects.exists()


def test_upload_page_shows_the_form(admin_client, trained_version):
    response = admin_client.get(UPLOAD_URL)
    assert response.status_code == 200
    assert b'enctype="multipart/form-data"' in response.content
    assert b"1,000,000" in response.content


def test_upload_page_names_each_column_with_its_unit_once(admin_client, trained_version):
    english = admin_client.get(UPLOAD_URL).content.decode()
    assert "<code>Height</code> (cm)" in english and "<code>Weight</code> (kg)" in english
    assert "Height (Height" not in english
    chinese = admin_client.get(UPLOAD_URL, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "<code>Height</code> (身高, cm)" in chinese


def test_upload_predicts_stores_and_offers_the_results(admin_client, trained_version):
    response = upload(admin_client, "name,Height,Weight,notes\nTom,77,36,grey\nRex,90,48,\nKit,78,37,small\n")
    assert response.status_code == 302
    stored = Prediction.objects.order_by("id")
    assert [row.species for row in stored] == ["Cat", "Dog", "Cat"]
    assert {row.source for row in stored} == {Prediction.Source.BATCH}
    assert len({row.batch_id for row in stored}) == 1
    assert str(stored[0].batch_id) in response["Location"]

    page = admin_client.get(response["Location"])
    html = page.content.decode()
    assert "3 rows predicted with model v1" in html
    assert re.search(r"<dt>Cat</dt><dd>2 <span[^>]*>\(66.7%\)</span></dd>", html)
    assert re.search(r"<dt>Dog</dt><dd>1 <span[^>]*>\(33.3%\)</span></dd>", html)
    preview = page.context["summary"].first_rows
    assert [row.species for row in preview] == ["Cat", "Dog", "Cat"]
    assert html.count("<tr>") == 4  # the heading and the three rows
    assert 'class="button" href="{}results.csv" download'.format(response["Location"]) in html

    rows = download(admin_client, response)
    assert [row["name"] for row in rows] == ["Tom", "Rex", "Kit"]
    assert [row["notes"] for row in rows] == ["grey", "", "small"]
    assert [row["predicted_species"] for row in rows] == ["Cat", "Dog", "Cat"]
    assert {row["model_version"] for row in rows} == {"1"}
    for row, prediction in zip(rows, stored, strict=True):
        assert float(row["probability_Cat"]) == pytest.approx(prediction.probabilities["Cat"])
        assert float(row["probability_Dog"]) == pytest.approx(prediction.probabilities["Dog"])
    assert list(rows[0]) == [
        "name",
        "Height",
        "Weight",
        "notes",
        "predicted_species",
        "probability_Cat",
        "probability_Dog",
        "model_version",
    ]


def test_batch_rows_are_stored_like_single_predictions(admin_client, client, trained_version):
    upload(admin_client, "Height,Weight\n81.5,42.25\n")
    client.post("/", {"height": "81.5", "weight": "42.25"})
    from_batch, from_form = Prediction.objects.order_by("id")
    assert from_form.source == Prediction.Source.FORM
    for field in ["inputs", "species", "model_id", "model_version_id"]:
        assert getattr(from_batch, field) == getattr(from_form, field)
    assert from_batch.probability == pytest.approx(from_form.probability)
    assert from_batch.probabilities == pytest.approx(from_form.probabilities)


def test_upload_keeps_values_as_written_and_accepts_excel_quirks(admin_client, trained_version):
    # A byte-order mark, Windows line ends, padded header names and values, blank lines.
    content = "\ufeff Height , Weight,id\r\n 77.50 ,36,007\r\n\r\n90,48,008\r\n".encode()
    response = upload(admin_client, content)
    assert response.status_code == 302
    rows = download(admin_client, response)
    assert [(row["Height"], row["id"]) for row in rows] == [(" 77.50 ", "007"), ("90", "008")]
    assert Prediction.objects.order_by("id").first().inputs["height"] == 77.5


def test_result_page_and_download_of_an_unknown_batch_answer_404(admin_client, db):
    missing = "/predictions/upload/00000000-0000-0000-0000-000000000000/"
    assert admin_client.get(missing).status_code == 404
    assert admin_client.get(missing + "results.csv").status_code == 404
    assert admin_client.get("/predictions/upload/not-a-uuid/").status_code == 404


def test_results_are_for_staff_only(admin_client, client, trained_version):
    response = upload(admin_client, "Height,Weight\n77,36\n")
    assert client.get(response["Location"]).status_code == 302
    assert client.get(response["Location"] + "results.csv").status_code == 302


# Bad files: refused with the line and the reason, nothing stored


BAD_FILES = {
    "missing column": ("Height,Mass\n77,36\n", "Line 1: missing column Weight"),
    "no header at all": ("77,36\n78,37\n", "Line 1: missing column Height, Weight"),
    "non-numeric value": ("Height,Weight\n77,36\n78,heavy\n", "Line 3, column Weight: 'heavy' is not a number."),
    "empty value": ("Height,Weight\n77,36\n,37\n", "Line 3, column Height: empty value."),
    "zero": ("Height,Weight\n77,0\n", "Line 2, column Weight: '0' is not allowed: Weight must be at least 0.01 kg."),
    "too big": ("Height,Weight\n77,36\n301,36\n", "Line 3, column Height: '301' is not allowed: Height must be at"),
    "nan": ("Height,Weight\nnan,36\n", "Line 2, column Height: 'nan' is not a number."),
    "infinity": ("Height,Weight\n77,inf\n", "Line 2, column Weight: 'inf' is not a number"),
    "line after blank line": ("Height,Weight\n77,36\n\n78,x\n", "Line 4, column Weight: 'x' is not a number."),
    "header only": ("Height,Weight\n", "There are no data rows below the header."),
    "empty file": ("", "The file is empty."),
    "ragged row": ("Height,Weight\n77,36\n78,37,1,2\n", "This is not a readable CSV file"),
    "long first row": ("Height,Weight\n1,77,36\n", "Line 2 has more values than the header has column names."),
    "not text": (b"PK\x03\x04\x00\x00\xff\xfe\x00binary", "This is not a readable CSV file"),
    "reserved column": ("Height,Weight,predicted_species\n77,36,Cat\n", "column predicted_species would be"),
}


@pytest.mark.parametrize(("content", "message"), BAD_FILES.values(), ids=BAD_FILES.keys())
def test_bad_file_is_refused_with_the_line_and_reason(admin_client, trained_version, content, message):
    response = upload(admin_client, content)
    assert message in refusal(response)
    assert message.encode() in response.content.replace(b"&#x27;", b"'")
    assert not Prediction.objects.exists()


BAD_LINES_3_AND_4 = "Height,Weight\n77,36\n78,heavy\n-3,37\n"  # line 3's weight, then line 4's height


def test_a_file_with_bad_lines_3_and_4_is_refused_naming_line_3_before_any_job_exists(admin_client, trained_version):
    response = upload(admin_client, BAD_LINES_3_AND_4)
    assert response.status_code == 400
    assert refusal(response) == "Line 3, column Weight: 'heavy' is not a number."
    assert not Job.objects.exists() and not Prediction.objects.exists()
    bound = upload(admin_client, "Height,Weight\n77,36\n78,-1\n")
    assert (
        refusal(bound) == "Line 3, column Weight: '-1' is not allowed: Weight must be at least 0.01 kg."
    )  # one full stop


def test_a_file_too_long_to_check_before_queueing_fails_as_a_job_naming_its_first_bad_line(
    admin_client, trained_version, monkeypatch
):
    monkeypatch.setattr(batch, "PRE_QUEUE_CHECK_SECONDS", 0)
    monkeypatch.setattr(batch, "PRE_QUEUE_CHECK_CHUNK_ROWS", 1)  # line 2 checked, then the time is up
    upload(admin_client, BAD_LINES_3_AND_4)
    job = Job.objects.get()
    assert job.status == Job.Status.FAILED
    assert job.error == "Line 3, column Weight: 'heavy' is not a number."
    assert not Prediction.objects.exists()


def test_upload_without_a_file_is_refused(admin_client, trained_version):
    response = admin_client.post(UPLOAD_URL, {})
    assert response.status_code == 400
    assert response.context["form"].errors["file"] == ["Choose a CSV file to upload."]


def test_file_over_the_size_limit_is_refused(admin_client, trained_version, settings):  # noqa: F811
    settings.BATCH_UPLOAD_MAX_BYTES = 1_000_000
    # Over the cap plus room for the form's other parts: refused before the body is read.
    response = upload(admin_client, "Height,Weight\n" + "77,36\n" * 200_000)
    assert response.status_code == 413
    assert "at most 976.6\xa0KB can be sent here" in response.content.decode()
    # Within that room but over the cap: refused by the form.
    response = upload(admin_client, "Height,Weight\n" + "77,36\n" * 170_000)
    assert response.status_code == 400
    assert "at most 1 MB can be uploaded" in response.context["form"].errors["file"][0]
    assert not Prediction.objects.exists()


def test_file_over_the_row_limit_is_refused(admin_client, trained_version, settings):
    settings.BATCH_UPLOAD_MAX_ROWS = 3
    assert upload(admin_client, "Height,Weight\n77,36\n77,36\n77,36\n").status_code == 302
    response = upload(admin_client, "Height,Weight\n77,36\n77,36\n77,36\n77,36\n")
    assert response.status_code == 400
    assert "The file has more than 3 rows; at most 3 are accepted" in response.context["form"].errors["file"][0]
    assert Prediction.objects.count() == 3


def test_upload_without_a_model_answers_503_and_stores_nothing(admin_client, db):
    response = upload(admin_client, "Height,Weight\n77,36\n")
    assert response.status_code == 503
    assert b"not ready" in response.content
    assert not Prediction.objects.exists()


def test_when_the_upload_cannot_be_kept_nothing_is_stored(trained_version, settings, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the results folder should be")
    settings.STORAGES = {
        **settings.STORAGES,
        "batch_uploads": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": blocker / "results"},
        },
    }
    with pytest.raises(OSError):
        batch.predict_file(b"Height,Weight\n77,36\n")
    assert not Prediction.objects.exists()


def test_read_batch_csv_returns_features_in_feature_order():
    parsed = batch.read_batch_csv(b"Weight,Height\n36,77\n48,90\n", max_rows=10)
    assert parsed.features.tolist() == [[77, 36], [90, 48]]
    assert list(parsed.table.columns) == ["Weight", "Height"]


cells = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=8) | st.floats().map(str)


@settings(max_examples=100, deadline=None, database=None)
@given(
    content=st.binary(max_size=200)
    | st.lists(st.lists(cells, min_size=1, max_size=4), max_size=6).map(
        lambda rows: "\n".join(",".join(row) for row in [["Height", "Weight"], *rows]).encode()
    )
)
def test_any_file_is_either_read_or_refused_with_a_reason(content):
    try:
        parsed = batch.read_batch_csv(content, max_rows=1000)
    except batch.BatchFileError as error:
        assert str(error)
    else:
        assert parsed.features.shape == (len(parsed.table), 2)
        assert all(
            feature.bounds_error(value) is None
            for row in parsed.features
            for feature, value in zip(FEATURES, row, strict=True)
        )
