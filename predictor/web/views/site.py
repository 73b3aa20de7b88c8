"""Pages of the site itself: the language links, the health check and the metrics scrape."""

import hmac

from django.conf import settings
from django.db import DatabaseError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import check_for_language, gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from prometheus_client import generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from predictor.ops import limits, metrics, permissions
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


# Who may scrape besides local callers and the token's holders: staff who may see the model versions.
SCRAPE_PERMISSION = permissions.VIEW_MODELS


def _bearer_token(request: HttpRequest) -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _token_accepted(request: HttpRequest, token: str) -> bool:
    """Whether ``token`` is DJANGO_METRICS_TOKEN; wrong ones count like wrong API keys (Throttled past the limit)."""
    if not token:
        return False
    limits.refuse_when_spent(limits.API_KEY_FAILURES, request)
    expected = settings.METRICS_TOKEN
    if expected and hmac.compare_digest(token.encode(), expected.encode()):
        return True
    limits.count_request(limits.API_KEY_FAILURES, request)
    return False


def _plain(text: str, *, status: int) -> HttpResponse:
    return HttpResponse(text, status=status, content_type="text/plain; charset=utf-8")


@require_safe
def metrics_view(request: HttpRequest) -> HttpResponse:
    """GET /metrics, for local callers, the holder of DJANGO_METRICS_TOKEN and permitted staff.

    Anyone else is told there is no such page (404), unless they show they know it exists: a
    wrong token or a staff account without the permission is refused with 403.
    """
    token = _bearer_token(request)
    try:
        allowed = is_local(request) or _token_accepted(request, token)
    except limits.Throttled as refusal:
        response = _plain(refusal.message, status=429)
        response["Retry-After"] = str(refusal.retry_after)
        return response
    if allowed or permissions.allows(request.user, SCRAPE_PERMISSION):
        response = HttpResponse(generate_latest(metrics.scrape_registry()), content_type=CONTENT_TYPE_LATEST)
        response["Cache-Control"] = "no-store"
        return response
    if token:
        return _plain(gettext("Wrong metrics token."), status=403)
    if request.user.is_authenticated:
        return _plain(permissions.refusal(request.user, SCRAPE_PERMISSION), status=403)
    raise Http404
