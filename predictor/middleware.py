import logging

from django.db import InterfaceError, OperationalError
from django.http import HttpResponse
from django.template.loader import render_to_string

logger = logging.getLogger(__name__)


class DatabaseUnavailableMiddleware:
    """A busy or unreachable database is answered with a 503 page, not a 500.

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
        response = HttpResponse(render_to_string("503_database.html"), status=503)
        response["Retry-After"] = "5"
        return response
