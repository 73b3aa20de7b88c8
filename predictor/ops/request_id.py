"""One id per request, in every log line written while it runs and in its answer (header X-Request-ID).

A user quotes the id from an error page or an API error, an operator finds the request's log
lines by it, on whichever host served it. The id is generated here, unless a proxy we trust
already gave the request one: like the client's address (predictor/ops/client.py), a request's own
X-Request-ID header is believed only when the operator has named the proxy's address header
(DJANGO_CLIENT_IP_HEADER), since otherwise any client could choose it.

A context variable holds it (each gthread thread runs one request at a time, in its own
context), set by the middleware and cleared when the answer has been sent (request_finished), not
when the middleware returns: Django logs a 4xx or 5xx answer ("Not Found: ...") after the last
middleware, and a streamed download logs while it is sent.
"""

import logging
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.conf import settings
from django.core.signals import request_finished
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse

HEADER = "X-Request-ID"
# What a trusted proxy's id may look like: enough for UUIDs and the usual tracing ids, nothing
# that could forge a log line or a header (no spaces, quotes or line ends).
_ACCEPTED_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_NO_REQUEST = "-"

_current: ContextVar[str] = ContextVar("request_id", default="")


def current() -> str:
    """The id of the request being answered, or "" outside one."""
    return _current.get()


@contextmanager
def carried(request_id: str) -> Iterator[None]:
    """Log lines written inside carry ``request_id``: for work done elsewhere for a request (a background job)."""
    token = _current.set(request_id)
    try:
        yield
    finally:
        _current.reset(token)


def request_id_for(request: HttpRequest) -> str:
    """The id to give ``request``: its proxy's, when that proxy is trusted and the id well formed; else a new one."""
    if settings.CLIENT_IP_HEADER:
        forwarded = request.headers.get(HEADER, "")
        if _ACCEPTED_ID.fullmatch(forwarded):
            return forwarded
    return uuid.uuid4().hex


class RequestIdMiddleware:
    """Gives each request its id, for the length of the request, and echoes it on the answer.

    First in MIDDLEWARE, so every other middleware's log lines and answers carry it too.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.request_id = request_id_for(request)
        _current.set(request.request_id)
        response: HttpResponse = self.get_response(request)
        response[HEADER] = request.request_id
        return response


@receiver(request_finished)
def _forget_request_id(**kwargs) -> None:
    _current.set("")


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` to every record ("-" outside a request), for the log formats in settings.LOGGING."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _current.get() or _NO_REQUEST
        return True
