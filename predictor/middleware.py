import logging

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.utils.translation import gettext

logger = logging.getLogger(__name__)

API_PREFIX = "/api"


class DatabaseUnavailableMiddleware:
    """A busy or unreachable database is answered with a 503, not a 500: a page, or the API's JSON under /api/.

    The page is rendered without the request: the usual context (the user, the session) would
    need the very database that just failed.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, OperationalError | InterfaceError):
            return None
        logger.error("Database unavailable during %s %s: %s", request.method, request.path, exception)
        return database_unavailable_response(request)


def database_unavailable_response(request) -> HttpResponse:
    """The 503 for a database that is busy or down, in the form the client asked in, with Retry-After."""
    seconds = settings.DATABASE_RETRY_AFTER_SECONDS
    path = request.path_info
    if path == API_PREFIX or path.startswith(API_PREFIX + "/"):
        # The API's error shape (predictor.schemas.Error), whichever layer met the failure.
        message = gettext("The database is busy or unavailable; try again in %(seconds)s seconds.")
        body = {"detail": message % {"seconds": seconds}, "errors": []}
        response = JsonResponse(body, status=503, content_type="application/json; charset=utf-8")
    else:
        response = HttpResponse(render_to_string("503_database.html"), status=503)
    response["Retry-After"] = str(seconds)
    return response


class SecurityHeadersMiddleware:
    """Content-Security-Policy and Permissions-Policy on every answer (settings CONTENT_SECURITY_POLICY, ...).

    The policy allows scripts and styles from this site's own files only: every script is a
    static file (no inline <script>, no nonces, so the pages rendered once per process stay
    shareable) and no element carries a style attribute. A view that sets its own policy keeps it.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if settings.CONTENT_SECURITY_POLICY:
            response.headers.setdefault("Content-Security-Policy", settings.CONTENT_SECURITY_POLICY)
        if settings.PERMISSIONS_POLICY:
            response.headers.setdefault("Permissions-Policy", settings.PERMISSIONS_POLICY)
        return response
