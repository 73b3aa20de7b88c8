from django.core.management.base import CommandError
from django.utils.translation import gettext

from predictor.management.language import TranslatedCommand
from predictor.models import ModelVersion
from predictor.registry import versions


class Command(TranslatedCommand):
    help = "Make an existing model version the active one; running servers switch to it within a second."

    def add_arguments(self, parser):
        parser.add_argument("version", type=int, help="Version number, as listed in admin (e.g. 3 for v3).")

    def handle(self, *args, version: int, **options):
        try:
            activated = versions.activate_version(version)
        except ModelVersion.DoesNotExist:
            known = gettext(", ").join(
                f"v{number}" for number in ModelVersion.objects.values_list("version", flat=True)
            )
            message = gettext("There is no model v%(version)s. Known versions: %(known)s.")
            raise CommandError(message % {"version": version, "known": known or gettext("none")}) from None
        message = gettext("Model v%(version)s is now active.")
        self.stdout.write(self.style.SUCCESS(message % {"version": activated.version}))
