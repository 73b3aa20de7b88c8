from django.core.management.base import BaseCommand, CommandError

from predictor.serving import candidates, comparison


class Command(BaseCommand):
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

    def handle(self, *args, action: str, version: int | None, percent: int, **options):
        if action in {"shadow", "canary"} and version is None:
            raise CommandError(f"Name the version to try: `candidate {action} 3`.")
        try:
            match action:
                case "shadow":
                    candidate = candidates.start_shadow(version)
                    self.stdout.write(
                        self.style.SUCCESS(f"{candidate.version} now scores every prediction as a shadow.")
                    )
                case "canary":
                    candidate = candidates.start_canary(version, percent=percent)
                    done = f"{candidate.version} now answers {percent}% of single predictions as a canary."
                    self.stdout.write(self.style.SUCCESS(done))
                case "stop":
                    stopped = candidates.stop(version_number=version)
                    self.stdout.write(self.style.SUCCESS(f"Stopped {stopped}."))
                case "promote":
                    promoted = candidates.promote(version_number=version)
                    self.stdout.write(self.style.SUCCESS(f"Model {promoted} is now active."))
                case "status":
                    self._status()
        except candidates.CandidateError as error:
            raise CommandError(str(error)) from None

    def _status(self) -> None:
        candidate = candidates.current()
        if candidate is None:
            self.stdout.write("No shadow or canary is running.")
            return
        figures = comparison.compare(candidate.version)
        if figures.active is None:
            self.stdout.write(
                f"Candidate {candidate}, since {candidate.started_at:%Y-%m-%d %H:%M}, is the active version now: "
                "nothing to compare it with. `candidate stop` ends the trial."
            )
            return
        self.stdout.write(
            f"Candidate {candidate}, since {candidate.started_at:%Y-%m-%d %H:%M}, against {figures.active}."
        )
        self.stdout.write(f"Rows both scored {figures.rows:,}, agreement {figures.agreement_percent}.")
        self.stdout.write(
            f"Labelled {figures.labelled:,}: live accuracy {figures.candidate_accuracy_percent} against "
            f"{figures.active_accuracy_percent}, McNemar's p = {figures.p_value_text}."
        )
        self.stdout.write(figures.note_text(on_page=False))
