from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from predictor.ops import backup


class Command(BaseCommand):
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
        self.stdout.write(
            self.style.SUCCESS(
                f"Restored {report.total_rows:,} rows and {report.files:,} files from {folder} in "
                f"{report.seconds:.1f} s. Running servers serve the restored active model within a second."
            )
        )
