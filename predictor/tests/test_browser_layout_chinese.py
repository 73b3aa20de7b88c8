"""The Chinese pages at a phone's and a desktop's width, in the dark scheme: test_browser_layout.py's checks.

A module of its own so that pytest-xdist can run it beside the English ones, on the other worker.
"""

import pytest

from predictor.tests import test_browser_layout
from predictor.tests.test_browser_layout import check_every_page

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

browser = test_browser_layout.browser
staff = test_browser_layout.staff
history_rows = test_browser_layout.history_rows
close_call = test_browser_layout.close_call


def test_chinese_pages_fit_phone_and_desktop_in_the_dark(browser, live_server, staff, history_rows, close_call):
    check_every_page(browser, live_server, staff, close_call, scheme="dark", language="zh-CN")
