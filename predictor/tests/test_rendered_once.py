"""The header, asset links and blank form rendered once per process look exactly as rendered afresh."""

import re

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db

CSRF = re.compile(r'name="csrfmiddlewaretoken" value="[^"]+"|name="submission_key" value="[^"]+"')


def page(client, url, **kwargs) -> str:
    return CSRF.sub("", client.get(url, **kwargs).content.decode())


@pytest.mark.parametrize("url", ["/", "/accounts/login/", "/no-such-page/"])
def test_pages_rendered_once_are_the_pages_rendered_afresh(client, trained_version, settings, url):
    settings.RENDER_ONCE = False
    fresh = page(client, url)
    settings.RENDER_ONCE = True
    assert page(client, url) == fresh  # first use: rendered and kept
    assert page(client, url) == fresh  # later uses: the kept copy


def test_the_current_page_is_marked_on_each_page_not_only_the_first_rendered(client, trained_version):
    assert 'href="/" aria-current="page">Predict' in page(client, "/")
    login = page(client, "/accounts/login/")
    assert 'href="/accounts/login/" aria-current="page">Staff log in' in login
    assert 'aria-current="page">Predict' not in login


def test_a_logged_in_user_never_gets_the_anonymous_header(client, admin_client, trained_version):
    client.get("/")  # the anonymous header is kept
    html = admin_client.get("/").content.decode()
    assert "Log out" in html and reverse("predictor:history") in html
    assert "Staff log in" not in html


def test_a_form_sent_back_with_errors_shows_the_values_and_errors_not_the_blank_form(client, trained_version):
    client.get("/")  # the blank fields are kept
    html = client.post("/", {"height": "-3", "weight": "12.5"}).content.decode()
    assert 'value="-3"' in html and 'value="12.5"' in html
    assert "Height must be at least 1 cm." in html
    blank = client.get("/").content.decode()
    assert 'value="-3"' not in blank and "must be greater" not in blank
