"""Commands that answer in the operator's language: ``--language zh-hans``, else settings.LANGUAGE_CODE."""

from django.conf import settings
from django.core.management.base import BaseCommand
from django.utils import translation


class TranslatedCommand(BaseCommand):
    """A command whose sentences (its output and its errors) are in --language, else in LANGUAGE_CODE.

    Django runs commands in LANGUAGE_CODE already; --language picks another one of LANGUAGES for
    one run. Help texts stay in English, as argparse prints them before any language is chosen.
    """

    def create_parser(self, prog_name, subcommand, **kwargs):
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.add_argument(
            "--language",
            choices=[code for code, _name in settings.LANGUAGES],
            help=f"The language of the output (default: LANGUAGE_CODE, {settings.LANGUAGE_CODE}).",
        )
        return parser

    def execute(self, *args, **options):
        with translation.override(options.get("language") or settings.LANGUAGE_CODE):
            return super().execute(*args, **options)
