"""The results page and its CSV of one model at a time (``?model=<slug>``), each with its own inputs and classes."""

import csv
import io
import re

import pytest
from django.urls import reverse

from predictor.history import writer
from predictor.models import Prediction
from predictor.serving import model_service
from predictor.tests.tabular import IRIS_FLOWER, bundled_csv, fruit_csv, train, write_csv

pytestmark = pytest.mark.django_db

HISTORY = reverse("predictor:history")
EXPORT = reverse("predictor:history_csv")
IRIS_INPUTS = ["sepal_length_cm", "sepal_width_cm", "petal_length_cm", "petal_width_cm"]
VIRGINICA = {"sepal_length_cm": 7.7, "sepal_width_cm": 3.0, "petal_length_cm": 6.1, "petal_width_cm": 2.3}


def record(inputs: dict, model: str | None = None) -> Prediction:
    answer = model_service.predict(inputs, model=model) if model else model_service.predict(inputs)
    return writer.record_prediction(result=answer)


@pytest.fixture
def rows(three_models):
    """Two iris rows (a setosa, a virginica), one animals row, one fruit row."""
    return {
        "setosa": record(IRIS_FLOWER, "iris"),
        "virginica": record(VIRGINICA, "iris"),
        "dog": record({"height": 90, "weight": 50}),
        "fruit": record({"colour": "red", "weight_g": 100, "diameter_cm": 6}, "fruit"),
    }


def read_csv(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def results_table(response) -> str:
    return re.search(r'<table id="results">.*?</table>', response.content.decode(), re.S).group(0)


def headings(response) -> list[str]:
    return [str(heading["label"]) for heading in response.context["headings"]]


def test_the_iris_page_lists_only_iris_rows_under_iris_input_columns(admin_client, rows):
    response = admin_client.get(HISTORY, {"model": "iris"})
    assert response.status_code == 200
    assert {p.pk for p in response.context["page"].rows} == {rows["setosa"].pk, rows["virginica"].pk}
    assert headings(response) == [
        "Time",
        "sepal length (cm)",
        "sepal width (cm)",
        "petal length (cm)",
        "petal width (cm)",
        "Kind",  # the target column's own name ("kind"): the CSV had no label for it
        "Probability",
        "Model",
        "Source",
        "Actual kind",
    ]
    table = results_table(response)
    assert '<td class="num" data-label="petal width (cm)">2.3</td>' in table
    assert "Dog" not in table and "apple" not in table
    assert '<a href="/models/iris/1/">v1</a>' in table  # the version's own page, by the model's slug


def test_the_iris_csv_has_iris_input_columns_and_only_iris_rows(admin_client, rows):
    response = admin_client.get(EXPORT, {"model": "iris"})
    assert response.status_code == 200
    assert 'filename="predictions-iris-' in response["Content-Disposition"]
    header, *lines = read_csv(response)
    assert header == ["id", "created_at", *IRIS_INPUTS, "predicted_species", *header[7:]]
    assert {int(line[0]) for line in lines} == {rows["setosa"].pk, rows["virginica"].pk}
    by_id = {int(line[0]): dict(zip(header, line, strict=True)) for line in lines}
    assert by_id[rows["virginica"].pk]["petal_length_cm"] == "6.1"


def test_the_iris_page_filters_by_class_and_by_iris_versions(admin_client, rows, tmp_path):
    only = admin_client.get(HISTORY, {"model": "iris", "species": "virginica"}).context["page"].rows
    assert [p.pk for p in only] == [rows["virginica"].pk]
    # A second iris version; v1 means iris's v1, not the animals' or the fruit's.
    train("--model", "iris", "--data", str(bundled_csv(tmp_path, "iris")), "--target", "kind")
    model_service.clear_cache()  # the service asks which version is active at most once a second
    newer = record(IRIS_FLOWER, "iris")
    assert newer.model_version.version == 2
    first = admin_client.get(HISTORY, {"model": "iris", "version": "1"})
    assert {p.pk for p in first.context["page"].rows} == {rows["setosa"].pk, rows["virginica"].pk}
    second = admin_client.get(EXPORT, {"model": "iris", "version": "2"})
    assert [int(line[0]) for line in read_csv(second)[1:]] == [newer.pk]
    page = first.content.decode()
    assert '<option value="2">v2</option>' in page
    assert admin_client.get(HISTORY, {"model": "iris", "version": "3"}).status_code == 400


def test_a_class_another_model_predicts_is_refused_naming_the_target(admin_client, rows):
    response = admin_client.get(HISTORY, {"model": "iris", "species": "Dog"})
    assert response.status_code == 400
    assert "No model predicts the kind “Dog”." in response.content.decode()
    assert admin_client.get(EXPORT, {"model": "iris", "species": "Dog"}).status_code == 400


def test_an_unknown_model_is_a_404_naming_the_known_ones(admin_client, rows):
    message = "There is no model plums. Known models: animals, fruit, iris, wine."
    page = admin_client.get(HISTORY, {"model": "plums"})
    assert page.status_code == 404
    assert message in page.content.decode()
    assert f'href="{HISTORY}?model=iris"' in page.content.decode()
    export = admin_client.get(EXPORT, {"model": "plums"})
    assert export.status_code == 404
    assert message in export.content.decode()


def test_links_on_a_model_page_keep_the_model(admin_client, rows):
    html = admin_client.get(HISTORY, {"model": "iris", "species": "setosa"}).content.decode()
    assert f'href="{EXPORT}?model=iris&amp;species=setosa"' in html
    assert 'href="?model=iris&amp;species=setosa&amp;sort=-probability"' in html
    assert '<input type="hidden" name="model" value="iris">' in html  # applying filters stays on iris
    assert f'<a href="{HISTORY}?model=iris">Clear filters</a>' in html
    assert 'name="next" value="/predictions/?model=iris&amp;species=setosa"' in html  # labelling comes back here


def test_pages_of_a_model_keep_the_model(admin_client, three_models, settings, monkeypatch):
    from predictor.web.views import history

    monkeypatch.setattr(history, "HISTORY_PAGE_SIZE", 1)
    older, newer = record(IRIS_FLOWER, "iris"), record(VIRGINICA, "iris")
    first = admin_client.get(HISTORY, {"model": "iris"})
    assert first.context["page"].rows == [newer]
    link = re.search(r'href="(\?[^"]+)" rel="next"', first.content.decode()).group(1).replace("&amp;", "&")
    assert link.startswith("?model=iris&after=")
    assert admin_client.get(HISTORY + link).context["page"].rows == [older]


def test_the_switcher_lists_every_model_and_marks_the_one_shown(admin_client, rows):
    html = admin_client.get(HISTORY, {"model": "fruit"}).content.decode()
    switcher = re.search(r'<nav class="model-switcher".*?</nav>', html, re.S).group(0)
    assert re.findall(r">(\w+)</a>", switcher) == ["animals", "fruit", "iris", "wine"]
    assert '<a href="/predictions/?model=fruit" aria-current="page">fruit</a>' in switcher


def test_iris_offers_no_sort_by_an_input_and_refuses_one(admin_client, rows):
    sorts = {
        str(heading["label"]): heading["sort"]
        for heading in admin_client.get(HISTORY, {"model": "iris"}).context["headings"]
    }
    assert sorts["sepal length (cm)"] is None and sorts["Probability"] == "-probability"
    response = admin_client.get(HISTORY, {"model": "iris", "sort": "height"})
    assert response.status_code == 400
    assert "Cannot sort by “height”." in response.content.decode()
    by_probability = admin_client.get(HISTORY, {"model": "iris", "sort": "probability"})
    assert by_probability.status_code == 200


def test_the_scatter_plots_the_first_two_number_inputs(admin_client, rows):
    fruit = admin_client.get(HISTORY, {"model": "fruit"})
    charts = fruit.context["chart_data"]
    assert charts["scatter"] == [[100.0, 6.0, "apple"]]  # weight up, diameter across; the colour is a category
    assert charts["axes"]["y"] == {"title": "weight (g)", "unit": ""} or charts["axes"]["y"]["title"].startswith(
        "weight"
    )
    html = fruit.content.decode()
    assert '<td data-label="Colour">red</td>' in html  # a category is text, not a number column
    assert 'data-chart="scatter"' in html


def test_a_model_with_one_number_input_has_no_scatter(admin_client, tmp_path, trained_version):
    lines = ["Colour,Weight,Fruit"] + [
        f"{colour},{weight},{'banana' if colour == 'yellow' else 'apple'}"
        for colour in ("red", "green", "yellow")
        for weight in range(100, 200, 10)
    ]
    train(
        "--model",
        "plain",
        "--data",
        str(write_csv(tmp_path / "plain.csv", "\n".join(lines) + "\n")),
        "--target",
        "Fruit",
    )
    record({"colour": "yellow", "weight": 120}, "plain")
    response = admin_client.get(HISTORY, {"model": "plain"})
    assert response.status_code == 200
    assert response.context["chart_data"]["scatter"] is None
    html = response.content.decode()
    assert 'data-chart="scatter"' not in html and 'data-chart="daily"' in html
    assert "banana" in html


def test_the_animals_page_and_csv_read_as_before_beside_other_models(admin_client, rows):
    for params in ({}, {"model": "animals"}):
        response = admin_client.get(HISTORY, params)
        assert [p.pk for p in response.context["page"].rows] == [rows["dog"].pk]
        assert headings(response)[:4] == ["Time", "Height (cm)", "Weight (kg)", "Species"]
        assert headings(response)[-1] == "Actual species"
        assert "sort=-height" in response.content.decode()
        assert "setosa" not in results_table(response)
        header, *lines = read_csv(admin_client.get(EXPORT, params))
        assert header[:5] == ["id", "created_at", "height_cm", "weight_kg", "predicted_species"]
        assert [int(line[0]) for line in lines] == [rows["dog"].pk]
    assert 'filename="predictions-2' in admin_client.get(EXPORT)["Content-Disposition"]


def test_labelling_an_iris_row_names_its_class_and_target(admin_client, rows):
    prediction = rows["setosa"]
    back = f"{HISTORY}?model=iris"
    response = admin_client.post(
        reverse("predictor:label", args=[prediction.pk]), {"species": "virginica", "next": back}, follow=True
    )
    assert f"Recorded virginica as the actual kind of prediction {prediction.pk}." in response.content.decode()
    prediction.refresh_from_db()
    assert prediction.actual_species == "virginica"
    labelled = admin_client.get(HISTORY, {"model": "iris", "labelled": "yes"}).context["page"].rows
    assert [p.pk for p in labelled] == [prediction.pk]


def test_classes_read_in_the_schema_files_words_and_the_animals_species_as_stored(
    admin_client, tmp_path, trained_version
):
    words = write_csv(tmp_path / "fruit.toml", '[classes.banana]\nen = "Banana"\nzh-hans = "香蕉"\n')
    train("--model", "fruit", "--data", str(fruit_csv(tmp_path)), "--target", "Fruit", "--schema", str(words))
    record({"colour": "yellow", "weight_g": 120, "diameter_cm": 7}, "fruit")
    record({"height": 90, "weight": 50})
    english = admin_client.get(HISTORY, {"model": "fruit"})
    assert '<td class="cell-species">Banana</td>' in results_table(english)
    assert '<option value="banana">Banana</option>' in english.content.decode()
    chinese = admin_client.get(HISTORY, {"model": "fruit"}, headers={"accept-language": "zh-hans"})
    assert '<td class="cell-species">香蕉</td>' in results_table(chinese)
    assert chinese.context["chart_data"]["names"]["banana"] == "香蕉"
    animals = admin_client.get(HISTORY, headers={"accept-language": "zh-hans"})
    assert '<td class="cell-species">Dog ' in results_table(animals)  # as every animals page shows it
    export = read_csv(admin_client.get(EXPORT, {"model": "fruit"}))
    assert export[1][export[0].index("predicted_species")] == "banana"  # the class as stored
