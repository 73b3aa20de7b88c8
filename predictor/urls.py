from django.urls import path

from . import views

app_name = "predictor"

urlpatterns = [
    path("", views.predict, name="predict"),
    path("result/<str:token>/", views.result, name="result"),
    path("predictions/", views.prediction_history, name="history"),
    path("predictions.csv", views.prediction_history_csv, name="history_csv"),
    path("predictions/upload/", views.batch_upload, name="batch_upload"),
    path("predictions/upload/<uuid:batch_id>/", views.batch_result, name="batch_result"),
    path("predictions/upload/<uuid:batch_id>/results.csv", views.batch_download, name="batch_download"),
]
