"""The pages of several models side by side, at a phone's and a desktop's width, light and dark, in both languages.

The models page grouped by model, another model's version page, its history and its batch upload:
each saved under test-artifacts/browser/ for a person to look at, and checked as the other
layout tests check theirs (nothing wider than the window, nothing clipped on a desktop, axe-core
on the English light pages).
"""

import pytest

from predictor.history import writer
from predictor.serving import model_service
from predictor.tests import test_browser
from predictor.tests.tabular import IRIS_FLOWER
from predictor.tests.test_browser import DESKTOP, PHONE, check_page, log_in, new_page

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

browser = test_browser.browser
staff = test_browser.staff

PAGES = {
    "models-grouped": "/models/",
    "iris-version": "/models/iris/1/",
    "iris-history": "/predictions/?model=iris",
    "fruit-upload": "/predictions/upload/?model=fruit",
}


@pytest.mark.parametrize(("scheme", "language"), [("light", "en-GB"), ("dark", "en-GB"), ("dark", "zh-CN")])
def test_other_models_pages_fit_phone_and_desktop(browser, live_server, staff, three_models, scheme, language):
    for flower in (IRIS_FLOWER, {**IRIS_FLOWER, "petal_length_cm": 5.1, "petal_width_cm": 2.0}):
        writer.record_prediction(result=model_service.predict(flower, model="iris"))
    page = new_page(browser, width=PHONE, scheme=scheme, language=language)
    log_in(page, live_server, staff)
    suffix = scheme if language.startswith("en") else f"{scheme}-zh"
    for name, path in PAGES.items():
        for width in (PHONE, DESKTOP):
            page.set_viewport_size({"width": width, "height": 900})
            response = page.goto(live_server.url + path)
            assert response.status == 200, path
            check_page(page, width, f"{name}-{width}-{suffix}", accessible=scheme == "light")
    page.context.close()
