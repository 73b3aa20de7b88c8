"""Issue 13 (inputs), finding 11: under the Content-Security-Policy every page still works in a real browser.

Chromium reports each blocked script, style or image as a ``securitypolicyviolation`` event; the
test collects them on every page a visitor or staff member opens, and checks the pages still do
their job (the result's bars are drawn, the history's charts, the API docs, the admin).
"""

import pytest
from playwright.sync_api import expect

from predictor.tests import test_browser
from predictor.tests.test_browser import log_in, new_page, predict

# The browser tests' fixtures, shared rather than copied.
browser, staff, history_rows = test_browser.browser, test_browser.staff, test_browser.history_rows

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

COLLECT_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  const where = `${event.sourceFile}:${event.lineNumber}`;
  window.__cspViolations.push(`${event.violatedDirective} blocked ${event.blockedURI} at ${where}`);
});
"""


def violations(page) -> list[str]:
    return page.evaluate("window.__cspViolations")


def test_every_page_works_under_the_content_security_policy_without_a_violation(
    browser, live_server, staff, history_rows
):
    page = new_page(browser)
    page.add_init_script(COLLECT_VIOLATIONS)
    console = []
    page.on("console", lambda message: console.append(message.text))
    seen = {}

    response = page.goto(live_server.url + "/")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert "camera=()" in response.headers["permissions-policy"]
    seen["form"] = violations(page)

    predict(page, live_server, height="88", weight="47")
    expect(page.locator(".result .bar-row")).to_have_count(2)
    widths = page.locator(".result .bar-fill").evaluate_all("bars => bars.map(b => b.getBoundingClientRect().width)")
    assert widths[0] > widths[1] > 0  # the bars are drawn in proportion without a style attribute
    seen["result"] = violations(page)

    log_in(page, live_server, staff)
    expect(page.locator('[data-chart="daily"] canvas')).to_be_visible()  # Chart.js drew the charts
    expect(page.locator('[data-chart="scatter"] canvas')).to_be_visible()
    seen["history"] = violations(page)

    page.goto(f"{live_server.url}/models/")
    seen["models"] = violations(page)
    page.goto(f"{live_server.url}/models/1/")
    seen["model detail"] = violations(page)

    page.goto(f"{live_server.url}/api/docs")
    expect(page.locator(".swagger-ui .opblock").first).to_be_visible()  # Swagger UI rendered the operations
    page.locator(".swagger-ui .opblock-summary").first.click()
    seen["API docs"] = violations(page)

    page.goto(f"{live_server.url}/admin/")
    expect(page.locator("#content")).to_be_visible()
    seen["admin"] = violations(page)
    page.goto(f"{live_server.url}/admin/predictor/prediction/")
    expect(page.locator("#result_list")).to_be_visible()
    seen["admin list"] = violations(page)
    page.set_viewport_size({"width": 390, "height": 900})
    hint = page.evaluate('getComputedStyle(document.querySelector("#changelist .results"), "::before").content')
    assert "Scroll the table sideways" in hint  # the translated hint still reaches the stylesheet
    page.goto(f"{live_server.url}/admin/predictor/prediction/1/change/")
    seen["admin change"] = violations(page)

    blocked = {name: found for name, found in seen.items() if found}
    assert not blocked, f"CSP violations: {blocked}"
    assert not [text for text in console if "Content Security Policy" in text], console
    page.context.close()
