from django.contrib import admin
from django.urls import include, path
from django.utils.translation import gettext_lazy as _

from predictor import api

admin.site.site_header = _("Animal predictor administration")
admin.site.site_title = _("Animal predictor admin")
admin.site.index_title = _("Predictions, models and API keys")

urlpatterns = [
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),  # set_language: the language switcher
    path("accounts/", include("django.contrib.auth.urls")),
    path("api", api.api_index),
    path("api/", api.urls()),
    path("", include("predictor.urls")),
]
