"""One candidate per model instead of one for the whole site: a shadow of iris no longer replaces a canary of animals.

The row keeps its model beside its version (so that a unique constraint can say "one per model"),
and its id becomes an ordinary one instead of the constant 1.
"""

from django.db import migrations, models
from django.db.models import OuterRef, Subquery


def set_model(apps, schema_editor):
    Candidate = apps.get_model("predictor", "Candidate")
    ModelVersion = apps.get_model("predictor", "ModelVersion")
    model_of_version = ModelVersion.objects.filter(pk=OuterRef("version_id")).values("model_id")[:1]
    Candidate.objects.update(model_id=Subquery(model_of_version))


class Migration(migrations.Migration):
    dependencies = [("predictor", "0017_models_bring_their_inputs")]

    operations = [
        migrations.RemoveConstraint(model_name="candidate", name="one_candidate"),
        migrations.AddField(
            model_name="candidate",
            name="model",
            # One-to-one from the start (at most one row exists before this migration): changing a
            # foreign key into one makes PostgreSQL build the same index twice.
            field=models.OneToOneField(
                null=True,
                on_delete=models.deletion.CASCADE,
                related_name="candidate",
                to="predictor.mlmodel",
                verbose_name="model",
            ),
        ),
        migrations.RunPython(set_model, migrations.RunPython.noop, elidable=True),
        migrations.AlterField(
            model_name="candidate",
            name="model",
            field=models.OneToOneField(
                on_delete=models.deletion.CASCADE,
                related_name="candidate",
                to="predictor.mlmodel",
                verbose_name="model",
            ),
        ),
        migrations.AlterField(
            model_name="candidate",
            name="id",
            field=models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID"),
        ),
    ]
