"""The job page in a real Chromium: its bar follows the job, and it becomes the batch's summary by itself.

No worker: the test moves the job's row as a worker would, then runs the job in this process.
Screenshots under test-artifacts/browser/ (job-running-<width>-<scheme>-<language>.png).
"""

import re
import uuid

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from playwright.sync_api import expect

from predictor import jobs
from predictor.history import batch
from predictor.models import Job
from predictor.tests import test_browser
from predictor.tests.test_browser import (
    DESKTOP,
    PHONE,
    assert_accessible,
    assert_fits,
    assert_nothing_clipped,
    log_in,
    new_page,
    screenshot,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# The browser tests' own fixtures: one Chromium per module, a superuser who logs in with a password.
browser = test_browser.browser
staff = test_browser.staff

ROWS = 4
CSV = b"Height,Weight\n77,36\n90,48\n78,37\n30,4.5\n"
POLL = 3_000  # job.js asks every second: three seconds is two chances, on a busy machine


def kept_batch_job(user) -> Job:
    """A batch job as the upload page leaves it (file kept, job queued), shown running by a worker."""
    batch_id = uuid.uuid4()
    name = storages[batch.UPLOADS_STORAGE].save(f"{batch_id}.csv", ContentFile(CSV))
    arguments = {"batch_id": str(batch_id), "upload_name": name, "rows": ROWS}
    return Job.objects.create(kind=Job.Kind.BATCH, arguments=arguments, created_by=user, progress_total=ROWS)


def move(job: Job, *, done: int, status: str = "running") -> None:
    attempts = 1 if status == "running" else 0
    Job.objects.filter(pk=job.pk).update(status=status, progress_done=done, attempts=attempts)


def bar(page):
    return page.locator("#job-progress")


def test_the_job_page_follows_the_job_and_becomes_the_batch_summary_without_a_reload(
    browser, live_server, staff, trained_version
):
    page = new_page(browser)
    log_in(page, live_server, staff)
    job = kept_batch_job(staff)
    move(job, done=1)
    page.goto(f"{live_server.url}/jobs/{job.pk}/")
    expect(bar(page)).to_have_attribute("value", "1")
    page.evaluate("window.sameDocument = true")  # gone if the page were loaded again

    move(job, done=3)
    expect(bar(page)).to_have_attribute("value", "3", timeout=POLL)
    expect(page.locator("#job-count")).to_have_text("3 of 4 rows stored")
    assert page.evaluate("window.sameDocument") is True
    assert_bar_fills_its_card(page, fraction=3 / 4)

    move(job, done=0, status="queued")  # handed to a worker, which runs it whole
    assert jobs.run(str(job.pk)) == "succeeded"
    expect(page).to_have_url(re.compile(rf"/predictions/upload/{job.arguments['batch_id']}/$"), timeout=POLL)
    expect(page.locator(".lead")).to_contain_text("4 rows predicted with model v1")
    page.context.close()


def test_a_running_job_fits_phone_and_desktop_in_light_and_dark_in_english_and_chinese(browser, live_server, staff):
    english = new_page(browser, language="en-GB")
    log_in(english, live_server, staff)
    # The same session in a Chinese browser: logged in once.
    chinese = browser.new_context(locale="zh-CN", storage_state=english.context.storage_state()).new_page()
    job = kept_batch_job(staff)
    move(job, done=312_345)
    Job.objects.filter(pk=job.pk).update(progress_total=1_000_000)
    counts = {"en": "312,345 of 1,000,000 rows stored", "zh": "已保存 312,345 / 1,000,000 行"}
    for (language, count), page in zip(counts.items(), (english, chinese), strict=True):
        page.goto(f"{live_server.url}/jobs/{job.pk}/")
        expect(page.locator("#job-count")).to_have_text(count)  # as job.js writes it, numbers grouped
        for scheme in ("light", "dark"):
            page.emulate_media(color_scheme=scheme)
            for width in (PHONE, DESKTOP):
                page.set_viewport_size({"width": width, "height": 900})
                screenshot(page, f"job-running-{width}-{scheme}-{language}")
                assert_fits(page, width)
                if width == DESKTOP:
                    assert_nothing_clipped(page)
                assert_bar_fills_its_card(page, fraction=312_345 / 1_000_000)
    assert_accessible(english)
    english.context.close()
    chinese.context.close()


# The bar's box against its card's content box, and how far its value reaches.
BAR_IN_CARD = """() => {
  const bar = document.querySelector("#job-progress");
  const card = bar.closest(".card");
  const box = bar.getBoundingClientRect(), outer = card.getBoundingClientRect();
  const style = getComputedStyle(card);
  return {
    left: box.left, right: box.right, height: box.height,
    contentLeft: outer.left + parseFloat(style.paddingLeft) + parseFloat(style.borderLeftWidth),
    contentRight: outer.right - parseFloat(style.paddingRight) - parseFloat(style.borderRightWidth),
    position: bar.position,
  };
}"""


def assert_bar_fills_its_card(page, *, fraction: float) -> None:
    """The bar spans its card's content, tall enough to see, and shows the job's share done."""
    found = page.evaluate(BAR_IN_CARD)
    assert abs(found["left"] - found["contentLeft"]) <= 1, found
    assert abs(found["right"] - found["contentRight"]) <= 1, found
    assert found["height"] >= 8, found
    assert abs(found["position"] - fraction) < 1e-6, found
