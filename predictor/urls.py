from django.urls import path

from . import views

app_name = "predictor"

urlpatterns = [
    path("", views.predict, name="predict"),
    path("result/<str:token>/", views.result, name="result"),
    path("healthz", views.health_check, name="health"),
    path("language/<str:language>/", views.choose_language, name="language"),
    path("predictions/", views.prediction_history, name="history"),
    path("predictions.csv", views.prediction_history_csv, name="history_csv"),
    path("predictions/upload/", views.batch_upload, name="batch_upload"),
    path("predictions/upload/<uuid:batch_id>/", views.batch_result, name="batch_result"),
    path("predictions/upload/<uuid:batch_id>/results.csv", views.batch_download, name="batch_download"),
    path("predictions/<int:prediction_id>/label/", views.label_prediction, name="label"),
    path("jobs/<uuid:job_id>/", views.job_detail, name="job"),
    path("jobs/<uuid:job_id>/status.json", views.job_status, name="job_status"),
    path("models/", views.model_list, name="model_list"),
    path("models/retrain/", views.retrain, name="retrain"),
    path("models/<int:version>/", views.model_detail, name="model_detail"),
    path("models/<int:version>/comparison/", views.candidate_comparison, name="candidate_comparison"),
    path("models/<int:version>/candidate/", views.change_candidate, name="change_candidate"),
    path("models/<int:version>/picture.png", views.model_picture, name="model_picture"),
    path("models/<int:version>/picture-dark.png", views.model_picture, {"scheme": "dark"}, name="model_picture_dark"),
]
