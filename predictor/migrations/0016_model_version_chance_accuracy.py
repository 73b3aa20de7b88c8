"""The gate's floor, kept on the version: the majority-class guess cross-validated on its rows and folds."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('predictor', '0015_sorts_without_measurement_indexes'),
    ]

    operations = [
        migrations.AddField(
            model_name='modelversion',
            name='chance_cv_accuracy',
            field=models.FloatField(blank=True, null=True, verbose_name='majority-class guess on the same rows'),
        ),
    ]
