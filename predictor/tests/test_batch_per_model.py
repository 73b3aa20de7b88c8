"""Batch uploads for any model: ``?model=`` and the form's model, that model's columns, checks and classes."""

import csv
import io
import uuid

import pytest
from django.core.files.base import File
from django.core.files.storage import storages
from django.core.files.uploadedfile import SimpleUploadedFile

from predictor import jobs
from predictor.history import batch
from predictor.models import Job, ModelVersion, Prediction
from predictor.tests.tabular import fruit_csv, train, write_csv

pytestmark = pytest.mark.django_db

UPLOAD_URL = "/predictions/upload/"
IRIS_HEADER = "sepal length (cm),sepal width (cm),petal length (cm),petal width (cm)"
# Rows 1, 51 and 101 of scikit-learn's bundled iris data: one flower of each kind.
IRIS_ROWS = ["5.1,3.5,1.4,0.2", "7.0,3.2,4.7,1.4", "6.3,3.3,6.0,2.5"]
FRUIT_HEADER = "Colour,Weight (g),Diameter (cm)"


def upload(client, text: str, model: str | None):
    """Post a file for ``model``; an accepted one is a job (run at once in tests), which leads to its batch."""
    data = {"file": SimpleUploadedFile("rows.csv", text.encode(), content_type="text/csv")}
    if model is not None:
        data["model"] = model
    response = client.post(UPLOAD_URL, data)
    if response.status_code == 302 and response["Location"].startswith("/jobs/"):
        return client.get(response["Location"])
    return response


def refusal(response) -> str:
    """Why a file was refused: by the upload form (the header, the first cells) or by its job."""
    if response.status_code == 400:
        errors = response.context["form"].errors
        return (errors.get("file") or errors["model"])[0]
    assert response.status_code == 200, response
    assert response.context["job"].status == "failed"
    return response.context["job"].error


def download(client, response) -> list[dict[str, str]]:
    csv_response = client.get(response["Location"] + "results.csv")
    assert csv_response.status_code == 200
    return list(csv.DictReader(io.StringIO(b"".join(csv_response.streaming_content).decode())))


def test_the_page_names_the_columns_of_the_model_asked_for(admin_client, three_models):
    page = admin_client.get(UPLOAD_URL, {"model": "fruit"}).content.decode()
    assert "<code>Colour</code> (one of green, red, yellow)" in page
    assert "<code>Weight (g)</code>, <code>Diameter (cm)</code>." in page
    assert "<code>Height</code>" not in page
    assert "1,000,000" in page
    assert '<option value="fruit" selected>fruit</option>' in page
    iris = admin_client.get(UPLOAD_URL, {"model": "iris"}).content.decode()
    assert "<code>sepal length (cm)</code>, <code>sepal width (cm)</code>" in iris
    animals = admin_client.get(UPLOAD_URL).content.decode()
    assert "<code>Height</code> (cm)" in animals
    assert '<option value="animals" selected>animals</option>' in animals
    assert '<option value="wine">wine</option>' in animals  # every model with an active version is offered


def test_an_iris_csv_is_predicted_and_stored_for_iris(admin_client, three_models):
    response = upload(
        admin_client,
        "\n".join(["id," + IRIS_HEADER, *(f"f{n},{row}" for n, row in enumerate(IRIS_ROWS))]) + "\n",
        "iris",
    )
    assert response.status_code == 302, refusal(response)
    stored = list(Prediction.objects.order_by("id"))
    assert [row.species for row in stored] == ["setosa", "versicolor", "virginica"]
    assert {row.model.slug for row in stored} == {"iris"}
    assert {row.model_version.model.slug for row in stored} == {"iris"}
    assert stored[0].inputs == {
        "sepal_length_cm": 5.1,
        "sepal_width_cm": 3.5,
        "petal_length_cm": 1.4,
        "petal_width_cm": 0.2,
    }
    assert Job.objects.get().arguments["model"] == "iris"  # a worker elsewhere answers with the same model

    page = admin_client.get(response["Location"]).content.decode()
    assert "3 rows predicted with iris v1" in page
    assert "<dt>setosa</dt>" in page and "<dt>Cat</dt>" not in page

    rows = download(admin_client, response)
    assert list(rows[0]) == [
        "id",
        *IRIS_HEADER.split(","),
        "predicted_species",
        "probability_setosa",
        "probability_versicolor",
        "probability_virginica",
        "model_version",
    ]
    assert [row["predicted_species"] for row in rows] == ["setosa", "versicolor", "virginica"]
    assert [row["id"] for row in rows] == ["f0", "f1", "f2"]


def test_a_fruit_csv_with_a_category_column_is_predicted_and_stored_for_fruit(admin_client, three_models):
    response = upload(admin_client, f"{FRUIT_HEADER}\nyellow,120,7\n red ,230,11\n", "fruit")
    assert response.status_code == 302, refusal(response)
    stored = list(Prediction.objects.order_by("id"))
    assert [row.species for row in stored] == ["banana", "melon"]
    assert {row.model.slug for row in stored} == {"fruit"}
    assert stored[1].inputs == {"colour": "red", "weight_g": 230.0, "diameter_cm": 11.0}

    page = admin_client.get(response["Location"]).content.decode()
    assert "2 rows predicted with fruit v1" in page
    assert "<td>yellow</td>" in page  # the category as written, in the preview

    rows = download(admin_client, response)
    assert list(rows[0]) == [
        *FRUIT_HEADER.split(","),
        "predicted_species",
        "probability_apple",
        "probability_banana",
        "probability_melon",
        "model_version",
    ]
    assert [row["predicted_species"] for row in rows] == ["banana", "melon"]
    assert [row["Colour"] for row in rows] == ["yellow", " red "]  # the file's cells as written


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            f"{FRUIT_HEADER}\nred,100,6\nblue,100,6\n",
            "Line 3, column Colour: Colour must be one of: green, red, yellow; 'blue' is not one of them.",
        ),
        (f"{FRUIT_HEADER}\nred,heavy,6\n", "Line 2, column Weight (g): 'heavy' is not a number."),
        (
            "Colour,Weight (g)\nred,100\n",
            "Line 1: missing column Diameter (cm) (the header must name Colour, Weight (g), Diameter (cm);",
        ),
        # The inputs' names are not the header: a file is laid out as the training CSV was.
        ("colour,weight_g,diameter_cm\nred,100,6\n", "Line 1: missing column Colour, Weight (g), Diameter (cm)"),
        ("Height,Weight\n77,36\n", "Line 1: missing column Colour"),  # an animals file sent to fruit
    ],
    ids=["unseen category", "word in a number column", "missing column", "input names", "another model's file"],
)
def test_a_bad_fruit_file_is_refused_naming_its_line_and_column(admin_client, three_models, text, message):
    response = upload(admin_client, text, "fruit")
    assert message in refusal(response)
    assert not Prediction.objects.exists()
    assert not Job.objects.exists()  # refused on the upload page, before any job


def test_a_bad_cell_the_page_had_no_time_to_check_fails_the_job_naming_it(admin_client, three_models, monkeypatch):
    monkeypatch.setattr(batch, "PRE_QUEUE_CHECK_SECONDS", 0)
    monkeypatch.setattr(batch, "PRE_QUEUE_CHECK_CHUNK_ROWS", 1)  # line 2 checked, then the time is up
    response = upload(admin_client, f"{FRUIT_HEADER}\nred,100,6\ngreen,100,6\npurple,100,6\n", "fruit")
    assert refusal(response) == (
        "Line 4, column Colour: Colour must be one of: green, red, yellow; 'purple' is not one of them."
    )
    assert Job.objects.get().status == Job.Status.FAILED
    assert not Prediction.with_unpublished.exists()  # the job's clean-up removed what it had stored


def test_an_unknown_model_is_refused_by_name_and_nothing_is_stored(admin_client, three_models):
    response = upload(admin_client, f"{FRUIT_HEADER}\nred,100,6\n", "pears")
    assert response.status_code == 400
    assert refusal(response) == "There is no model pears. Known models: animals, fruit, iris, wine."
    assert not Prediction.objects.exists() and not Job.objects.exists()
    page = admin_client.get(UPLOAD_URL, {"model": "pears"})
    assert page.status_code == 404
    assert "There is no model pears. Known models: animals, fruit, iris, wine." in page.content.decode()
    for odd in ("x" * 10_000, "a\x00b", "../iris", "IRIS"):
        assert admin_client.get(UPLOAD_URL, {"model": odd}).status_code == 404
        assert upload(admin_client, f"{FRUIT_HEADER}\nred,100,6\n", odd).status_code == 400
    assert not Prediction.objects.exists()


def test_an_upload_without_a_model_is_for_the_animals_one(admin_client, three_models):
    response = upload(admin_client, "Height,Weight\n77,36\n", None)
    assert response.status_code == 302
    assert Prediction.objects.get().model.slug == "animals"
    assert Job.objects.get().arguments["model"] == "animals"


def queued_batch_job(content: str, **model) -> Job:
    """A batch job recorded and its file kept, as the upload page leaves it, not yet run by a worker."""
    batch_id = uuid.uuid4()
    name = storages[batch.UPLOADS_STORAGE].save(f"{batch_id}.csv", File(io.BytesIO(content.encode())))
    arguments = {"batch_id": str(batch_id), "upload_name": name, "rows": content.count("\n") - 1, **model}
    return Job.objects.create(kind=Job.Kind.BATCH, arguments=arguments)


def test_a_worker_answers_with_the_model_the_job_names(three_models):
    job = queued_batch_job(f"{FRUIT_HEADER}\nyellow,120,7\n", model="fruit")
    assert jobs.run(str(job.pk)) == "succeeded"
    assert Prediction.objects.get().model.slug == "fruit"


def test_a_job_queued_before_uploads_named_a_model_answers_with_the_animals_one(three_models):
    job = queued_batch_job("Height,Weight\n77,36\n")  # no "model": queued by the code before this
    assert jobs.run(str(job.pk)) == "succeeded"
    assert Prediction.objects.get().model.slug == "animals"


def test_the_result_page_names_the_classes_as_the_models_schema_file_does(admin_client, trained_version, tmp_path):
    words = write_csv(tmp_path / "fruit.toml", '[classes.banana]\nen = "Banana"\nzh-hans = "香蕉"\n')
    train("--model", "fruit", "--data", str(fruit_csv(tmp_path)), "--target", "Fruit", "--schema", str(words))
    response = upload(admin_client, f"{FRUIT_HEADER}\nyellow,120,7\n", "fruit")
    assert "<dt>Banana</dt>" in admin_client.get(response["Location"]).content.decode()
    chinese = admin_client.get(response["Location"], headers={"accept-language": "zh-hans"}).content.decode()
    assert "<dt>香蕉</dt>" in chinese and "<td>香蕉</td>" in chinese
    assert download(admin_client, response)[0]["predicted_species"] == "banana"  # the class as stored


def test_the_animals_result_page_shows_species_as_stored_in_every_language(admin_client, three_models):
    response = upload(admin_client, "Height,Weight\n77,36\n", "animals")
    chinese = admin_client.get(response["Location"], headers={"accept-language": "zh-hans"}).content.decode()
    assert "<dt>Cat</dt>" in chinese  # as every animals page shows it


def test_a_model_with_no_active_version_says_what_it_will_take_and_refuses_uploads(admin_client, three_models):
    ModelVersion.objects.filter(model__slug="iris").update(is_active=False)
    page = admin_client.get(UPLOAD_URL, {"model": "iris"})
    html = page.content.decode()
    assert page.status_code == 200
    assert "<code>sepal length (cm)</code>" in html  # its newest version's columns
    assert "The model is not ready yet" in html and "train_model --model iris" in html
    assert '<option value="iris" selected>iris</option>' in html  # the form posts the model asked for
    response = upload(admin_client, "\n".join([IRIS_HEADER, *IRIS_ROWS]) + "\n", "iris")
    assert response.status_code == 503
    assert not Prediction.objects.exists() and not Job.objects.exists()
