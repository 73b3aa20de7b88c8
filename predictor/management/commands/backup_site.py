from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from predictor.ops import backup


class Command(BaseCommand):
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
            self.stderr.write(self.style.WARNING(f"{name} is named by a model version but missing from storage."))
        self.stdout.write(
            self.style.SUCCESS(
                f"Backed up {report.total_rows:,} rows and {report.files:,} files "
                f"({report.file_bytes / 1e6:,.1f} MB) into {folder} in {report.seconds:.1f} s."
            )
        )
