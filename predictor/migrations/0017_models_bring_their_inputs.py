"""Models bring their inputs: a model is a named thing with versions, and predictions keep their inputs as JSON.

The animals model (the only one there was) is created and given every version; each version gets
the animals schema as it was trained (frozen here, as a migration must be); every prediction's
height_cm and weight_kg move into ``inputs`` as {"height": …, "weight": …}, in batches of
BATCH_ROWS ids, one UPDATE each (docs/performance.md: the time at a million rows); then the two
columns and their CHECK constraints go: bounds are checked against each version's schema.
"""

import django.db.models.deletion
import django.utils.timezone

import predictor.models.registry
from django.db import migrations, models

BATCH_ROWS = 100_000
ANIMALS_SCHEMA = {
    "format": 1,
    "inputs": [
        {
            "name": "height",
            "kind": "number",
            "column": "Height",
            "unit": "cm",
            "min": 1.0,
            "max": 300.0,
            "example": 40,
            "label": {"en": "Height", "zh-hans": "身高"},
            "in_sentence": {"en": "height", "zh-hans": "身高"},
            "hint": {"en": "Measure height at the shoulder, in centimetres.", "zh-hans": "身高量到肩部，单位为厘米。"},
            "v1_field": "height_cm",
        },
        {
            "name": "weight",
            "kind": "number",
            "column": "Weight",
            "unit": "kg",
            "min": 0.01,
            "max": 500.0,
            "example": 12.5,
            "label": {"en": "Weight", "zh-hans": "体重"},
            "in_sentence": {"en": "weight", "zh-hans": "体重"},
            "hint": {
                "en": "Weight in kilograms; decimals are fine (4.5).",
                "zh-hans": "体重以千克为单位；可以有小数（如 4.5）。",
            },
            "v1_field": "weight_kg",
        },
    ],
    "target": "Species",
    "title": {},
    "classes": {"Cat": {"en": "Cat", "zh-hans": "猫"}, "Dog": {"en": "Dog", "zh-hans": "狗"}},
    "target_label": {"en": "Species", "zh-hans": "物种"},
}
MOVE_SQL = {
    "sqlite": "json_object('height', height_cm, 'weight', weight_kg)",
    "postgresql": "jsonb_build_object('height', height_cm, 'weight', weight_kg)",
}


def bring_inputs(apps, schema_editor):
    MLModel = apps.get_model("predictor", "MLModel")
    ModelVersion = apps.get_model("predictor", "ModelVersion")
    Prediction = apps.get_model("predictor", "Prediction")
    animals, _ = MLModel.objects.get_or_create(slug="animals", defaults={"name": "Animals"})
    renamed = {"height_cm": "height", "weight_kg": "weight"}
    for version in ModelVersion.objects.all():
        version.model = animals
        version.schema = ANIMALS_SCHEMA
        version.training_stats = {renamed.get(key, key): stats for key, stats in version.training_stats.items()}
        version.save(update_fields=["model", "schema", "training_stats"])
    connection = schema_editor.connection
    table = connection.ops.quote_name(Prediction._meta.db_table)
    last = Prediction.objects.aggregate(last=models.Max("id"))["last"] or 0
    build = MOVE_SQL.get(connection.vendor)
    for start in range(0, last, BATCH_ROWS):
        end = start + BATCH_ROWS
        if build is None:  # another database: row by row, through the ORM
            for prediction in Prediction.objects.filter(id__gt=start, id__lte=end).only("height_cm", "weight_kg"):
                prediction.inputs = {"height": prediction.height_cm, "weight": prediction.weight_kg}
                prediction.model = animals
                prediction.save(update_fields=["inputs", "model"])
            continue
        with connection.cursor() as cursor:
            # The table name is the model's own, quoted by the backend; the values are parameters.
            sql = "UPDATE {} SET inputs = {}, model_id = %s WHERE id > %s AND id <= %s".format(table, build)  # nosec B608  # noqa: UP032
            cursor.execute(sql, [animals.pk, start, end])


class Migration(migrations.Migration):
    dependencies = [
        ("predictor", "0016_model_version_chance_accuracy"),
    ]

    operations = [
        migrations.CreateModel(
            name="MLModel",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("slug", models.SlugField(unique=True, verbose_name="slug")),
                ("name", models.CharField(max_length=100, verbose_name="name")),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now, verbose_name="created at")),
            ],
            options={"verbose_name": "model", "verbose_name_plural": "models", "ordering": ["slug"]},
        ),
        migrations.AddField(
            model_name="modelversion",
            name="model",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="versions",
                to="predictor.mlmodel",
                verbose_name="model",
            ),
        ),
        migrations.AddField(
            model_name="modelversion",
            name="schema",
            field=models.JSONField(default=predictor.models.registry.default_schema, verbose_name="inputs"),
        ),
        migrations.AddField(
            model_name="prediction",
            name="model",
            field=models.ForeignKey(
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="predictions",
                to="predictor.mlmodel",
                verbose_name="model",
            ),
        ),
        migrations.AddField(
            model_name="prediction",
            name="inputs",
            field=models.JSONField(null=True, verbose_name="inputs"),
        ),
        # Forwards only, but for an empty history (which the test of this migration goes back
        # through): another model's inputs have no height_cm column to go back to.
        migrations.RunPython(bring_inputs, reverse_code=migrations.RunPython.noop),
        migrations.RemoveConstraint(model_name="modelversion", name="one_active_model_version"),
        migrations.RemoveConstraint(model_name="prediction", name="prediction_height_cm_in_bounds"),
        migrations.RemoveConstraint(model_name="prediction", name="prediction_weight_kg_in_bounds"),
        migrations.RemoveField(model_name="prediction", name="height_cm"),
        migrations.RemoveField(model_name="prediction", name="weight_kg"),
        migrations.AlterField(
            model_name="modelversion",
            name="version",
            field=models.PositiveIntegerField(verbose_name="version"),
        ),
        migrations.AlterField(
            model_name="modelversion",
            name="model",
            field=models.ForeignKey(
                default=predictor.models.registry.default_model_id,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="versions",
                to="predictor.mlmodel",
                verbose_name="model",
            ),
        ),
        migrations.AlterField(
            model_name="prediction",
            name="model",
            field=models.ForeignKey(
                db_index=False,
                default=predictor.models.registry.default_model_id,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="predictions",
                to="predictor.mlmodel",
                verbose_name="model",
            ),
        ),
        migrations.AlterField(
            model_name="prediction",
            name="inputs",
            field=models.JSONField(verbose_name="inputs"),
        ),
        migrations.AddIndex(
            model_name="prediction",
            index=models.Index(fields=["model", "created_at", "id"], name="prediction_model_time_idx"),
        ),
        migrations.AddIndex(
            model_name="prediction",
            index=models.Index(
                condition=models.Q(("actual_species__isnull", False)),
                fields=["model", "created_at", "id"],
                name="prediction_model_labelled_idx",
            ),
        ),
        migrations.AddConstraint(
            model_name="modelversion",
            constraint=models.UniqueConstraint(fields=("model", "version"), name="model_version_number"),
        ),
        migrations.AddConstraint(
            model_name="modelversion",
            constraint=models.UniqueConstraint(
                condition=models.Q(("is_active", True)), fields=("model",), name="one_active_version_per_model"
            ),
        ),
    ]
