from django.contrib import admin
from django.urls import include, path

from predictor import api

admin.site.site_header = "Animal predictor administration"
admin.site.site_title = "Animal predictor admin"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("api", api.api_index),
    path("api/", api.urls()),
    path("", include("predictor.urls")),
]
