from django.core.management.base import BaseCommand, CommandError

from predictor.models import ModelVersion
from predictor.registry import versions


class Command(BaseCommand):
    help = "Make an existing model version the active one; running servers switch to it within a second."

    def add_arguments(self, parser):
        parser.add_argument("version", type=int, help="Version number, as listed in admin (e.g. 3 for v3).")

    def handle(self, *args, version: int, **options):
        try:
            activated = versions.activate_version(version)
        except ModelVersion.DoesNotExist:
            known = ", ".join(f"v{number}" for number in ModelVersion.objects.values_list("version", flat=True))
            raise CommandError(f"There is no model v{version}. Known versions: {known or 'none'}.") from None
        self.stdout.write(self.style.SUCCESS(f"Model v{activated.version} is now active."))
