from django.core.management.base import CommandError
from django.utils.translation import gettext

from predictor.management.language import TranslatedCommand
from predictor.models import MLModel, UnknownModel
from predictor.registry import comparison
from predictor.schema.features import ANIMALS_SLUG
from predictor.serving import candidates


class Command(TranslatedCommand):
    help = (
        "Try a model version beside the active one: `shadow 3` scores every prediction with v3 too, "
        "`canary 3 --percent 10` lets v3 answer 10% of them, `stop` ends either, `promote` makes the "
        "candidate active, `status` prints the comparison. Running servers follow within a second."
    )

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["shadow", "canary", "stop", "promote", "status"])
        parser.add_argument(
            "version", type=int, nargs="?", help="Version number (e.g. 3 for v3); for shadow and canary."
        )
        parser.add_argument("--percent", type=int, default=10, help="The canary's share of predictions (default 10).")
        parser.add_argument(
            "--model", default=ANIMALS_SLUG, help="The model whose candidate it is (default: %(default)s)."
        )

    def handle(self, *args, action: str, version: int | None, percent: int, model: str, **options):
        if action in {"shadow", "canary"} and version is None:
            raise CommandError(gettext("Name the version to try: `candidate %(action)s 3`.") % {"action": action})
        try:
            ml_model = MLModel.objects.named(model)
        except UnknownModel as unknown:
            raise CommandError(str(unknown)) from None
        try:
            match action:
                case "shadow":
                    candidate = candidates.start_shadow(version, model=ml_model)
                    message = gettext("%(version)s now scores every prediction as a shadow.")
                    self.stdout.write(self.style.SUCCESS(message % {"version": candidate.version}))
                case "canary":
                    candidate = candidates.start_canary(version, percent=percent, model=ml_model)
                    message = gettext("%(version)s now answers %(percent)s%% of single predictions as a canary.")
                    self.stdout.write(self.style.SUCCESS(message % {"version": candidate.version, "percent": percent}))
                case "stop":
                    stopped = candidates.stop(version_number=version, model=ml_model)
                    self.stdout.write(self.style.SUCCESS(gettext("Stopped %(version)s.") % {"version": stopped}))
                case "promote":
                    promoted = candidates.promote(version_number=version, model=ml_model)
                    message = gettext("Model %(version)s is now active.")
                    self.stdout.write(self.style.SUCCESS(message % {"version": promoted}))
                case "status":
                    self._status(ml_model)
        except candidates.CandidateError as error:
            raise CommandError(str(error)) from None

    def _status(self, model: MLModel) -> None:
        candidate = candidates.current(model)
        if candidate is None:
            self.stdout.write(gettext("No shadow or canary is running."))
            return
        figures = comparison.compare(candidate.version)
        values = {
            "candidate": candidate,
            "since": f"{candidate.started_at:%Y-%m-%d %H:%M}",
            "active": figures.active,
            "rows": f"{figures.rows:,}",
            "agreement": figures.agreement_percent,
            "labelled": f"{figures.labelled:,}",
            "candidate_accuracy": figures.candidate_accuracy_percent,
            "active_accuracy": figures.active_accuracy_percent,
            "p_value": figures.p_value_text,
        }
        if figures.active is None:
            message = gettext(
                "Candidate %(candidate)s, since %(since)s, is the active version now: nothing to compare it with. "
                "`candidate stop` ends the trial."
            )
            self.stdout.write(message % values)
            return
        self.stdout.write(gettext("Candidate %(candidate)s, since %(since)s, against %(active)s.") % values)
        self.stdout.write(gettext("Rows both scored %(rows)s, agreement %(agreement)s.") % values)
        self.stdout.write(
            gettext(
                "Labelled %(labelled)s: live accuracy %(candidate_accuracy)s against %(active_accuracy)s, "
                "McNemar's p = %(p_value)s."
            )
            % values
        )
        self.stdout.write(figures.note_text(on_page=False))
