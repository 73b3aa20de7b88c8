"""How a candidate compares with the active version on the same live rows: the rows both scored.

While a shadow or canary runs, each row holds one version's answer (``species``) and the other's
(``shadow_species``). Per direction (the candidate answering, or the active version), the
database counts the rows from the partial prediction_comparison index, the disagreeing ones from
the partial prediction_disagreement index, and groups the labelled ones by both answers and the
label (a few groups, from the labelled end of prediction_comparison): agreement, live accuracy,
both confusion matrices and McNemar's test follow. No prediction row is loaded into Python.
``bench/candidate_comparison.py`` times it at a million rows.
"""

from dataclasses import dataclass
from functools import cached_property

from django.conf import settings
from django.db.models import Count, QuerySet
from django.urls import reverse
from django.utils.translation import gettext

from predictor.models import DISAGREEING, LABELLED, ModelVersion, Prediction
from predictor.schema.wording import one_of

SIGNIFICANCE_LEVEL = 0.05


@dataclass(frozen=True)
class Comparison:
    candidate: ModelVersion
    active: ModelVersion | None  # None when no version is active, or the candidate is the active one
    rows: int  # rows both versions scored
    agreed: int  # of those, rows where both gave the same species
    labelled: int  # rows both scored that staff labelled
    candidate_correct: int
    active_correct: int
    only_candidate_correct: int  # McNemar's discordant pairs, one way ...
    only_active_correct: int  # ... and the other
    species: tuple[str, ...]  # row and column order of both confusion matrices
    candidate_confusion: tuple[tuple[int, ...], ...]  # [actual][predicted]
    active_confusion: tuple[tuple[int, ...], ...]

    @property
    def agreement(self) -> float | None:
        return _share(self.agreed, self.rows)

    @property
    def candidate_accuracy(self) -> float | None:
        return _share(self.candidate_correct, self.labelled)

    @property
    def active_accuracy(self) -> float | None:
        return _share(self.active_correct, self.labelled)

    @property
    def discordant(self) -> int:
        """Labelled rows on which exactly one version was right: the only ones McNemar's test weighs."""
        return self.only_candidate_correct + self.only_active_correct

    @cached_property  # read by the note, the verdict and the page: the exact test is computed once
    def p_value(self) -> float | None:
        """McNemar's exact test: the chance of a split at least this uneven if both were equally good."""
        if not self.discordant:
            return None
        # Imported here: scipy.stats took a second of every command's and server's start.
        from scipy.stats import binomtest

        return float(binomtest(self.only_candidate_correct, self.discordant, 0.5).pvalue)

    @property
    def enough_labelled(self) -> bool:
        return self.discordant >= settings.COMPARISON_MIN_DISCORDANT_ROWS

    @property
    def better(self) -> ModelVersion | None:
        """The version McNemar's test says is more accurate on these rows, or None when it cannot say."""
        p_value = self.p_value
        if not self.enough_labelled or p_value is None or p_value >= SIGNIFICANCE_LEVEL:
            return None
        return self.candidate if self.only_candidate_correct > self.only_active_correct else self.active

    @property
    def note(self) -> str:
        """What the labelled rows say, in a sentence for staff on the comparison page."""
        return self.note_text(on_page=True)

    def note_text(self, *, on_page: bool) -> str:
        """What the labelled rows say; ``on_page`` False words it for a terminal, which lists no disagreements."""
        values = {
            "candidate": self.candidate,
            "active": self.active,
            "discordant": self.discordant,
            "minimum": settings.COMPARISON_MIN_DISCORDANT_ROWS,
            "p_value": self.p_value_text,
        }
        if not self.labelled and on_page:
            return gettext("No row both versions scored is labelled yet: label the disagreements below.")
        if not self.labelled:
            return gettext(
                "No row both versions scored is labelled yet: label the disagreements on the comparison page, %(page)s."
            ) % {"page": reverse("predictor:candidate_comparison", args=[self.candidate.version])}
        if not self.enough_labelled:
            return (
                gettext(
                    "Too few labelled rows to say which is better: exactly one version was right on %(discordant)s "
                    "labelled rows, and McNemar's test needs at least %(minimum)s. Label more disagreements."
                )
                % values
            )
        if self.better is None:
            return (
                gettext(
                    "No significant difference yet (McNemar's test, p = %(p_value)s on %(discordant)s rows where "
                    "exactly one was right): label more disagreements."
                )
                % values
            )
        values["better"], values["worse"] = (
            (self.candidate, self.active) if self.better == self.candidate else (self.active, self.candidate)
        )
        return (
            gettext(
                "%(better)s is more accurate than %(worse)s on these rows (McNemar's test, p = %(p_value)s "
                "on %(discordant)s rows where exactly one was right)."
            )
            % values
        )

    @property
    def agreement_percent(self) -> str:
        return _percent(self.agreement)

    @property
    def candidate_accuracy_percent(self) -> str:
        return _percent(self.candidate_accuracy)

    @property
    def active_accuracy_percent(self) -> str:
        return _percent(self.active_accuracy)

    @property
    def p_value_text(self) -> str:
        p_value = self.p_value
        if p_value is None:
            return "—"
        return "<0.001" if p_value < 0.001 else f"{p_value:.3f}"

    @property
    def species_choice(self) -> str:
        return one_of(self.species) if self.species else ""

    @property
    def matrices(self) -> list[tuple[ModelVersion | None, list[tuple[str, tuple[int, ...]]]]]:
        """Each version with its confusion matrix's rows (actual species, counts per answer), candidate first."""
        return [
            (version, list(zip(self.species, matrix, strict=True)))
            for version, matrix in ((self.candidate, self.candidate_confusion), (self.active, self.active_confusion))
        ]

    def as_record(self) -> dict:
        """The figures, as the audit trail and the API keep them."""
        return {
            "candidate_version": self.candidate.version,
            "active_version": self.active.version if self.active else None,
            "rows": self.rows,
            "agreement": self.agreement,
            "labelled": self.labelled,
            "candidate_accuracy": self.candidate_accuracy,
            "active_accuracy": self.active_accuracy,
            "only_candidate_correct": self.only_candidate_correct,
            "only_active_correct": self.only_active_correct,
            "mcnemar_p_value": self.p_value,
            "enough_labelled": self.enough_labelled,
        }


def compare(candidate: ModelVersion, active: ModelVersion | None = None) -> Comparison:
    """``candidate`` against ``active`` (by default the active version), in three small aggregates per direction."""
    if active is None:
        active = ModelVersion.objects.filter(model_id=candidate.model_id).active().first()
    if active == candidate:
        active = None
    # (the candidate's answer, the active version's, the label) -> labelled rows
    labelled: dict[tuple[str, str, str], int] = {}
    rows = disagreeing = 0
    if active is not None:
        for answered_by, scored_by in ((candidate, active), (active, candidate)):
            both = answered_by_with_second_opinion(answered_by, scored_by)
            rows += both.count()
            disagreeing += both.filter(DISAGREEING).count()
            groups = both.filter(LABELLED).values_list("species", "shadow_species", "actual_species")
            for species, shadow_species, actual, count in groups.annotate(rows=Count("*")):
                pair = (species, shadow_species) if answered_by == candidate else (shadow_species, species)
                labelled[*pair, actual] = labelled.get((*pair, actual), 0) + count

    known = set(candidate.class_counts) | set(active.class_counts if active else ())
    species = tuple(sorted(known | {name for key in labelled for name in key}))
    tally = {"candidate": 0, "active": 0, "only_candidate": 0, "only_active": 0}
    confusions = ({}, {})  # the candidate's and the active version's, (actual, predicted) -> rows
    for (candidate_says, active_says, actual), count in labelled.items():
        candidate_right, active_right = candidate_says == actual, active_says == actual
        tally["candidate"] += count * candidate_right
        tally["active"] += count * active_right
        tally["only_candidate"] += count * (candidate_right and not active_right)
        tally["only_active"] += count * (active_right and not candidate_right)
        for confusion, said in zip(confusions, (candidate_says, active_says), strict=True):
            confusion[actual, said] = confusion.get((actual, said), 0) + count

    def matrix(confusion: dict) -> tuple[tuple[int, ...], ...]:
        return tuple(tuple(confusion.get((actual, said), 0) for said in species) for actual in species)

    return Comparison(
        candidate=candidate,
        active=active,
        rows=rows,
        agreed=rows - disagreeing,
        labelled=sum(labelled.values()),
        candidate_correct=tally["candidate"],
        active_correct=tally["active"],
        only_candidate_correct=tally["only_candidate"],
        only_active_correct=tally["only_active"],
        species=species,
        candidate_confusion=matrix(confusions[0]),
        active_confusion=matrix(confusions[1]),
    )


def answered_by_with_second_opinion(answered_by: ModelVersion, scored_by: ModelVersion) -> QuerySet:
    """The rows ``answered_by`` answered while ``scored_by`` scored them beside it, in no order.

    One direction per query: each is a range of the covering prediction_comparison index, where an
    OR of both directions reads the table instead.
    """
    return Prediction.objects.filter(shadow_version=scored_by, model_version=answered_by).order_by()


@dataclass(frozen=True)
class Disagreement:
    prediction: Prediction
    candidate_says: str
    active_says: str


def disagreements(candidate: ModelVersion, active: ModelVersion, *, limit: int | None = None) -> list[Disagreement]:
    """The newest rows both scored on which they gave different species, for labelling."""
    limit = settings.COMPARISON_DISAGREEMENTS_SHOWN if limit is None else limit
    newest_first = ("-created_at", "-id")  # the order of the prediction_disagreement index, read backwards
    rows = [
        row
        for answered_by, scored_by in ((candidate, active), (active, candidate))
        for row in answered_by_with_second_opinion(answered_by, scored_by)
        .filter(DISAGREEING)
        .select_related("model_version")
        .order_by(*newest_first)[:limit]
    ]
    rows.sort(key=lambda row: (row.created_at, row.pk), reverse=True)
    return [
        Disagreement(
            prediction=row,
            candidate_says=row.species if row.model_version_id == candidate.pk else row.shadow_species,
            active_says=row.shadow_species if row.model_version_id == candidate.pk else row.species,
        )
        for row in rows[:limit]
    ]


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"
