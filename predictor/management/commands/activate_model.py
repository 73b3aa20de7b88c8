from django.core.management.base import CommandError
from django.utils.translation import gettext

from predictor.management.language import TranslatedCommand
from predictor.models import MLModel, ModelVersion, UnknownModel
from predictor.registry import versions
from predictor.schema.features import ANIMALS_SLUG


class Command(TranslatedCommand):
    help = "Make an existing model version the active one; running servers switch to it within a second."

    def add_arguments(self, parser):
        parser.add_argument("version", type=int, help="Version number, as listed in admin (e.g. 3 for v3).")
        parser.add_argument(
            "--model", default=ANIMALS_SLUG, help="The model whose version it is (default: %(default)s)."
        )

    def handle(self, *args, version: int, model: str, **options):
        try:
            ml_model = MLModel.objects.named(model)
        except UnknownModel as unknown:
            raise CommandError(str(unknown)) from None
        try:
            activated = versions.activate_version(version, model=ml_model)
        except ModelVersion.DoesNotExist:
            known = gettext(", ").join(
                f"v{number}" for number in ModelVersion.objects.filter(model=ml_model).values_list("version", flat=True)
            )
            message = gettext("There is no model v%(version)s. Known versions: %(known)s.")
            raise CommandError(message % {"version": version, "known": known or gettext("none")}) from None
        message = gettext("Model v%(version)s is now active.")
        self.stdout.write(self.style.SUCCESS(message % {"version": activated.version}))
