"""Two bare views beside the whole site: the request, the CSRF check, scoring and (or not) the row.

No form class, no template: what is left of a prediction when Django's forms and templates are
taken away. The site itself stays at "/" so the benchmark can fetch a CSRF token from its form.
"""

from django.http import HttpRequest, HttpResponse
from django.urls import include, path

from predictor import history, model_service


def _score(request: HttpRequest) -> tuple[float, float, model_service.PredictionResult]:
    height, weight = float(request.POST["height"]), float(request.POST["weight"])
    return height, weight, model_service.predict({"height_cm": height, "weight_kg": weight})


def _answer(result: model_service.PredictionResult) -> HttpResponse:
    return HttpResponse(f"<!doctype html><title>Prediction</title><p>{result.species} ({result.probability:.2f})</p>")


def score_only(request: HttpRequest) -> HttpResponse:
    return _answer(_score(request)[2])


def score_and_store(request: HttpRequest) -> HttpResponse:
    height, weight, result = _score(request)
    history.record_prediction(
        result=result,
        measurements={"height_cm": height, "weight_kg": weight},
        submission_key=request.POST["submission_key"],
    )
    return _answer(result)


urlpatterns = [
    path("floor/score/", score_only),
    path("floor/store/", score_and_store),
    path("", include("mlsite.urls")),
]
