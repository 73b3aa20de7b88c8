from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.utils.functional import lazy
from django.views.generic import RedirectView

from predictor.api import api

admin.site.site_header = "Animal predictor administration"
admin.site.site_title = "Animal predictor admin"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("api/", api.urls),
    # Browsers ask for /favicon.ico on pages without an icon link (the API docs, files); a temporary
    # redirect, because the hashed static name changes with the icon. Resolved per request, after
    # collectstatic's manifest exists.
    path("favicon.ico", RedirectView.as_view(url=lazy(static, str)("predictor/favicon.ico"))),
    path("", include("predictor.urls")),
]
