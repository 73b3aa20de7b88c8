"""The candidate comparison page in a real Chromium: it fits, reads in both schemes and languages, and works.

Screenshots go to test-artifacts/browser/comparison-*.png.
"""

import pytest
from django.utils import timezone

from predictor.models import Candidate, ModelVersion, Prediction
from predictor.tests import test_browser
from predictor.tests.test_browser import DESKTOP, PHONE, check_page, log_in, new_page, screenshot

# The browser tests' Chromium and superuser, shared rather than launched again.
browser = test_browser.browser
staff = test_browser.staff

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def compared(make_version):
    """v1 active, v2 its shadow: 30 rows both scored, 8 disagreeing, 12 labelled."""
    active, candidate = make_version(is_active=True), make_version(stored=True)  # promoted only if it loads
    Candidate.objects.create(version=candidate, mode=Candidate.Mode.SHADOW)
    rows = []
    for n in range(30):
        active_says = "Cat" if n % 2 else "Dog"
        candidate_says = active_says if n % 4 else ("Dog" if active_says == "Cat" else "Cat")
        rows.append(
            Prediction(
                created_at=timezone.now(),
                inputs={"height": 60 + n, "weight": 20 + n / 2},
                species=active_says,
                probability=0.8,
                probabilities={"Cat": 0.8, "Dog": 0.2} if active_says == "Cat" else {"Cat": 0.2, "Dog": 0.8},
                model_version=active,
                shadow_version=candidate,
                shadow_species=candidate_says,
                shadow_probability=0.7,
                actual_species=candidate_says if n < 12 else None,
            )
        )
    Prediction.objects.bulk_create(rows)
    return candidate


# Ten seconds for the three: past `make test`'s budget, so run by `make test-slow`.
@pytest.mark.slow
@pytest.mark.parametrize(("scheme", "language"), [("light", "en-GB"), ("dark", "en-GB"), ("light", "zh-CN")])
def test_the_comparison_page_fits_phone_and_desktop(browser, live_server, staff, compared, scheme, language):
    page = new_page(browser, scheme=scheme, language=language)
    log_in(page, live_server, staff)
    for width in (PHONE, DESKTOP):
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(f"{live_server.url}/models/{compared.version}/comparison/")
        assert page.locator(".figures dd").count() == 6
        assert page.locator(".side-by-side table").count() == 2
        check_page(page, width, f"comparison-{width}-{scheme}-{language}", accessible=language == "en-GB")
    page.context.close()


def test_staff_label_a_disagreement_then_promote_the_shadow(browser, live_server, staff, compared):
    page = new_page(browser)
    log_in(page, live_server, staff)
    page.goto(f"{live_server.url}/models/{compared.version}/comparison/")
    assert "Running as a shadow" in page.locator(".candidate-state").inner_text()
    check_page(page, DESKTOP, "comparison-shadow")  # fits, nothing clipped, no serious axe finding
    disagreements = page.locator("table.disagreements tbody tr")
    assert disagreements.count() == 8
    labelled = page.locator("table.disagreements tbody tr", has=page.locator("button[aria-pressed=true]")).count()
    assert labelled == 3  # rows 0, 4 and 8 of the 12 labelled ones disagree

    page.locator("table.disagreements tbody tr").first.get_by_role("button", name="Cat").click()
    assert page.url.startswith(f"{live_server.url}/models/{compared.version}/comparison/")
    assert Prediction.objects.filter(labelled_by=staff).count() == 1

    page.get_by_text(f"Make {compared} active…").click()  # promoting asks once more
    assert ModelVersion.objects.active().get() != compared
    screenshot(page, "comparison-confirm-promote")
    page.get_by_role("button", name=f"Yes, make {compared} active").click()
    assert f"Model {compared} is now active" in page.locator(".messages").inner_text()
    assert ModelVersion.objects.active().get() == compared and not Candidate.objects.exists()
    screenshot(page, "comparison-promoted")
    page.context.close()
