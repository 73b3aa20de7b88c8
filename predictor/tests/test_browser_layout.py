"""The site's pages at a phone's and a desktop's width, light and dark, in English and Chinese.

Each page is saved under test-artifacts/browser/ for a person to look at, and checked the way a
demanding visitor looks: nothing wider than the window, nothing clipped, the result's bars aligned
and proportional, the labelling columns in view on a phone, and (in English) no serious axe-core
finding. Its own module so that pytest-xdist can run it beside the other browser tests; the
Chinese pages have a module of their own for the same reason.
"""

import pytest
from playwright.sync_api import Page, expect

from predictor.models import Prediction
from predictor.tests import test_browser
from predictor.tests.test_browser import DESKTOP, PHONE, check_page, log_in, new_page, predict
from predictor.web import answers

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

browser = test_browser.browser
staff = test_browser.staff
history_rows = test_browser.history_rows


@pytest.fixture
def close_call(trained_version):
    """A result where the bars must be read, not just glanced at: 57.1% against 42.9%."""
    return Prediction.objects.create(
        inputs={"height": 60, "weight": 30},
        species="Cat",
        probability=4 / 7,
        probabilities={"Cat": 4 / 7, "Dog": 3 / 7},
        model_version=trained_version,
    )


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_pages_fit_phone_and_desktop_in_light_and_dark(browser, live_server, staff, history_rows, close_call, scheme):
    check_every_page(browser, live_server, staff, close_call, scheme=scheme, language="en-GB")


def check_every_page(browser, live_server, staff, close_call, *, scheme: str, language: str) -> None:
    """Every page a visitor and a member of staff see, at both widths, in one scheme and language.

    The Chinese pages are checked in the dark scheme only (test_browser_layout_chinese.py): the
    same templates and styles, and `make test` has 90 seconds.
    """
    # One window per scheme and language, resized: no second log in. axe runs on the English pages:
    # the Chinese ones are the same templates.
    page = new_page(browser, width=PHONE, scheme=scheme, language=language)
    english = language.startswith("en")
    # The dark scheme changes colours only (site.css): the light pass checks the rest of axe's rules.
    axe_rules = ["color-contrast", "link-in-text-block"] if scheme == "dark" else []
    scheme = scheme if english else f"{scheme}-zh"  # the screenshots' names
    predict(page, live_server, height="88", weight="47")
    expect(page.get_by_role("heading", name="It's a Dog" if english else "是Dog")).to_be_visible()
    columns = {(width, kind): set() for width in (PHONE, DESKTOP) for kind in ("reading", "table")}
    anonymous = {
        "result": page.url,
        "result-close": live_server.url + answers.permalink(close_call),
        "form": live_server.url + "/",
        "login": f"{live_server.url}/accounts/login/",
    }
    for width in (PHONE, DESKTOP):
        page.set_viewport_size({"width": width, "height": 900})
        for name, url in anonymous.items():
            page.goto(url)
            # axe costs a third of a second a page; the close result is the same template as the other.
            check_page(
                page,
                width,
                f"{name}-{width}-{scheme}",
                accessible=english and name != "result-close",
                axe_rules=axe_rules,
            )
            columns[width, "reading"].add(content_width(page))
            if name.startswith("result"):
                assert_bars_aligned_and_proportional(page)

    log_in(page, live_server, staff)
    page.goto(f"{live_server.url}/predictions/upload/")
    page.locator("input[type=file]").set_input_files(
        files=[
            {"name": "animals.csv", "mimeType": "text/csv", "buffer": b"Height,Weight,name\n80,40,Tom\n30,4.5,Kit\n"}
        ]
    )
    page.locator("main form button[type=submit]").click()
    batch_result = page.url
    for width in (PHONE, DESKTOP):
        page.set_viewport_size({"width": width, "height": 900})
        for name, url in {
            "batch-upload": f"{live_server.url}/predictions/upload/",
            "batch-result": batch_result,
        }.items():
            page.goto(url)
            check_page(page, width, f"{name}-{width}-{scheme}", accessible=english, axe_rules=axe_rules)
            columns[width, "reading"].add(content_width(page))
        page.goto(f"{live_server.url}/predictions/")
        expect(page.locator('[data-chart="scatter"] canvas')).to_be_visible()
        check_page(page, width, f"history-{width}-{scheme}", accessible=english, axe_rules=axe_rules)
        columns[width, "table"].add(content_width(page))
        if width == PHONE:
            assert_history_key_columns_in_view(page)
        page.goto(f"{live_server.url}/models/")
        models_axe = english and width == PHONE  # table scrolls
        check_page(page, width, f"models-{width}-{scheme}", accessible=models_axe, axe_rules=axe_rules)
        columns[width, "table"].add(content_width(page))
        page.goto(f"{live_server.url}/models/{close_call.model_version.version}/")
        check_page(page, width, f"model-detail-{width}-{scheme}", accessible=english, axe_rules=axe_rules)
        columns[width, "reading"].add(content_width(page))
        # Django's change lists are left out of axe: their search box's label is an icon (label-title-only).
        admin_pages = {
            "admin-predictions": f"{live_server.url}/admin/predictor/prediction/",
            "admin-versions": f"{live_server.url}/admin/predictor/modelversion/",
        }
        for name, url in admin_pages.items():
            page.goto(url)
            check_page(page, width, f"{name}-{width}-{scheme}", accessible=False)
    assert all(len(widths) == 1 for widths in columns.values()), f"the content column changes width: {columns}"

    icon = page.request.get(f"{live_server.url}/favicon.ico")  # what browsers ask for unprompted
    assert icon.ok and icon.headers["content-type"] in {"image/x-icon", "image/vnd.microsoft.icon"}, icon
    page.context.close()


def content_width(page: Page) -> float:
    return page.evaluate("document.querySelector('main').getBoundingClientRect().width")


BARS = """() => [...document.querySelectorAll(".bar-row")].map((row) => {
  const track = row.querySelector(".bar-track");
  const box = track.getBoundingClientRect();
  return {
    left: box.left, width: box.width, inner: track.clientWidth,
    fill: row.querySelector(".bar-fill").getBoundingClientRect().width,
    value: parseFloat(row.querySelector(".value").textContent) / 100,
  };
})"""


def assert_bars_aligned_and_proportional(page: Page) -> None:
    bars = page.evaluate(BARS)
    assert len(bars) >= 2
    first = bars[0]
    for bar in bars:
        assert (bar["left"], bar["width"]) == (first["left"], first["width"]), f"tracks differ on {page.url}: {bars}"
        assert abs(bar["fill"] - bar["value"] * bar["inner"]) <= 1, f"fill not proportional on {page.url}: {bar}"


# The first row's cells a labeller needs, and how far each reaches past the window or its scrolling box.
KEY_CELLS = """() => {
  const row = document.querySelector("#results tbody tr");
  const wrap = row.closest(".table-wrap").getBoundingClientRect();
  const right = Math.min(window.innerWidth, wrap.right);
  return [...row.querySelectorAll(".cell-species, .cell-probability, .label-cell button")].map((el) => {
    const box = el.getBoundingClientRect();
    return {text: el.textContent.trim(), left: box.left, right: box.right, limit: right};
  });
}"""


def assert_history_key_columns_in_view(page: Page) -> None:
    cells = page.evaluate(KEY_CELLS)
    assert len(cells) >= 4, cells  # species, probability and a button per species
    hidden = [cell for cell in cells if cell["left"] < 0 or cell["right"] > cell["limit"] + 1]
    assert not hidden, f"off-screen on a phone: {hidden}"
