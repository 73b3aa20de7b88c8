"""End-to-end tests in a real Chromium (Debian's, at /usr/bin/chromium) driven by Playwright.

Each test saves screenshots under test-artifacts/browser/ so a person can look at what it saw.
"""

import csv
import datetime as dt
import functools
import os
import re
from collections.abc import Sequence
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone

from predictor.models import Prediction

CHROMIUM = Path("/usr/bin/chromium")
SKIP_REASON = f"Chromium not installed at {CHROMIUM}: apt-get install chromium chromium-driver"

if not CHROMIUM.exists():
    if os.environ.get("REQUIRE_BROWSER") == "1":
        # CI sets this: there, skipped browser tests would be a silent hole in the suite.
        pytest.fail(f"REQUIRE_BROWSER=1 but {SKIP_REASON}", pytrace=False)
    pytest.skip(SKIP_REASON, allow_module_level=True)

from playwright.sync_api import Browser, Page, expect, sync_playwright  # noqa: E402

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
SCREENSHOTS = Path(settings.BASE_DIR) / "test-artifacts" / "browser"
STAFF_PASSWORD = "correct-horse-battery-staple-42"


@pytest.fixture(scope="module")
def browser():
    # Playwright's sync API runs an event loop in this thread, and Django refuses ORM calls from a
    # thread with a running loop; the tests only use the ORM between browser steps, never inside one.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as playwright:
            # launch() gives every run a fresh temporary profile directory, removed on close.
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
            yield browser
            browser.close()


def new_page(
    browser: Browser, *, width: int = 1280, scheme: str = "light", javascript: bool = True, language: str = "en-GB"
) -> Page:
    context = browser.new_context(
        viewport={"width": width, "height": 900},
        color_scheme=scheme,
        locale=language,  # the browser's Accept-Language
        java_script_enabled=javascript,
        accept_downloads=True,
        # The charts draw without their growing animation, so a screenshot shows their final bars.
        reduced_motion="reduce",
    )
    context.set_default_timeout(15_000)
    return context.new_page()


@pytest.fixture
def page(browser):
    page = new_page(browser)
    yield page
    page.context.close()


def screenshot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


@functools.cache
def axe_source() -> str:
    return AXE.read_text()


def assert_accessible(page: Page, *, rules: Sequence[str] = ()) -> None:
    """axe-core, from the repository (never a CDN), finds no serious or critical violation (of ``rules``, else any)."""
    # Evaluated, not added as a <script>: the site's Content-Security-Policy refuses inline scripts.
    page.evaluate(axe_source())
    options = {"resultTypes": ["violations"], **({"runOnly": list(rules)} if rules else {})}
    results = page.evaluate("async (options) => await axe.run(document, options)", options)
    serious = [
        f"{violation['id']} ({violation['impact']}): {violation['help']} at "
        + ", ".join(str(node["target"]) for node in violation["nodes"][:3])
        for violation in results["violations"]
        if violation["impact"] in {"serious", "critical"}
    ]
    assert not serious, f"accessibility violations on {page.url}:\n" + "\n".join(serious)


def log_in(page: Page, live_server, user) -> None:
    page.goto(f"{live_server.url}/accounts/login/")
    # By the inputs' names, not their labels: the same steps in every language.
    page.locator("input[name=username]").fill(user.username)
    page.locator("input[name=password]").fill(STAFF_PASSWORD)
    page.locator("main form button[type=submit]").click()
    expect(page.locator("h1")).to_have_text(re.compile("Prediction history|预测历史"))


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_superuser("staff", "staff@example.com", STAFF_PASSWORD)


@pytest.fixture
def history_rows(trained_version):
    now = timezone.now()
    Prediction.objects.bulk_create(
        Prediction(
            created_at=now - dt.timedelta(hours=7 * n),
            # Cats small and light, dogs larger, with some spread: the scatter looks like real use.
            inputs={
                "height": (60 + n * 7 % 25) if n % 3 else (80 + n * 11 % 30),
                "weight": (25 + n * 13 % 20) if n % 3 else (38 + n * 17 % 25),
            },
            species="Cat" if n % 3 else "Dog",
            probability=0.6 + (n % 4) / 10,
            probabilities={"Cat": 0.7, "Dog": 0.3} if n % 3 else {"Cat": 0.3, "Dog": 0.7},
            model_version=trained_version,
        )
        for n in range(80)
    )


def predict(page: Page, live_server, *, height: str, weight: str) -> None:
    page.goto(live_server.url + "/")
    page.locator("input[name=height]").fill(height)
    page.locator("input[name=weight]").fill(weight)
    page.locator("main form button[type=submit]").click()


def test_submitting_the_form_shows_the_result_card(page, live_server, trained_version):
    page.goto(live_server.url + "/")
    assert_accessible(page)
    predict(page, live_server, height="77", weight="36")

    expect(page.get_by_role("heading", name="It's a Cat")).to_be_visible()
    card = page.locator(".result")
    expect(card).to_contain_text("Model v1")
    expect(card.locator(".bar-row")).to_have_count(2)
    expect(card.locator(".bar-row").first).to_contain_text("most likely")
    stored = Prediction.objects.get()
    assert (stored.inputs["height"], stored.inputs["weight"], stored.species) == (77, 36, "Cat")
    assert_accessible(page)
    screenshot(page, "result")
    expect(card.locator(".range-warning")).to_have_count(0)


def test_the_browser_reports_no_problem_with_the_sites_headers_or_pages(page, live_server, trained_version):
    # Chromium logs a console error for each header it cannot read (an unknown Permissions-Policy
    # feature, say) and for each blocked resource: a visitor's developer tools would show them.
    messages = []
    page.on("console", lambda message: messages.append(f"{message.type}: {message.text}"))
    page.goto(live_server.url + "/")
    predict(page, live_server, height="77", weight="36")
    page.goto(live_server.url + "/accounts/login/")
    assert [message for message in messages if message.startswith(("error", "warning"))] == []


def test_a_house_cat_is_warned_that_it_lies_outside_the_training_data(page, live_server, trained_version):
    predict(page, live_server, height="30", weight="4.5")
    warning = page.locator(".result .range-warning")
    expect(warning).to_be_visible()
    expect(warning).to_contain_text("Height 30 cm is outside the 76.4–90.2 cm")
    expect(warning).to_contain_text("Weight 4.5 kg is outside the 35.4–48.3 kg")
    expect(page.locator(".result")).not_to_contain_text("100.0%")
    assert_accessible(page)
    screenshot(page, "result-outside-training-range")


def test_reloading_the_answer_shows_the_result_again_without_storing_or_asking_to_resend(
    page, live_server, trained_version
):
    predict(page, live_server, height="77", weight="36")
    expect(page.get_by_role("heading", name="It's a Cat")).to_be_visible()
    link = page.get_by_role("link", name="Link to this result").get_attribute("href")
    # The answer to the POST takes the result's own address, so a reload is a plain GET of it.
    expect(page).to_have_url(live_server.url + link)
    page.reload()
    expect(page.get_by_role("heading", name="It's a Cat")).to_be_visible()
    page.go_back()
    page.go_forward()
    expect(page.get_by_role("heading", name="It's a Cat")).to_be_visible()
    assert Prediction.objects.count() == 1


def test_keyboard_focus_is_visible_from_the_skip_link_to_the_inputs(page, live_server, trained_version):
    page.goto(live_server.url + "/")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    page.keyboard.press("Enter")
    page.get_by_label("Height (cm)").focus()
    page.keyboard.press("Tab")
    expect(page.get_by_label("Weight (kg)")).to_be_focused()
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline == "solid"


def test_bad_input_shows_the_field_error_and_keeps_the_values(page, live_server, trained_version):
    predict(page, live_server, height="-3", weight="")

    height = page.get_by_label("Height (cm)")
    expect(page.locator("#id_height_error")).to_have_text("⚠ Height must be at least 1 cm.")
    expect(page.locator("#id_weight_error")).to_contain_text("Enter the weight in kg.")
    expect(height).to_have_value("-3")
    expect(height).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_role("alert")).to_contain_text("Please fix 2 problems")
    assert not Prediction.objects.exists()
    assert_accessible(page)
    screenshot(page, "bad-input")


def test_staff_log_in_filter_the_history_and_export_the_filtered_rows(page, live_server, staff, history_rows, tmp_path):
    page.goto(f"{live_server.url}/predictions/")
    expect(page.get_by_role("heading", name="Staff log in")).to_be_visible()
    assert_accessible(page)
    page.get_by_label("Username").fill("staff")
    page.get_by_label("Password").fill(STAFF_PASSWORD)
    page.get_by_role("button", name="Log in").click()

    expect(page.get_by_role("heading", name="Prediction history")).to_be_visible()
    expect(page.locator('[data-chart="daily"] canvas')).to_be_visible()  # Chart.js drew the charts
    expect(page.locator(".chart-data table")).to_be_hidden()  # so its numbers fold away
    expect(page.locator('[data-chart="scatter"] canvas')).to_be_visible()
    expect(page.locator("#results tbody tr")).to_have_count(50)  # the first of two pages
    assert_accessible(page)

    page.get_by_label("Species", exact=True).select_option("Dog")
    page.get_by_role("button", name="Apply filters").click()
    expect(page).to_have_url(f"{live_server.url}/predictions/?species=Dog")  # empty filters left out
    species_cells = page.locator("#results tbody td:nth-child(4)")
    expect(species_cells).to_have_count(27)
    assert set(species_cells.all_inner_texts()) == {"Dog"}

    page.get_by_role("link", name="Height (cm)").click()
    expect(page).to_have_url(f"{live_server.url}/predictions/?species=Dog&sort=-height")
    heights = [float(text) for text in page.locator("#results tbody td:nth-child(2)").all_inner_texts()]
    assert heights == sorted(heights, reverse=True)
    screenshot(page, "history-filtered")

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Export filtered rows as CSV").click()
    path = tmp_path / "export.csv"
    download_info.value.save_as(path)
    with path.open(newline="") as file:
        header, *rows = list(csv.reader(file))
    expected = Prediction.objects.filter(species="Dog").in_order("-height")
    assert header[4] == "predicted_species"
    assert [int(row[0]) for row in rows] == [p.pk for p in expected]
    assert len(rows) == 27


def test_open_a_prediction_in_admin_from_the_history(page, live_server, staff, history_rows):
    log_in(page, live_server, staff)
    newest = Prediction.objects.order_by("-created_at", "-id").first()
    page.locator("#results tbody tr").first.get_by_role("link").first.click()

    expect(page).to_have_url(f"{live_server.url}/admin/predictor/prediction/{newest.pk}/change/")
    expect(page.locator("#content")).to_contain_text(newest.species)
    expect(page.locator(".field-height_cm_display")).to_contain_text(f"{newest.inputs['height']:g}")
    assert_accessible(page)
    screenshot(page, "admin-prediction")

    page.goto(f"{live_server.url}/predictions/")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Models").click()
    expect(page).to_have_url(f"{live_server.url}/models/")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Model")
    # Django's change lists are left out: their search box's label is an icon (axe: label-title-only).
    page.goto(f"{live_server.url}/admin/")
    assert_accessible(page)


def test_bad_history_filters_show_errors_not_a_crash(page, live_server, staff, history_rows):
    log_in(page, live_server, staff)
    page.goto(f"{live_server.url}/predictions/?date_from=2026-05-05&date_to=2026-05-01&species=Horse")
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("The last day must not be before the first day.")
    expect(alert).to_contain_text("No model predicts the species “Horse”.")
    assert_accessible(page)


def test_error_pages_are_designed_and_accessible(page, live_server, django_user_model):
    page.goto(f"{live_server.url}/no-such-page/")
    expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
    expect(page.get_by_role("link", name="Back to the prediction form")).to_be_visible()
    assert_accessible(page)

    visitor = django_user_model.objects.create_user("visitor", password=STAFF_PASSWORD)
    page.goto(f"{live_server.url}/accounts/login/?next=/predictions/")
    page.get_by_label("Username").fill(visitor.username)
    page.get_by_label("Password").fill(STAFF_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    expect(page.get_by_text("The prediction history is for staff only.")).to_be_visible()
    expect(page.get_by_role("link", name="History")).to_have_count(0)  # not offered to non-staff
    assert_accessible(page)
    screenshot(page, "not-allowed")


def test_one_outlier_leaves_the_scatter_readable_and_is_counted(
    page, live_server, staff, history_rows, trained_version
):
    Prediction.objects.create(
        inputs={"height": 300, "weight": 500},
        species="Dog",
        probability=0.99,
        probabilities={"Cat": 0.01, "Dog": 0.99},
        model_version=trained_version,
    )
    log_in(page, live_server, staff)
    figure = page.locator("figure", has=page.locator("#scatter-heading"))
    expect(figure).to_contain_text("1 prediction lies far outside the others and is left off the chart")
    scatter = "() => window.Chart && Chart.getChart(document.querySelector('[data-chart=scatter] canvas'))"
    page.wait_for_function(scatter)  # the chart script is deferred: the caption can be there before it runs
    axis_top = page.evaluate(f"() => ({scatter})().scales.y.max")
    assert 110 <= axis_top < 150  # the ordinary animals fill the chart, the 300 cm one is off it
    for width in (PHONE, DESKTOP):
        page.set_viewport_size({"width": width, "height": 900})
        figure.scroll_into_view_if_needed()
        figure.screenshot(path=str(SCREENSHOTS / f"history-scatter-outlier-{width}.png"))


def test_history_filters_and_table_work_without_javascript(browser, live_server, staff, history_rows):
    page = new_page(browser, javascript=False)
    log_in(page, live_server, staff)
    expect(page.locator('[data-chart="daily"]')).to_be_hidden()
    expect(page.locator(".chart-data table")).to_be_visible()  # the chart's numbers, as a table
    page.get_by_label("Species", exact=True).select_option("Cat")
    page.get_by_role("button", name="Apply filters").click()
    assert set(page.locator("#results tbody td:nth-child(4)").all_inner_texts()) == {"Cat"}
    page.get_by_role("link", name="Next ›").click()
    expect(page.get_by_role("link", name="« First page")).to_be_visible()
    screenshot(page, "history-no-javascript")
    page.context.close()


PHONE, DESKTOP = 390, 1280


def check_page(page: Page, width: int, name: str, *, accessible: bool = True, axe_rules: Sequence[str] = ()) -> None:
    screenshot(page, name)
    assert_fits(page, width)
    if width == DESKTOP:
        assert_nothing_clipped(page)
    if accessible:
        assert_accessible(page, rules=axe_rules)


def assert_fits(page: Page, width: int) -> None:
    """Nothing makes the page scroll sideways (wide tables scroll inside their own box)."""
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= width, f"{page.url} is {scroll_width}px wide in a {width}px window"


# Every shown element that sticks out of its parent, and every box whose content scrolls or is cut off sideways.
CLIPPED = """() => {
  const name = (el) => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "")
    + [...el.classList].map((c) => "." + c).join("");
  const found = [];
  for (const el of document.body.querySelectorAll("*")) {
    const style = getComputedStyle(el);
    if (style.visibility === "hidden" || el.closest(".visually-hidden")) continue;
    const box = el.getBoundingClientRect();
    if (!box.width || !box.height) continue;
    const wide = el.scrollWidth - el.clientWidth;
    if (["auto", "scroll", "hidden", "clip"].includes(style.overflowX) && el.clientWidth && wide > 1) {
      found.push(`${name(el)} hides ${wide}px of its content`);
    }
    const parent = el.parentElement.getBoundingClientRect();
    if (box.right > parent.right + 1 || box.left < parent.left - 1) {
      const span = (b) => `${Math.round(b.left)}..${Math.round(b.right)}`;
      found.push(`${name(el)} (${span(box)}) sticks out of ${name(el.parentElement)} (${span(parent)})`);
    }
  }
  return found;
}"""


def assert_nothing_clipped(page: Page) -> None:
    found = page.evaluate(CLIPPED)
    assert not found, f"{page.url}:\n" + "\n".join(found[:10])
