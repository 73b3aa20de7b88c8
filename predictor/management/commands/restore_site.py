from pathlib import Path

from django.core.management.base import CommandError
from django.utils.translation import gettext

from predictor.management.language import TranslatedCommand
from predictor.ops import backup


class Command(TranslatedCommand):
    help = (
        "Restore a folder written by `manage.py backup_site` into this site, which must be new: its database "
        "migrated (`manage.py migrate`) and holding no data, its artifact and upload storage empty."
    )

    def add_arguments(self, parser):
        parser.add_argument("folder", type=Path, help="The backup folder.")

    def handle(self, *args, folder: Path, **options):
        try:
            report = backup.restore_site(folder=folder, progress=self.stdout.write)
        except backup.BackupError as error:
            raise CommandError(str(error)) from None
        message = gettext(
            "Restored %(rows)s rows and %(files)s files from %(folder)s in %(seconds)s s. "
            "Running servers serve the restored active model within a second."
        )
        figures = {
            "rows": f"{report.total_rows:,}",
            "files": f"{report.files:,}",
            "folder": folder,
            "seconds": f"{report.seconds:.1f}",
        }
        self.stdout.write(self.style.SUCCESS(message % figures))
