import logging

from django.conf import settings
from django.contrib import messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import ValidationError
from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, HttpResponseRedirect, HttpResponseServerError, JsonResponse
from django.shortcuts import render
from django.template.defaultfilters import filesizeformat
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.translation import gettext

from predictor.ops import request_id

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


def is_api_request(request) -> bool:
    path = request.path_info
    return path == API_PREFIX or path.startswith(API_PREFIX + "/")


def api_error_response(status: int, detail: str) -> JsonResponse:
    """The API's error shape (predictor.schemas.Error), for answers given outside the API's own views."""
    body = {"detail": detail, "errors": [], "request_id": request_id.current()}
    return JsonResponse(body, status=status, content_type="application/json; charset=utf-8")


def database_unavailable_response(request) -> HttpResponse:
    """The 503 for a database that is busy or down, in the form the client asked in, with Retry-After."""
    seconds = settings.DATABASE_RETRY_AFTER_SECONDS
    if is_api_request(request):
        message = gettext("The database is busy or unavailable; try again in %(seconds)s seconds.")
        response = api_error_response(503, message % {"seconds": seconds})
    else:
        response = HttpResponse(render_to_string("503_database.html"), status=503)
    response["Retry-After"] = str(seconds)
    return response


# The error views (handler400 ... in mlsite.urls). They may run before the middleware that sets the
# user, the session or the language has (a Host header the site does not serve is refused while
# the request is read), so the pages' header is an anonymous visitor's when there is no user yet,
# and under /api/ the answer is the API's JSON.


def bad_request(request, exception=None) -> HttpResponse:
    if is_api_request(request):
        return api_error_response(400, gettext("The request could not be understood."))
    return render(request, "400.html", status=400)


def permission_denied(request, exception=None) -> HttpResponse:
    said = str(exception) if exception is not None and exception.args else ""
    if is_api_request(request):
        return api_error_response(403, said or gettext("You do not have permission to see this page."))
    return render(request, "403.html", {"exception": said}, status=403)


def page_not_found(request, exception=None) -> HttpResponse:
    if is_api_request(request):
        return api_error_response(404, gettext("Not found."))
    return render(request, "404.html", status=404)


def server_error(request) -> HttpResponse:
    """The 500: no request context at all (the failure may be in the user, the session or the database)."""
    if is_api_request(request):
        return api_error_response(500, gettext("Something went wrong on the server; the error has been logged."))
    return HttpResponseServerError(render_to_string("500.html"))


class AdminSelectionMiddleware:
    """An admin action posted with a selection that is not ids of its table (``_selected_action=abc``) changes nothing.

    Django's admin filters by the posted values as they are, and one its primary key cannot read
    was a 500, in this app's admin pages and in those of auth and django-axes alike; so every
    changelist's selection is read here, by the model's own primary key, before the view runs.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        model_admin = getattr(view_func, "model_admin", None)  # set by ModelAdmin.get_urls on its views
        if model_admin is None or request.method != "POST" or ACTION_CHECKBOX_NAME not in request.POST:
            return None
        primary_key = model_admin.model._meta.pk
        try:
            for value in request.POST.getlist(ACTION_CHECKBOX_NAME):
                primary_key.to_python(value)
        except ValidationError:
            message = gettext("The selection held something that is not an item of this list; nothing was changed.")
            messages.warning(request, message)
            return HttpResponseRedirect(request.get_full_path())
        return None


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


class RequestBodyLimitMiddleware:
    """A request body over its path's cap is refused with 413, saying the cap, before anything reads it.

    Django's DATA_UPLOAD_MAX_MEMORY_SIZE leaves file parts out, so a multipart POST to any form
    was spooled to a temporary file (200 MB to the prediction form, answered 200). Every path gets
    DATA_UPLOAD_MAX_MEMORY_SIZE; the batch upload gets BATCH_UPLOAD_MAX_BYTES plus room for the
    form's other parts. A body without Content-Length (chunked) is refused with 411: Django would
    read none of it, and the client could not tell its data had been ignored. Before the CSRF
    check, which reads the body.
    """

    MULTIPART_ALLOWANCE = 64 * 1024  # boundaries, part headers and the CSRF token around the file

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        chunked = "HTTP_TRANSFER_ENCODING" in request.META and "CONTENT_LENGTH" not in request.META
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0  # Django reads no body without a valid length
        upload_cap = settings.BATCH_UPLOAD_MAX_BYTES + self.MULTIPART_ALLOWANCE
        every_cap = min(settings.DATA_UPLOAD_MAX_MEMORY_SIZE, upload_cap)
        if not chunked and length <= every_cap:
            return self.get_response(request)  # within every path's cap: no path to look up
        allowed, stated = self.limits(request)
        limit = f"{stated:,}"
        if chunked:
            message = gettext(
                "Send the request body with a Content-Length header; at most %(limit)s bytes are accepted."
            )
            return self.refuse(request, message % {"limit": limit}, status=411)
        if length > allowed:
            # The API's own message for a body over DATA_UPLOAD_MAX_MEMORY_SIZE (predictor.api.endpoints).
            message = gettext("The request body is too large: at most %(limit)s bytes are accepted.")
            return self.refuse(request, message % {"limit": limit}, status=413)
        return self.get_response(request)

    def limits(self, request) -> tuple[int, int]:
        """The bytes a body may have on this path, and the cap to tell the client (the file's, for an upload)."""
        if request.path == reverse("predictor:batch_upload"):
            return settings.BATCH_UPLOAD_MAX_BYTES + self.MULTIPART_ALLOWANCE, settings.BATCH_UPLOAD_MAX_BYTES
        return settings.DATA_UPLOAD_MAX_MEMORY_SIZE, settings.DATA_UPLOAD_MAX_MEMORY_SIZE

    def refuse(self, request, message: str, *, status: int) -> HttpResponse:
        logger.warning("Refused the body of %s %s: %s", request.method, request.path, message)
        if is_api_request(request):
            return api_error_response(status, message)
        _allowed, stated = self.limits(request)
        if status == 413:  # people read sizes, not byte counts: "at most 2.6 MB"
            message = gettext("The request is too large: at most %(size)s can be sent here.") % {
                "size": filesizeformat(stated)
            }
        # Back to the upload form from a refused upload, else to the prediction form.
        back = request.path if request.path == reverse("predictor:batch_upload") else reverse("predictor:predict")
        context = {"status": status, "message": message, "back": back}
        return render(request, "413.html", context, status=status)
