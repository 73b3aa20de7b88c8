from django.urls import path

from . import views

app_name = "predictor"

urlpatterns = [
    path("", views.predict, name="predict"),
    path("result/<str:token>/", views.result, name="result"),
    path("predictions/", views.prediction_history, name="history"),
    path("predictions.csv", views.prediction_history_csv, name="history_csv"),
]
