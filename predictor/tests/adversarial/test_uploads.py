"""Issue 26, points 2 and 7 (part): bounded work for one CSV upload, and what a CSV may not smuggle in.

A 62 MB file of one line held a web thread for 18.5 minutes (the row count read it through
codecs' reader, quadratic on a long line) and its error page, repeating every column name, was
68.9 MB. bench/long_line_upload.py times the full 60 MB case; these tests use smaller files.
"""

import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from predictor.models import Prediction

pytestmark = pytest.mark.django_db

UPLOAD_URL = "/predictions/upload/"


def upload(client, content: bytes, **headers):
    file = SimpleUploadedFile("animals.csv", content, content_type="text/csv")
    response = client.post(UPLOAD_URL, {"file": file}, **headers)
    if response.status_code == 302 and response["Location"].startswith("/jobs/"):
        return client.get(response["Location"], follow=True)  # the job, run at once in tests, then its batch
    return response


def refusal(response) -> str:
    assert response.status_code == 400, response
    return response.context["form"].errors["file"][0]


def test_a_file_of_one_long_line_is_refused_at_once_with_a_small_page(admin_client, trained_version, settings):
    content = b"Height,Weight" + b"".join(b",c%d" % number for number in range(800_000))  # 8 MB, no line end

    started = time.monotonic()
    response = upload(admin_client, content)
    seconds = time.monotonic() - started

    assert refusal(response) == "This is not a readable CSV file (line 1 is longer than 1,000,000 bytes)."
    assert seconds < 3  # was 8.4 s for 8 MB, quadratic in the line's length
    assert len(response.content) < 100_000
    assert not Prediction.objects.exists()


def test_a_long_data_line_is_refused_by_its_number(admin_client, trained_version, settings):
    settings.BATCH_UPLOAD_MAX_LINE_BYTES = 1_000

    response = upload(admin_client, b"Height,Weight,notes\n77,36,short\n78,37," + b"x" * 2_000 + b"\n")

    assert refusal(response) == "This is not a readable CSV file (line 3 is longer than 1,000 bytes)."


def test_a_refusal_names_ten_columns_then_how_many_more(admin_client, trained_version):
    names = [f"column{number}" for number in range(50_000)]
    content = ("Height," + ",".join(names) + "\n77," + "1," * 49_999 + "1\n").encode()

    response = upload(admin_client, content)

    message = refusal(response)
    assert message.startswith("Line 1: missing column Weight (the header must name Height, Weight; it names Height, ")
    assert message.endswith("column8 and 49,991 more).")
    assert "column9," not in message
    assert len(response.content) < 100_000


def test_a_long_column_name_is_shortened_in_the_message(admin_client, trained_version):
    response = upload(admin_client, b"Height,Weight," + b"p" * 5_000 + b",probability_cat\n77,36,1,2\n")

    message = refusal(response)
    assert message == "Line 1: column probability_cat would be overwritten by the results; rename it."

    response = upload(admin_client, b"Height," + b"w" * 5_000 + b"\n77,36\n")
    assert "w" * 40 + "…" in refusal(response)
    assert "w" * 41 not in refusal(response)


def test_the_capped_list_is_said_in_chinese_too(admin_client, trained_version):
    content = ("Height," + ",".join(f"c{number}" for number in range(20)) + "\n").encode()

    response = upload(admin_client, content, HTTP_ACCEPT_LANGUAGE="zh-Hans")

    assert "c8，另有 11 个" in refusal(response)


def test_a_repeated_height_column_is_refused_naming_it(admin_client, trained_version):
    response = upload(admin_client, b"Height,Weight,Height\n77,36,300\n")

    assert refusal(response) == "Line 1: column Height is named twice; give each column its own name."
    assert not Prediction.objects.exists()


def test_a_column_repeated_with_spaces_around_it_is_refused_too(admin_client, trained_version):
    assert "column Weight is named twice" in refusal(upload(admin_client, b"Height,Weight, Weight \n77,36,1\n"))


def test_unnamed_columns_a_spreadsheet_leaves_may_repeat(admin_client, trained_version):
    response = upload(admin_client, b"Height,Weight,,\n77,36,,\n")

    assert response.status_code == 200
    assert Prediction.objects.count() == 1


def test_a_nul_byte_in_an_extra_column_is_refused_before_it_reaches_the_results(admin_client, trained_version):
    response = upload(admin_client, b"Height,Weight,notes\n77,36,fine\n78,37,bad\x00note\n")

    assert refusal(response) == "This is not a readable CSV file (line 3 holds a NUL byte)."
    assert not Prediction.objects.exists()


def test_a_file_with_a_byte_order_mark_and_crlf_lines_is_still_read(admin_client, trained_version):
    response = upload(admin_client, b"\xef\xbb\xbfHeight,Weight\r\n77,36\r\n90,48\r\n")

    assert response.status_code == 200
    assert Prediction.objects.count() == 2
