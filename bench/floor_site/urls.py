"""Bare views beside the whole site, served only by benchmarks.

``floor/score/`` and ``floor/store/``: the request, the CSRF check, scoring and (or not) the row,
with no form class and no template: what is left of a prediction when Django's forms and
templates are taken away. ``floor/prg/``: the site's form answered the textbook way, post then
redirect to the result's permanent link, to weigh against the site's one-request answer
(predictor.web.answers). The site itself stays at "/" so benchmarks can fetch a CSRF token from its form.
"""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import include, path

from predictor.history import writer
from predictor.serving import model_service, results
from predictor.web import answers
from predictor.web.forms import PredictionForm


def _score(request: HttpRequest) -> tuple[float, float, results.PredictionResult]:
    height, weight = float(request.POST["height"]), float(request.POST["weight"])
    return height, weight, model_service.predict({"height": height, "weight": weight})


def _answer(result: results.PredictionResult) -> HttpResponse:
    return HttpResponse(f"<!doctype html><title>Prediction</title><p>{result.species} ({result.probability:.2f})</p>")


def score_only(request: HttpRequest) -> HttpResponse:
    return _answer(_score(request)[2])


def score_and_store(request: HttpRequest) -> HttpResponse:
    height, weight, result = _score(request)
    writer.record_prediction(
        result=result,
        submission_key=request.POST["submission_key"],
    )
    return _answer(result)


def post_redirect_get(request: HttpRequest) -> HttpResponse:
    form = PredictionForm(request.POST)
    if not form.is_valid():
        return HttpResponse(status=400)
    prediction = answers.store_form_answer(
        result=model_service.predict(form.measurements()),
        submission_key=form.cleaned_data["submission_key"],
    )
    return redirect(answers.permalink(prediction))


urlpatterns = [
    path("floor/prg/", post_redirect_get),
    path("floor/score/", score_only),
    path("floor/store/", score_and_store),
    path("", include("mlsite.urls")),
]
