"""Trying a candidate version on live traffic before it answers everyone: shadow, canary, promote, stop.

Each model has at most one candidate at a time (its Candidate row), beside its active version, and
the candidate must take the same inputs (a version trained on other columns cannot score the same rows):

- as a **shadow**, it scores every prediction (form, API, batch) too; visitors see only the
  active version's answer, and the shadow's is stored beside it (Prediction.shadow_*);
- as a **canary**, it answers ``canary_percent`` of single predictions (form and API), drawn per
  request, and the active version's answer is stored beside those rows, so every row has both.
  A batch is answered by the active version and scored by the candidate: its rows share one
  version (its summary and download name it), and a draw per batch would hand whole batches of
  thousands of rows to the candidate at once.

Promoting makes the candidate active through versions.activate_version (an operator's decision,
not gated), with the comparison's figures in the audit row. Every change is audited. Running
servers see a change within ML_MODEL_CHECK_SECONDS (predictor.serving.model_service loads the candidate).
A version is started or promoted only once its artifact loads and matches its sha256 (outside the
transaction: unpickling a model must not hold SQLite's write lock); one that fails later, on a
server, leaves the answers to the active version and makes /healthz say "degraded".
"""

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.utils.translation import gettext

from predictor.models import Candidate, MLModel, ModelVersion
from predictor.ops import audit
from predictor.registry import artifacts, comparison, versions
from predictor.serving import model_service


class CandidateError(ValueError):
    """The change cannot be made; the message says why, for the page, the admin and the command."""


# Every function takes the model (predictor.models.MLModel) whose candidate it means; None is the default model's.


def current(model: MLModel | None = None) -> Candidate | None:
    """The candidate of ``model`` running now, with its version, or None."""
    return Candidate.objects.select_related("version", "model").filter(model=model or MLModel.objects.default()).first()


def start_shadow(
    version_number: int, *, model: MLModel | None = None, user: AbstractBaseUser | None = None
) -> Candidate:
    """Make ``version_number`` the shadow, replacing the model's candidate; ``user`` None is the command line."""
    return _start(version_number, model=model, mode=Candidate.Mode.SHADOW, canary_percent=0, user=user)


def start_canary(
    version_number: int, *, percent: int, model: MLModel | None = None, user: AbstractBaseUser | None = None
) -> Candidate:
    """Let ``version_number`` answer ``percent`` (1 to 100) of single predictions, replacing the model's candidate."""
    if not 1 <= percent <= 100:
        raise CandidateError(gettext("A canary's share is a whole percentage from 1 to 100."))
    return _start(version_number, model=model, mode=Candidate.Mode.CANARY, canary_percent=percent, user=user)


def stop(
    *, version_number: int | None = None, model: MLModel | None = None, user: AbstractBaseUser | None = None
) -> Candidate:
    """Stop the model's shadow or canary; its stored answers stay, for the comparison. Returns what was stopped.

    ``version_number``, when given, must be the candidate's: a page showing v3 never stops v4.
    """
    with transaction.atomic():
        candidate = _locked_candidate(version_number, model)
        figures = comparison.compare(candidate.version).as_record()
        candidate.delete()
        audit.record(
            action=audit.Action.CANDIDATE_STOPPED,
            user=user,
            target=candidate.version,
            mode=candidate.mode,
            canary_percent=candidate.canary_percent,
            comparison=figures,
        )
    return candidate


def promote(
    *, version_number: int | None = None, model: MLModel | None = None, user: AbstractBaseUser | None = None
) -> ModelVersion:
    """Make the model's candidate its active version, whatever its gate said; its comparison goes into the audit row.

    ``version_number``, when given, must be the candidate's: a page showing v3 never promotes v4.
    """
    running = current(model)
    if running is not None:
        _check_loads(running.version)
    with transaction.atomic():
        candidate = _locked_candidate(version_number, model)
        if running is None or candidate.version_id != running.version_id:
            _check_loads(candidate.version)  # replaced meanwhile: checked under the lock, rare
        figures = comparison.compare(candidate.version).as_record()
        candidate.delete()
        return versions.activate_version(
            candidate.version.version,
            model=candidate.version.model,
            user=user,
            promoted_from=candidate.mode,
            comparison=figures,
        )


def _start(
    version_number: int, *, model: MLModel | None, mode: str, canary_percent: int, user: AbstractBaseUser | None
) -> Candidate:
    model = model or MLModel.objects.default()
    versions_of_model = ModelVersion.objects.filter(model=model)
    if (version := versions_of_model.filter(version=version_number).first()) is not None:
        _check_loads(version)  # an artifact never changes once its row exists
    with transaction.atomic():
        version = versions_of_model.filter(version=version_number).first()
        if version is None:
            raise CandidateError(gettext("There is no model v%(version)s.") % {"version": version_number})
        active = ModelVersion.objects.select_for_update().filter(model=model).active().first()
        if version == active:
            raise CandidateError(gettext("%(version)s is the active version already.") % {"version": version})
        if active is not None:
            _check_same_inputs(version, active)
        replaced = Candidate.objects.select_for_update().select_related("version").filter(model=model).first()
        Candidate.objects.filter(model=model).delete()
        candidate = Candidate.objects.create(version=version, mode=mode, canary_percent=canary_percent)
        audit.record(
            action=audit.Action.SHADOW_STARTED if mode == Candidate.Mode.SHADOW else audit.Action.CANARY_STARTED,
            user=user,
            target=version,
            version=version.version,
            canary_percent=canary_percent,
            active_version=active.version if active else None,
            replaced=str(replaced) if replaced else None,
        )
    return candidate


def _check_loads(version: ModelVersion) -> None:
    """CandidateError unless ``version``'s artifact is there, matches its sha256 and unpickles here."""
    try:
        model_service.check_loads(version)
    except artifacts.ArtifactError as error:
        message = gettext("%(version)s cannot be tried: %(reason)s. Retrain it, or choose another version.")
        raise CandidateError(message % {"version": version, "reason": error}) from None


def _check_same_inputs(version: ModelVersion, active: ModelVersion) -> None:
    """CandidateError unless ``version`` takes the inputs ``active`` takes: both must score the same rows."""
    if problems := active.input_schema.differences(version.input_schema):
        message = gettext("%(version)s cannot be tried beside %(active)s: its inputs differ (%(problems)s).")
        raise CandidateError(message % {"version": version, "active": active, "problems": "; ".join(problems)})


def _locked_candidate(version_number: int | None, model: MLModel | None) -> Candidate:
    candidates = Candidate.objects.select_for_update().select_related("version")
    candidate = candidates.filter(model=model or MLModel.objects.default()).first()
    if candidate is None:
        raise CandidateError(gettext("No shadow or canary is running."))
    if version_number is not None and candidate.version.version != version_number:
        message = gettext("v%(version)s is not the candidate; %(candidate)s is.")
        raise CandidateError(message % {"version": version_number, "candidate": candidate})
    return candidate
