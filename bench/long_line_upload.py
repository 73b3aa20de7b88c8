"""How long the batch upload takes to refuse a 60 MB CSV of one line, and how large its answer is.

Issue 26: the row count read the upload through codecs' reader, quadratic on a long line (1/2/4/8
MB: 0.2/0.7/2.4/8.4 s); a 62 MB one-line file held a web thread for 18.5 minutes, and its error
page, which repeated every column name, was 68.9 MB. The goal: refused in under 5 s with a page
under 100 KB. This script posts such files to the upload page in process (Django's test client,
DEBUG off, a throw-away SQLite database and a freshly trained model; see bench/profile_requests.py)
as a superuser, and prints the time and page size for each shape of file:

- ``header``: one line of column names (Height, Weight, then c1, c2 ...), no line end;
- ``cell``: a good header, then one data line of a single 60 MB cell.

    python bench/long_line_upload.py [--megabytes 60]
"""

import argparse
import html
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.profile_requests import set_up_site_in_process  # noqa: E402

ERROR = re.compile(r'<p class="error" id="id_file_error"[^>]*>(.*?)</p>', re.S)


def one_line_of_names(size: int) -> bytes:
    names = bytearray(b"Height,Weight")
    number = 0
    while len(names) < size:
        number += 1
        names += b",c%d" % number
    return bytes(names[:size])


def one_long_cell(size: int) -> bytes:
    header = b"Height,Weight\n"
    return header + b"1" * (size - len(header))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=float, default=60, help="size of each file (MB, 10^6 bytes)")
    args = parser.parse_args()

    set_up_site_in_process(prefix="mlsite-long-line-")
    from django.contrib.auth import get_user_model
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.test import Client
    from django.urls import reverse

    user = get_user_model().objects.create_superuser("bench", password="a bench-only password 42")
    client = Client(HTTP_HOST="localhost", raise_request_exception=False)
    client.force_login(user)
    size = int(args.megabytes * 1_000_000)
    failed = False
    for shape, make in (("header", one_line_of_names), ("cell", one_long_cell)):
        content = make(size)
        upload = SimpleUploadedFile("animals.csv", content, content_type="text/csv")
        started = time.perf_counter()
        response = client.post(reverse("predictor:batch_upload"), {"file": upload})
        seconds = time.perf_counter() - started
        refused = response.status_code == 400
        within = refused and seconds < 5 and len(response.content) < 100_000
        failed = failed or not within
        print(
            f"{shape}: {len(content) / 1e6:.1f} MB in one line: {response.status_code} in {seconds:.2f} s, "
            f"page {len(response.content) / 1000:.1f} KB ({'within' if within else 'NOT within'} 5 s and 100 KB)"
        )
        if said := ERROR.search(response.content.decode()):
            print(f"  said: {html.unescape(said.group(1))}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
