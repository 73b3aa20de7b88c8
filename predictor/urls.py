from django.urls import path

from . import views

app_name = "predictor"

urlpatterns = [
    path("", views.predict, name="predict"),
    path("result/<str:token>/", views.result, name="result"),
    path("predictions/", views.prediction_history, name="history"),
    path("predictions/<int:prediction_id>/label/", views.label_prediction, name="label"),
    path("models/", views.model_list, name="model_list"),
    path("models/<int:version>/", views.model_detail, name="model_detail"),
    path("models/<int:version>/picture.png", views.model_picture, name="model_picture"),
]
