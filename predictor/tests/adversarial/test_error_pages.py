"""Issue 26, points 3 and 7 (part): error pages that cannot fail, JSON under /api/, no Server banner.

A Host header the site does not serve was a 500 with two tracebacks (the 400 page's header read
request.user before authentication had run), and HTML even under /api/.
"""

import json
import urllib.error
import urllib.request

import pytest
from django.test import Client, RequestFactory

from mlsite import urls
from predictor.ops import middleware
from predictor.tests.live_server import running_server

pytestmark = pytest.mark.django_db

JSON = "application/json; charset=utf-8"
SCANNER_HOST = {"HTTP_HOST": "scanner.example"}


@pytest.fixture
def browser():
    return Client(raise_request_exception=False)  # as a visitor sees it: the answer, never the traceback


@pytest.mark.parametrize("path", ["/", "/predictions/", "/no-such-page"])
def test_a_host_the_site_does_not_serve_gets_the_400_page(browser, trained_version, path):
    response = browser.get(path, **SCANNER_HOST)

    assert response.status_code == 400
    assert response["Content-Type"] == "text/html; charset=utf-8"
    html = response.content.decode()
    assert "Bad request" in html and "Staff log in" in html  # the site's page, an anonymous visitor's header


@pytest.mark.parametrize("path", ["/api/v1/predict", "/api/", "/api/no-such-endpoint"])
def test_a_host_the_site_does_not_serve_gets_json_under_the_api(browser, trained_version, path):
    response = browser.post(path, "{}", content_type="application/json", **SCANNER_HOST)

    assert response.status_code == 400
    assert response["Content-Type"] == JSON
    body = response.json()
    assert body["detail"] == "The request could not be understood."
    assert body["errors"] == [] and body["request_id"]


def test_a_bad_host_is_answered_in_chinese_to_a_chinese_browser(browser, trained_version):
    response = browser.get("/", HTTP_ACCEPT_LANGUAGE="zh-Hans", **SCANNER_HOST)

    assert response.status_code == 400
    assert "请求有误" in response.content.decode() and "工作人员登录" in response.content.decode()


def test_a_server_error_is_the_500_page_or_json_without_reading_the_user(browser, trained_version, monkeypatch):
    def broken_user(request):
        raise RuntimeError("the session store is broken")

    monkeypatch.setattr("django.contrib.auth.get_user", broken_user)

    page = browser.get("/")  # the header asks for the user
    assert page.status_code == 500
    assert "Something went wrong on our side" in page.content.decode()

    api = browser.get("/api/v1/models", HTTP_COOKIE="sessionid=abc")  # a session is what authenticates
    assert (api.status_code, api["Content-Type"]) == (500, JSON)
    assert api.json()["detail"] == "Something went wrong on the server; the error has been logged."


def test_a_failure_outside_any_view_is_json_under_the_api(browser, trained_version, monkeypatch):
    def broken(self, request):
        raise RuntimeError("a middleware failed")

    monkeypatch.setattr(middleware.SecurityHeadersMiddleware, "__call__", broken)

    api = browser.get("/api/")
    page = browser.get("/")

    assert (api.status_code, api["Content-Type"]) == (500, JSON)
    assert json.loads(api.content)["request_id"]
    assert page.status_code == 500 and page["Content-Type"].startswith("text/html")


@pytest.mark.parametrize(
    ("handler", "status"),
    [(urls.handler400, 400), (urls.handler403, 403), (urls.handler404, 404)],
)
@pytest.mark.parametrize("path", ["/somewhere", "/api/v1/somewhere"])
def test_every_error_view_answers_a_bare_request_without_user_or_session(trained_version, handler, status, path):
    request = RequestFactory().get(path)  # no middleware has run: no user, no session, no messages

    response = handler(request, Exception())

    assert response.status_code == status
    expected = JSON if path.startswith("/api/") else "text/html; charset=utf-8"
    assert response["Content-Type"] == expected


def test_the_500_view_answers_a_bare_request(trained_version):
    assert urls.handler500(RequestFactory().get("/x")).status_code == 500
    assert urls.handler500(RequestFactory().get("/api/x"))["Content-Type"] == JSON


def test_a_permission_refusal_still_says_why_on_the_403_page(browser, make_staff):
    browser.force_login(make_staff("nobody", group=None))

    response = browser.get("/predictions/")

    assert response.status_code == 403
    assert "nobody" in response.content.decode()  # a logged-in user's header, as on every page


@pytest.mark.slow
def test_under_gunicorn_no_server_banner_and_a_long_cookie_reaches_the_site():
    with running_server(workers=1) as server:
        page = urllib.request.urlopen(server.base_url + "/", timeout=30)
        assert "Server" not in page.headers

        # 12 KB of cookies: gunicorn's default (8,190 bytes a header) answered its own HTML 431.
        request = urllib.request.Request(server.base_url + "/api/", headers={"Cookie": "c=" + "x" * 12_000})
        with urllib.request.urlopen(request, timeout=30) as answer:
            assert answer.status == 200
            assert answer.headers["Content-Type"].startswith("application/json")
            assert "Server" not in answer.headers

        request = urllib.request.Request(server.base_url + "/api/", headers={"Host": "scanner.example"})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=30)
        assert refused.value.code == 400
        assert refused.value.headers["Content-Type"] == JSON
        assert "Server" not in refused.value.headers
