"""The groups a deployer hands out: viewer, labeller, operator (see predictor.permissions.GROUPS).

Frozen here as they were when written; a test checks they still match predictor.permissions.
Permissions are created after migrations run, so this creates the ones it needs first.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

VIEWER = ["view_prediction", "view_modelversion"]
LABELLER = [*VIEWER, "change_prediction"]
OPERATOR = [
    *LABELLER,
    "add_prediction",
    "change_modelversion",
    "add_modelversion",
    "view_apikey",
    "add_apikey",
    "change_apikey",
    "view_auditevent",
]
GROUPS = {"viewer": VIEWER, "labeller": LABELLER, "operator": OPERATOR}


def create_groups(apps, schema_editor):
    app_config = apps.get_app_config("predictor")
    app_config.models_module = True  # create_permissions skips apps it thinks have no models
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in GROUPS.items():
        group, _created = Group.objects.get_or_create(name=name)
        group.permissions.add(*Permission.objects.filter(content_type__app_label="predictor", codename__in=codenames))


def remove_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=GROUPS).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("predictor", "0006_audit_events_and_key_expiry"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_groups, remove_groups)]
