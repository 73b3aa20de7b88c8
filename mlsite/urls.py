from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.utils.functional import lazy
from django.utils.translation import gettext_lazy as _
from django.views.generic import RedirectView

from predictor.api import endpoints
from predictor.ops.middleware import bad_request, page_not_found, permission_denied, server_error
from predictor.web import accounts
from predictor.web.views import site

admin.site.site_header = _("Animal predictor administration")
admin.site.site_title = _("Animal predictor admin")
admin.site.index_title = _("Predictions, models and API keys")

urlpatterns = [
    path("admin/login/", accounts.admin_login),  # admin's own log-in view, rate-limited per address
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),  # set_language: the language switcher
    path("accounts/", include(accounts.urlpatterns)),
    path("api", endpoints.api_index),
    path("api/", endpoints.urls()),
    path("metrics", site.metrics_view, name="metrics"),  # Prometheus; local, token or staff only
    # Browsers ask for /favicon.ico on pages without an icon link (the API docs, files); a temporary
    # redirect, because the hashed static name changes with the icon. Resolved per request, after
    # collectstatic's manifest exists.
    path("favicon.ico", RedirectView.as_view(url=lazy(static, str)("predictor/favicon.ico"))),
    path("", include("predictor.web.urls")),
]

# Pages that render without a user or session, and JSON under /api/ (predictor/middleware.py).
handler400 = bad_request
handler403 = permission_denied
handler404 = page_not_found
handler500 = server_error
