"""Migration 0017 on a database holding rows of the old shape (height_cm and weight_kg columns)."""

import datetime as dt

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("predictor", "0016_model_version_chance_accuracy")]
AFTER = [("predictor", "0017_models_bring_their_inputs")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()  # the graph as the database now records it
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.fixture
def old_shape(transactional_db):
    """The schema as it was before models had names; put back to the newest state afterwards."""
    apps = migrate(BEFORE)
    yield apps
    migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())


def test_old_rows_move_into_inputs_under_the_animals_model(old_shape):
    OldVersion = old_shape.get_model("predictor", "ModelVersion")
    OldPrediction = old_shape.get_model("predictor", "Prediction")
    version = OldVersion.objects.create(
        version=1,
        algorithm="GaussianNB",
        training_data_name="animals.csv",
        training_data_sha256="0" * 64,
        training_rows=10,
        cv_accuracy=0.9,
        cv_folds=5,
        sklearn_version="1.7.0",
        training_stats={"height_cm": {"mean": 80.0, "min": 70.0, "max": 90.0}},
        artifact_name="model-v1.joblib",
        artifact_sha256="1" * 64,
        is_active=True,
    )
    moment = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    for height, weight, species in [(80.5, 40.25, "Dog"), (30.0, 4.5, "Cat")]:
        OldPrediction.objects.create(
            created_at=moment,
            height_cm=height,
            weight_kg=weight,
            species=species,
            probability=0.9,
            probabilities={"Cat": 0.1, "Dog": 0.9},
            model_version=version,
        )

    apps = migrate(AFTER)

    Prediction = apps.get_model("predictor", "Prediction")
    ModelVersion = apps.get_model("predictor", "ModelVersion")
    stored = list(Prediction.objects.order_by("id").values_list("inputs", "species", "model__slug"))
    assert stored == [
        ({"height": 80.5, "weight": 40.25}, "Dog", "animals"),
        ({"height": 30.0, "weight": 4.5}, "Cat", "animals"),
    ]
    migrated = ModelVersion.objects.get()
    assert migrated.model.slug == "animals"
    assert migrated.training_stats == {"height": {"mean": 80.0, "min": 70.0, "max": 90.0}}
    assert [item["name"] for item in migrated.schema["inputs"]] == ["height", "weight"]
    assert [item["v1_field"] for item in migrated.schema["inputs"]] == ["height_cm", "weight_kg"]
    columns = {
        column.name
        for column in connection.introspection.get_table_description(connection.cursor(), Prediction._meta.db_table)
    }
    assert {"inputs", "model_id"} <= columns and not {"height_cm", "weight_kg"} & columns
