"""Pages of the site itself: the language links and the health check."""

from django.conf import settings
from django.db import DatabaseError
from django.http import (
    Http404,
    JsonResponse,
)
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import check_for_language
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from predictor.ops.client import is_local
from predictor.serving import health


@require_safe
def choose_language(request, language: str):
    """The footer's language links: remember the choice in Django's language cookie, then go back.

    A plain link, not a form, so the footer holds nothing per visitor and is rendered once per
    process (predictor/templatetags/rendered_once.py). Choosing a language changes nothing but
    how pages read, so a link from elsewhere can do no harm. Django's POST view at /i18n/setlang/
    does the same for forms.
    """
    if not check_for_language(language) or language not in dict(settings.LANGUAGES):
        raise Http404(_("No such language."))
    back = request.headers.get("referer", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        back = reverse("predictor:predict")
    response = redirect(back)
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME,
        language,
        max_age=settings.LANGUAGE_COOKIE_AGE,
        path=settings.LANGUAGE_COOKIE_PATH,
        samesite=settings.LANGUAGE_COOKIE_SAMESITE,
        secure=settings.LANGUAGE_COOKIE_SECURE,
        httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
    )
    return response


@require_safe
@never_cache
def health_check(request):
    """200 when this process can answer a prediction, 503 when it cannot; why, to staff and local callers only."""
    report = health.check()
    return JsonResponse(report.as_json(details=_may_see_health_details(request)), status=report.http_status)


def _may_see_health_details(request) -> bool:
    if is_local(request):
        return True
    try:
        return request.user.is_staff  # False for anonymous visitors
    except DatabaseError:
        return False  # the session cannot be read while the database is down: answer, without details
