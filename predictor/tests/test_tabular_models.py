"""Any tabular classifier: a model trained from a CSV of one's own, served beside the animals one.

The data sets are scikit-learn's bundled iris and wine, exported to CSV here, and a fruit CSV with a
category column made here; the shipped animals model keeps answering as before beside them.
"""

import re

import pytest
from django.core.management import CommandError

from predictor.history import writer
from predictor.models import MLModel, ModelVersion, Prediction
from predictor.registry import training
from predictor.registry.training_data import TrainingDataError
from predictor.serving import model_service
from predictor.tests.tabular import IRIS_FLOWER, bundled_csv, fruit_csv, train, write_csv

pytestmark = pytest.mark.django_db


def test_a_model_trained_from_its_own_csv_reads_every_other_column_as_an_input(tmp_path, trained_version):
    out = train("--model", "iris", "--data", str(bundled_csv(tmp_path, "iris")), "--target", "kind")
    assert "Trained iris v1 (GaussianNB, active)." in out
    version = ModelVersion.objects.get(model__slug="iris")
    assert version.version == 1  # numbered per model: the animals model has its own v1
    schema = version.input_schema
    assert schema.names == tuple(IRIS_FLOWER)  # "sepal length (cm)" -> sepal_length_cm
    assert schema.columns[0] == "sepal length (cm)"
    assert schema.target == "kind"
    assert {item.kind for item in schema.inputs} == {"number"}
    assert version.class_counts == {"setosa": 50, "versicolor": 50, "virginica": 50}
    assert version.cv_accuracy > 0.9


def test_several_models_answer_side_by_side_each_with_its_own_inputs(three_models):
    assert model_service.predict(IRIS_FLOWER, model="iris").species == "setosa"
    assert model_service.predict({"height": 90, "weight": 50}).species == "Dog"  # the animals model, as before
    fruit = model_service.predict({"colour": "yellow", "weight_g": 120, "diameter_cm": 7}, model="fruit")
    assert fruit.species == "banana"
    wine = model_service.active_model("wine")
    assert len(wine.schema.inputs) == 13 and set(wine.classes) == {"class_0", "class_1", "class_2"}


def test_a_category_column_becomes_a_choice_of_the_values_seen(tmp_path, trained_version):
    train("--model", "fruit", "--data", str(fruit_csv(tmp_path)), "--target", "Fruit")
    colour = ModelVersion.objects.get(model__slug="fruit").input_schema.input("colour")
    assert colour.kind == "category"
    assert colour.categories == ("green", "red", "yellow")
    assert colour.column == "Colour"


def test_each_models_answers_are_stored_with_their_inputs(three_models):
    answer = model_service.predict({"colour": "red", "weight_g": 230, "diameter_cm": 11}, model="fruit")
    stored = Prediction.objects.get(pk=writer.record_prediction(result=answer).pk)
    assert stored.model.slug == "fruit"
    assert stored.inputs == {"colour": "red", "weight_g": 230.0, "diameter_cm": 11.0}
    assert stored.species == "melon"
    assert set(stored.probabilities) == {"apple", "banana", "melon"}
    assert stored.model_version.model.slug == "fruit"


def test_the_form_of_each_model_is_at_its_own_address(client, three_models):
    home = client.get("/").content.decode()
    assert 'href="/m/iris/"' in home and 'href="/m/fruit/"' in home  # the home page lists the others
    page = client.get("/m/fruit/").content.decode()
    assert re.findall(r'<(?:input|select) [^>]*name="(\w+)"', page)[1:] == [
        "submission_key",
        "colour",
        "weight_g",
        "diameter_cm",
    ]
    assert '<option value="yellow">yellow</option>' in page
    response = client.post("/m/fruit/", {"colour": "yellow", "weight_g": "120", "diameter_cm": "7"})
    assert response.status_code == 200
    assert '<span class="species">banana</span>' in response.content.decode()
    stored = Prediction.objects.get()
    assert (stored.model.slug, stored.inputs["colour"], stored.source) == ("fruit", "yellow", "form")
    permalink = re.search(r'data-permalink="([^"]+)"', response.content.decode()).group(1)
    assert '<span class="species">banana</span>' in client.get(permalink).content.decode()


def test_the_form_names_each_bad_input_and_stores_nothing(client, three_models):
    response = client.post("/m/fruit/", {"colour": "purple", "weight_g": "heavy", "diameter_cm": ""})
    assert response.status_code == 400
    page = response.content.decode()
    assert "Select a valid choice" in page or "must be one of" in page
    assert "Weight (g) must be a number" in page
    assert "Enter the Diameter (cm)" in page
    assert not Prediction.objects.exists()


def test_an_unknown_model_is_not_found(client, three_models):
    assert client.get("/m/no-such-model/").status_code == 404
    assert client.post("/m/no-such-model/", {"x": "1"}).status_code == 404


def test_the_animals_model_reads_exactly_as_before(client, three_models):
    response = client.post("/", {"height": "90", "weight": "50"})
    assert '<span class="species">Dog</span>' in response.content.decode()
    assert client.get("/m/animals/")["Location"] == "/"


def test_a_schema_file_gives_labels_units_bounds_and_words_in_each_language(tmp_path, trained_version, client):
    schema = write_csv(
        tmp_path / "fruit.toml",
        """
title = { en = "Which fruit?", zh-hans = "哪种水果？" }
[inputs.weight_g]
unit = "g"
min = 1
max = 5000
label = { en = "Weight", zh-hans = "重量" }
hint = { en = "Weigh it whole." }
[classes.banana]
en = "Banana"
zh-hans = "香蕉"
""",
    )
    train("--model", "fruit", "--data", str(fruit_csv(tmp_path)), "--target", "Fruit", "--schema", str(schema))
    page = client.get("/m/fruit/").content.decode()
    assert "Which fruit?" in page and "Weigh it whole." in page and 'max="5000"' in page
    chinese = client.get("/m/fruit/", headers={"accept-language": "zh-hans"}).content.decode()
    assert "哪种水果？" in chinese and "重量" in chinese
    response = client.post("/m/fruit/", {"colour": "yellow", "weight_g": "9000", "diameter_cm": "7"})
    assert "Weight must be at most 5000 g." in response.content.decode()
    assert not Prediction.objects.exists()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Colour,Size,Fruit\nred,,apple\ngreen,3,pear\n", "line 2, column Size: empty value"),
        (
            "Size,Fruit\n" + "".join(f"{n},apple\n" for n in range(1, 6)) + "big,pear\n4,pear\n",
            "line 7, column Size: 'big' is not a number",
        ),
        ("Size,Fruit\n1,apple\n2,apple\n", "only one class ('apple')"),
        ("Size,Fruit\n", "no data rows below the header"),
        ("Size (cm),size cm,Fruit\n1,2,apple\n", "columns 'Size (cm)' and 'size cm' would both be the input size_cm"),
        ("Size,Kind\n1,apple\n2,pear\n", "no column Fruit"),
        (
            "Code,Fruit\n" + "".join(f"c{n},{'apple' if n % 2 else 'pear'}\n" for n in range(60)),
            "column Code has more than 50 different values",
        ),
    ],
    ids=["empty cell", "word in numbers", "one class", "no rows", "clashing names", "no target", "too many values"],
)
def test_bad_training_data_is_refused_naming_the_file_line_and_column(tmp_path, trained_version, text, message):
    path = write_csv(tmp_path / "bad.csv", text)
    with pytest.raises(CommandError, match=re.escape(message)) as refused:
        train("--model", "fruit", "--data", str(path), "--target", "Fruit")
    assert str(path) in str(refused.value)
    assert not MLModel.objects.filter(slug="fruit").exists()  # nothing half-written
    assert ModelVersion.objects.count() == 1


def test_a_new_model_needs_its_target_and_a_name_fit_for_an_address(tmp_path, trained_version):
    path = fruit_csv(tmp_path)
    with pytest.raises(CommandError, match="fruit is a new model: say which column it learns to predict with --target"):
        train("--model", "fruit", "--data", str(path))
    with pytest.raises(CommandError, match="'Fruit Salad' is not a model name"):
        train("--model", "Fruit Salad", "--data", str(path), "--target", "Fruit")
    with pytest.raises(CommandError, match="Name the training CSV of fruit with --data"):
        train("--model", "fruit")
    assert list(MLModel.objects.values_list("slug", flat=True)) == ["animals"]


def test_retraining_a_model_keeps_its_target_and_numbers_its_versions(tmp_path, trained_version):
    path = fruit_csv(tmp_path)
    train("--model", "fruit", "--data", str(path), "--target", "Fruit")
    out = train("--model", "fruit", "--data", str(path))
    assert "Trained fruit v2" in out
    assert list(ModelVersion.objects.filter(model__slug="fruit").values_list("version", flat=True)) == [2, 1]
    assert ModelVersion.objects.get(model__slug="animals").version == 1


def test_an_unseen_category_is_refused_before_anything_is_stored(three_models):
    answer = model_service.predict({"colour": "red", "weight_g": 100, "diameter_cm": 6}, model="fruit")
    altered = type(answer)(**{**answer.__dict__, "inputs": {**answer.inputs, "colour": "blue"}})
    with pytest.raises(ValueError, match="Colour must be one of: green, red, yellow; 'blue' is not one of them."):
        writer.record_prediction(result=altered)
    assert not Prediction.objects.exists()


def test_training_data_errors_are_training_data_errors(tmp_path, trained_version):
    # The same refusal reaches the retrain page and jobs, not only the command.
    with pytest.raises(TrainingDataError, match="no column Fruit"):
        training.train(model="fruit", data_path=write_csv(tmp_path / "x.csv", "A,B\n1,2\n"), target="Fruit")


def test_the_animals_pages_and_api_v1_leave_other_models_rows_out(admin_client, three_models, make_version):
    for answer in (
        model_service.predict({"height": 90, "weight": 50}),
        model_service.predict(IRIS_FLOWER, model="iris"),
        model_service.predict({"colour": "red", "weight_g": 100, "diameter_cm": 6}, model="fruit"),
    ):
        writer.record_prediction(result=answer)
    page = admin_client.get("/predictions/", {"version": "1"})
    assert page.status_code == 200  # iris and fruit have a v1 too: the filter means the animals' v1
    assert "setosa" not in page.content.decode() and "melon" not in page.content.decode()
    export = admin_client.get("/predictions.csv")
    lines = b"".join(export.streaming_content).decode().splitlines()
    assert lines[0].startswith("id,created_at,height_cm,weight_kg,") and len(lines) == 2
    listed = admin_client.get("/api/v1/predictions").json()
    assert listed["count"] == 1 and listed["items"][0]["height_cm"] == 90
    assert [item["version"] for item in admin_client.get("/api/v1/models").json()] == [1]
    assert admin_client.get("/models/1/").status_code == 200


def test_api_v2_lists_the_served_models_with_their_inputs(client, three_models):
    listed = {model["slug"]: model for model in client.get("/api/v2/models").json()}
    assert set(listed) == {"animals", "fruit", "iris", "wine"}
    fruit = listed["fruit"]
    assert (fruit["target"], fruit["version"], fruit["form_url"]) == ("Fruit", 1, "/m/fruit/")
    assert fruit["classes"] == ["apple", "banana", "melon"]
    colour = fruit["inputs"][0]
    assert (colour["name"], colour["kind"], colour["categories"]) == ("colour", "category", ["green", "red", "yellow"])
    assert [item["name"] for item in listed["animals"]["inputs"]] == ["height", "weight"]


def test_api_v2_predicts_with_the_model_named_and_stores_the_answer(client, three_models):
    response = client.post("/api/v2/models/iris/predict", IRIS_FLOWER, content_type="application/json")
    assert response.status_code == 200, response.content
    answer = response.json()
    assert (answer["model"], answer["prediction"], answer["version"]) == ("iris", "setosa", 1)
    assert set(answer["probabilities"]) == {"setosa", "versicolor", "virginica"}
    stored = Prediction.objects.get(pk=answer["id"])
    assert (stored.model.slug, stored.source, stored.inputs) == ("iris", "api", IRIS_FLOWER)


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"colour": "red", "weight_g": 100}, "diameter_cm", "Enter the Diameter (cm)."),
        ({"colour": "red", "weight_g": 100, "diameter_cm": 6, "taste": "sweet"}, "taste", "There is no input 'taste'"),
        ({"colour": "red", "weight_g": "heavy", "diameter_cm": 6}, "weight_g", "Weight (g) must be a number"),
        ({"colour": "blue", "weight_g": 100, "diameter_cm": 6}, "colour", "'blue' is not one of them"),
        ({"colour": "red", "weight_g": 1e400, "diameter_cm": 6}, "weight_g", "must be a finite number"),
    ],
    ids=["missing", "unknown", "word for a number", "unseen category", "not finite"],
)
def test_api_v2_names_each_bad_input_and_stores_nothing(client, three_models, body, field, message):
    response = client.post("/api/v2/models/fruit/predict", body, content_type="application/json")
    assert response.status_code == 422
    errors = {error["field"]: error["message"] for error in response.json()["errors"]}
    assert message in errors[field]
    assert not Prediction.objects.exists()


def test_api_v2_an_unknown_model_is_404_naming_the_known_ones(client, three_models):
    response = client.post("/api/v2/models/plums/predict", {"x": 1}, content_type="application/json")
    assert response.status_code == 404
    assert response.json()["detail"] == "There is no model plums. Known models: animals, fruit, iris, wine."


def test_api_v2_serves_the_animals_model_as_v1_does(client, three_models):
    v2 = client.post("/api/v2/models/animals/predict", {"height": 90, "weight": 50}, content_type="application/json")
    v1 = client.post("/api/v1/predict", {"height_cm": 90, "weight_kg": 50}, content_type="application/json")
    assert v2.json()["prediction"] == v1.json()["species"] == "Dog"
    assert v2.json()["probabilities"] == pytest.approx(v1.json()["probabilities"])


def test_the_admin_lists_each_models_rows_with_their_inputs_and_filters_by_model(admin_client, three_models):
    writer.record_prediction(result=model_service.predict({"height": 90, "weight": 50}))
    fruit = model_service.predict({"colour": "yellow", "weight_g": 120, "diameter_cm": 7}, model="fruit")
    writer.record_prediction(result=fruit)
    page = admin_client.get("/admin/predictor/prediction/").content.decode()
    inputs = re.findall(r'<td class="field-inputs_display">([^<]*)</td>', page)
    assert sorted(inputs) == ["Colour yellow, Weight (g) 120, Diameter (cm) 7", "height 90 cm, weight 50 kg"]
    fruit_model = MLModel.objects.get(slug="fruit")
    only_fruit = admin_client.get("/admin/predictor/prediction/", {"model__id__exact": fruit_model.pk})
    assert only_fruit.status_code == 200
    species = re.findall(r'<td class="field-species">([^<]*)</td>', only_fruit.content.decode())
    assert species == ["banana"]
