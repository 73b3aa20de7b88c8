"""The models pages, candidates and commands per model: each model with its own versions, pages and trial."""

import time

import pandas as pd
import pytest
from django.core.management import CommandError, call_command

from predictor.history import writer
from predictor.models import Candidate, ModelVersion, Prediction
from predictor.serving import candidates, model_service
from predictor.tests.tabular import IRIS_FLOWER, bundled_csv, train

pytestmark = pytest.mark.django_db


def test_the_models_page_groups_the_versions_by_model(admin_client, three_models):
    page = admin_client.get("/models/").content.decode()
    sections = {slug: page.index(f'id="model-{slug}"') for slug in ["animals", "fruit", "iris", "wine"]}
    assert sections["animals"] < min(sections["fruit"], sections["iris"], sections["wine"])  # the site's own first
    assert 'href="/models/iris/1/"' in page and 'href="/models/wine/1/"' in page
    assert f'href="/models/{three_models.version}/"' in page  # the animals model's addresses as before
    assert 'href="/m/iris/"' in page and 'href="/predictions/?model=iris"' in page


def test_a_models_version_page_is_at_its_slug_and_shows_that_version(admin_client, three_models):
    page = admin_client.get("/models/iris/1/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Model v1" in html and "iris" in html.lower()
    assert "GaussianNB" in html and "150 rows" in html  # iris's training, not the animals' ten rows
    assert admin_client.get("/models/iris/1/picture.png").status_code == 200  # four numbers: a picture is drawn
    assert admin_client.get("/models/iris/7/").status_code == 404
    assert admin_client.get("/models/nosuch/1/").status_code == 404


def test_each_model_has_its_own_candidate(three_models, make_version, tmp_path):
    second_animals = make_version(stored=True)
    train("--model", "iris", "--data", str(bundled_csv(tmp_path, "iris")), "--no-activate")
    iris = ModelVersion.objects.get(model__slug="iris", version=2)
    candidates.start_canary(second_animals.version, percent=100)
    candidates.start_shadow(2, model=iris.model)  # does not replace the animals model's canary

    assert Candidate.objects.count() == 2
    assert candidates.current().version == second_animals
    assert candidates.current(iris.model).version == iris
    model_service.clear_cache()
    answer = model_service.predict(IRIS_FLOWER, model="iris")
    stored = writer.record_prediction(result=answer)
    assert stored.model_version.version == 1 and stored.shadow_version_id == iris.pk
    assert model_service.predict({"height": 90, "weight": 50}).model.record == second_animals  # the canary answers

    candidates.stop(model=iris.model)
    assert candidates.current().version == second_animals  # stopping iris's leaves the animals' running


def test_a_candidate_whose_inputs_differ_is_refused_naming_them(three_models, tmp_path):
    frame = pd.read_csv(bundled_csv(tmp_path, "iris")).drop(columns="petal width (cm)")
    narrower = tmp_path / "narrower.csv"
    frame.to_csv(narrower, index=False)
    train("--model", "iris", "--data", str(narrower), "--no-activate")
    iris = ModelVersion.objects.get(model__slug="iris", version=2).model

    with pytest.raises(candidates.CandidateError, match="petal_width_cm") as refused:
        candidates.start_shadow(2, model=iris)
    assert "inputs differ" in str(refused.value)
    assert not Candidate.objects.exists()


def test_the_comparison_page_and_its_buttons_work_for_any_model(operator_client, three_models, tmp_path):
    train("--model", "iris", "--data", str(bundled_csv(tmp_path, "iris")), "--no-activate")
    page = operator_client.get("/models/iris/2/comparison/")
    assert page.status_code == 200
    response = operator_client.post("/models/iris/2/candidate/", {"action": "shadow"})
    assert response.status_code == 302 and response["Location"] == "/models/iris/2/comparison/"
    assert Candidate.objects.get().version.model.slug == "iris"
    assert "Running as a shadow" in operator_client.get("/models/iris/2/comparison/").content.decode()


def test_the_commands_take_the_model_and_name_the_known_ones_when_it_is_unknown(three_models, tmp_path, capsys):
    train("--model", "iris", "--data", str(bundled_csv(tmp_path, "iris")), "--no-activate")
    call_command("candidate", "shadow", "2", "--model", "iris")
    assert candidates.current(ModelVersion.objects.get(model__slug="iris", version=2).model) is not None
    call_command("activate_model", "2", "--model", "iris")
    assert ModelVersion.objects.get(model__slug="iris", is_active=True).version == 2
    assert ModelVersion.objects.get(model__slug="animals", is_active=True) == three_models  # untouched

    for command in [("candidate", "shadow", "1"), ("activate_model", "1")]:
        with pytest.raises(CommandError) as unknown:
            call_command(*command, "--model", "tulips")
        assert str(unknown.value) == "There is no model tulips. Known models: animals, fruit, iris, wine."
    assert Prediction.objects.count() == 0


def test_the_admin_speaks_of_the_listed_models_classes(admin_client, three_models):
    iris = ModelVersion.objects.get(model__slug="iris")
    writer.record_prediction(result=model_service.predict(IRIS_FLOWER, model="iris"))
    writer.record_prediction(result=model_service.predict({"height": 90, "weight": 50}))

    listed = admin_client.get(f"/admin/predictor/prediction/?model__id__exact={iris.model_id}").content.decode()
    assert "Predicted kind" in listed and "Actual kind" in listed  # iris's target is its CSV's "kind"
    assert "Height (cm)" not in listed and "sepal length (cm) 5.1" in listed.lower()
    assert "actual kind: setosa" in listed and "actual species: Cat" in listed  # each class in its model's words
    everything = admin_client.get("/admin/predictor/prediction/").content.decode()
    assert "Predicted class" in everything  # rows of several models: the word every model shares
    animals = admin_client.get(f"/admin/predictor/prediction/?model__id__exact={three_models.model_id}")
    assert "Predicted species" in animals.content.decode() and "Height (cm)" in animals.content.decode()


def test_a_model_trained_while_the_site_runs_is_listed_on_the_home_page_within_the_check_interval(
    client, trained_version, settings, tmp_path
):
    settings.ML_MODEL_CHECK_SECONDS = 0.3
    assert 'href="/m/iris/"' not in client.get("/").content.decode()
    train("--model", "iris", "--data", str(bundled_csv(tmp_path, "iris")), "--target", "kind")
    deadline = time.monotonic() + 0.3 + 2  # the interval, with a margin for a slow machine
    while 'href="/m/iris/"' not in client.get("/").content.decode():
        assert time.monotonic() < deadline, "iris never reached the home page"
        time.sleep(0.05)


def test_the_site_is_named_for_the_animals_until_other_models_serve_and_as_the_operator_says(
    client, trained_version, settings, tmp_path
):
    assert "<title>Animal predictor</title>" in client.get("/").content.decode()
    train("--model", "iris", "--data", str(bundled_csv(tmp_path, "iris")), "--target", "kind")
    model_service.clear_cache()
    home = client.get("/").content.decode()
    assert "Animal predictor" not in home and "<title>Predictor</title>" in home
    assert "Animal" not in client.get("/m/iris/").content.decode()
    settings.SITE_NAME = "Flower lab"
    assert "<title>Flower lab</title>" in client.get("/").content.decode()
