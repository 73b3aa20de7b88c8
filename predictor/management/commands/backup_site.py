from pathlib import Path

from django.core.management.base import CommandError
from django.utils.translation import gettext

from predictor.management.language import TranslatedCommand
from predictor.ops import backup


class Command(TranslatedCommand):
    help = (
        "Back up every table and every stored file (artifacts, training pictures, kept uploads) into a new "
        "folder, while the site runs. Restore it with `manage.py restore_site`."
    )

    def add_arguments(self, parser):
        parser.add_argument("folder", type=Path, help="A new or empty folder to write the backup into.")

    def handle(self, *args, folder: Path, **options):
        try:
            report = backup.backup_site(folder=folder, progress=self.stdout.write)
        except backup.BackupError as error:
            raise CommandError(str(error)) from None
        for name in report.missing_files:
            message = gettext("%(name)s is named by a model version but missing from storage.")
            self.stderr.write(self.style.WARNING(message % {"name": name}))
        message = gettext(
            "Backed up %(rows)s rows and %(files)s files (%(megabytes)s MB) into %(folder)s in %(seconds)s s."
        )
        figures = {
            "rows": f"{report.total_rows:,}",
            "files": f"{report.files:,}",
            "megabytes": f"{report.file_bytes / 1e6:,.1f}",
            "folder": folder,
            "seconds": f"{report.seconds:.1f}",
        }
        self.stdout.write(self.style.SUCCESS(message % figures))
