from django.urls import path

from predictor.web.views import batches, form, history, model_versions, site

app_name = "predictor"

urlpatterns = [
    path("", form.predict, name="predict"),
    path("result/<str:token>/", form.result, name="result"),
    path("m/<slug:slug>/", form.model_form, name="model_form"),
    path("healthz", site.health_check, name="health"),
    path("language/<str:language>/", site.choose_language, name="language"),
    path("predictions/", history.prediction_history, name="history"),
    path("predictions.csv", history.prediction_history_csv, name="history_csv"),
    path("predictions/upload/", batches.batch_upload, name="batch_upload"),
    path("predictions/upload/<uuid:batch_id>/", batches.batch_result, name="batch_result"),
    path("predictions/upload/<uuid:batch_id>/results.csv", batches.batch_download, name="batch_download"),
    path("predictions/<int:prediction_id>/label/", history.label_prediction, name="label"),
    path("jobs/<uuid:job_id>/", batches.job_detail, name="job"),
    path("jobs/<uuid:job_id>/status.json", batches.job_status, name="job_status"),
    path("models/", model_versions.model_list, name="model_list"),
    path("models/retrain/", model_versions.retrain, name="retrain"),
    path("models/<int:version>/", model_versions.model_detail, name="model_detail"),
    path("models/<int:version>/comparison/", model_versions.candidate_comparison, name="candidate_comparison"),
    path("models/<int:version>/candidate/", model_versions.change_candidate, name="change_candidate"),
    path("models/<int:version>/picture.png", model_versions.model_picture, name="model_picture"),
    path(
        "models/<int:version>/picture-dark.png",
        model_versions.model_picture,
        {"scheme": "dark"},
        name="model_picture_dark",
    ),
    # The same pages for every model by its slug (the ones above are the default model's, as before models had names).
    path("models/<slug:slug>/<int:version>/", model_versions.model_detail, name="model_detail"),
    path(
        "models/<slug:slug>/<int:version>/comparison/",
        model_versions.candidate_comparison,
        name="candidate_comparison",
    ),
    path("models/<slug:slug>/<int:version>/candidate/", model_versions.change_candidate, name="change_candidate"),
    path("models/<slug:slug>/<int:version>/picture.png", model_versions.model_picture, name="model_picture"),
    path(
        "models/<slug:slug>/<int:version>/picture-dark.png",
        model_versions.model_picture,
        {"scheme": "dark"},
        name="model_picture_dark",
    ),
]
