"""Shadow and canary: the candidate's answers are stored and never shown; the canary answers its share."""

import json
from io import StringIO

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.utils.html import escape

from predictor.history import writer
from predictor.models import AuditEvent, Candidate, ModelVersion, Prediction
from predictor.registry import artifacts, training, training_data
from predictor.schema.features import FEATURES
from predictor.schema.wording import probability_text
from predictor.serving import candidates, model_service
from predictor.web import answers

pytestmark = pytest.mark.django_db

# A dog by the shipped model; the contrary model calls it a cat.
DOG = {"height": "90", "weight": "48"}
DOG_JSON = {"height_cm": 90.0, "weight_kg": 48.0}
DOG = {"height": 90.0, "weight": 48.0}  # the same, as the service takes it


@pytest.fixture
def contrary_version(make_version):
    """A stored version trained on the shipped data with every label swapped: it disagrees on every animal."""
    data = training_data.load_training_data(training_data.DEFAULT_TRAINING_DATA)
    swapped = np.where(data.labels == "Cat", "Dog", "Cat")
    pipeline = training.build_pipeline(training.DEFAULT_ALGORITHM).fit(data.features, swapped)
    content = artifacts.serialize(pipeline, feature_columns=tuple(feature.column for feature in FEATURES))
    name, sha256 = artifacts.save(content)
    return make_version(artifact_name=name, artifact_sha256=sha256, picture_name="")


def test_a_shadow_scores_each_form_answer_and_the_visitor_sees_only_the_active_one(
    client, trained_version, contrary_version
):
    candidates.start_shadow(contrary_version.version)

    response = client.post("/", DOG)

    stored = Prediction.objects.get()
    assert (stored.model_version, stored.species) == (trained_version, "Dog")
    assert (stored.shadow_version, stored.shadow_species) == (contrary_version, "Cat")
    assert 0.5 <= stored.shadow_probability <= 1
    for page in (response, client.get(answers.permalink(stored))):
        card = result_card(page)
        assert '<span class="species">Dog</span>' in card and f"<strong>{trained_version}</strong>" in card
        assert f"<strong>{escape(probability_text(stored.probability))}</strong> sure" in card
        assert f"<strong>{contrary_version}</strong>" not in card
    assert stored.probabilities["Dog"] == stored.probability > 0.5  # the bars are the active version's


def result_card(response) -> str:
    html = response.content.decode()
    return html[html.index('<section class="card result"') :].split("</section>", 1)[0]


def test_a_shadow_scores_each_api_answer_and_the_response_names_only_the_active_version(
    client, trained_version, contrary_version
):
    candidates.start_shadow(contrary_version.version)

    answer = client.post("/api/v1/predict", DOG_JSON, content_type="application/json").json()

    assert (answer["species"], answer["model_version"]) == ("Dog", trained_version.version)
    stored = Prediction.objects.get(pk=answer["id"])
    assert answer["probabilities"] == stored.probabilities and answer["probability"] == stored.probability
    assert "shadow" not in json.dumps(answer)
    assert (stored.shadow_version, stored.shadow_species) == (contrary_version, "Cat")


def test_a_shadow_scores_every_row_of_a_batch_and_the_batch_shows_only_the_active_answers(
    key_client, admin_client, trained_version, contrary_version
):
    candidates.start_canary(contrary_version.version, percent=100)  # a batch is never a canary's: see candidates
    answer = key_client.post("/api/v1/predict/batch", [DOG_JSON] * 3, content_type="application/json").json()
    upload = SimpleUploadedFile("animals.csv", b"Height,Weight\n90,48\n91,47\n", content_type="text/csv")
    uploaded = admin_client.post("/predictions/upload/", {"file": upload}, follow=True)

    assert {item["species"] for item in answer["results"]} == {"Dog"}
    assert answer["model_version"] == trained_version.version and "shadow" not in json.dumps(answer)
    stored = Prediction.objects.filter(source__in=["api", "batch"])
    assert stored.count() == 5
    assert set(stored.values_list("model_version", "species", "shadow_version", "shadow_species")) == {
        (trained_version.pk, "Dog", contrary_version.pk, "Cat")
    }
    page = uploaded.content.decode().split("<main", 1)[1]
    assert uploaded.status_code == 200 and str(trained_version) in page and str(contrary_version) not in page


def test_a_canary_answers_its_share_of_requests_within_three_points(trained_version, contrary_version):
    candidates.start_canary(contrary_version.version, percent=10)
    answered_by = [model_service.predict(DOG).model.version for _ in range(2000)]

    share = answered_by.count(contrary_version.version) / len(answered_by)
    assert 0.07 <= share <= 0.13, share


def test_every_canary_row_holds_both_answers_and_the_response_names_the_version_that_answered(
    client, trained_version, contrary_version
):
    candidates.start_canary(contrary_version.version, percent=50)
    answers = [client.post("/api/v1/predict", DOG_JSON, content_type="application/json").json() for _ in range(60)]

    stored = {row.pk: row for row in Prediction.objects.select_related("model_version")}
    for answer in answers:
        row = stored[answer["id"]]
        assert answer["model_version"] == row.model_version.version
        assert answer["species"] == ("Cat" if row.model_version == contrary_version else "Dog")
        assert {row.model_version_id, row.shadow_version_id} == {trained_version.pk, contrary_version.pk}
    by_candidate = sum(answer["model_version"] == contrary_version.version for answer in answers)
    assert 12 <= by_candidate <= 48  # 50% of 60: over four standard deviations either side


def test_a_canary_answer_reloaded_shows_the_stored_answer_after_the_canary_stops(
    client, trained_version, contrary_version
):
    candidates.start_canary(contrary_version.version, percent=100)
    answered = result_card(client.post("/", DOG))
    candidates.stop()
    model_service.clear_cache()

    reloaded = result_card(client.get(answers.permalink(Prediction.objects.get())))

    assert '<span class="species">Cat</span>' in answered and f"<strong>{contrary_version}</strong>" in answered
    assert reloaded == answered
    assert Prediction.objects.count() == 1


def test_without_a_candidate_nothing_is_scored_twice(client, trained_version):
    client.post("/", DOG)
    stored = Prediction.objects.get()
    assert (stored.shadow_version, stored.shadow_species, stored.shadow_probability) == (None, None, None)


def test_a_candidate_whose_artifact_cannot_be_loaded_leaves_the_answers_alone(
    client, make_version, trained_version, artifact_storage
):
    broken = make_version(stored=True)
    candidates.start_canary(broken.version, percent=100)
    artifact_storage.delete(broken.artifact_name)  # lost after it started (a host without the bucket)

    client.post("/", DOG)

    stored = Prediction.objects.get()
    assert (stored.model_version, stored.shadow_version) == (trained_version, None)


def test_the_running_servers_follow_a_change_within_the_check_interval(settings, trained_version, contrary_version):
    settings.ML_MODEL_CHECK_SECONDS = 3600  # checked once, then never again in this test
    model_service.predict(DOG)
    candidates.start_shadow(contrary_version.version)
    assert model_service.predict(DOG).second_opinion is None  # not yet checked again

    model_service.clear_cache()  # what the interval's passing does
    assert model_service.predict(DOG).second_opinion.model.version == contrary_version.version


def test_promoting_activates_the_candidate_even_past_the_gate_and_records_the_figures(
    trained_version, contrary_version, operator
):
    contrary_version.baseline_version, contrary_version.baseline_cv_accuracy = 1, 1.0  # it lost the gate
    contrary_version.save()
    candidates.start_shadow(contrary_version.version, user=operator)
    writer.record_prediction(result=model_service.predict(DOG))

    promoted = candidates.promote(user=operator)

    assert promoted == contrary_version and ModelVersion.objects.active().get() == contrary_version
    assert not Candidate.objects.exists()
    event = AuditEvent.objects.filter(action=AuditEvent.Action.ACTIVATE).get()
    assert event.user == operator
    assert event.details["previous_version"] == trained_version.version
    assert event.details["version"] == contrary_version.version
    assert event.details["promoted_from"] == "shadow"
    assert event.details["comparison"]["rows"] == 1
    assert event.details["comparison"]["agreement"] == 0.0


def test_starting_and_stopping_are_audited_with_who_and_which_versions(trained_version, contrary_version, operator):
    candidates.start_canary(contrary_version.version, percent=25, user=operator)
    candidates.stop(user=operator)

    started, stopped = AuditEvent.objects.order_by("id")
    assert (started.action, started.user, started.target) == ("canary_started", operator, str(contrary_version))
    assert (started.details["canary_percent"], started.details["active_version"]) == (25, trained_version.version)
    assert (stopped.action, stopped.details["mode"]) == ("candidate_stopped", "canary")
    assert stopped.details["comparison"]["active_version"] == trained_version.version


def test_the_active_version_cannot_be_its_own_candidate(trained_version):
    with pytest.raises(candidates.CandidateError):
        candidates.start_shadow(trained_version.version)
    assert not Candidate.objects.exists() and not AuditEvent.objects.exists()


def test_the_command_starts_reports_and_promotes(trained_version, contrary_version):
    out = StringIO()
    call_command("candidate", "canary", str(contrary_version.version), "--percent", "20", stdout=out)
    call_command("candidate", "status", stdout=out)
    call_command("candidate", "promote", stdout=out)

    text = out.getvalue()
    assert "answers 20% of single predictions" in text and "Rows both scored 0" in text
    assert f"Model {contrary_version} is now active." in text
    assert AuditEvent.objects.get(action="activate").user is None  # the command line
    with pytest.raises(CommandError, match="No shadow or canary is running"):
        call_command("candidate", "stop", stdout=out)


def test_the_status_command_points_a_terminal_at_the_comparison_page_not_below(trained_version, contrary_version):
    candidates.start_shadow(contrary_version.version)
    out = StringIO()
    call_command("candidate", "status", stdout=out)
    text = out.getvalue()
    assert f"against {trained_version}" in text
    assert "below" not in text and f"/models/{contrary_version.version}/comparison/" in text


def test_the_status_command_says_when_the_candidate_became_the_active_version(trained_version, contrary_version):
    candidates.start_shadow(contrary_version.version)
    ModelVersion.objects.filter(pk=trained_version.pk).update(is_active=False)
    ModelVersion.objects.filter(pk=contrary_version.pk).update(is_active=True)  # as a rollback elsewhere would
    out = StringIO()
    call_command("candidate", "status", stdout=out)
    assert "is the active version now" in out.getvalue() and "no active version" not in out.getvalue()


def test_the_api_lists_the_candidate_with_its_comparison(client, make_staff, trained_version, contrary_version):
    candidates.start_shadow(contrary_version.version)
    client.post("/api/v1/predict", DOG_JSON, content_type="application/json")
    client.force_login(make_staff("vera", group="viewer"))

    listed = {item["version"]: item for item in client.get("/api/v1/models").json()}

    assert listed[trained_version.version]["candidate"] is None
    candidate = listed[contrary_version.version]["candidate"]
    assert (candidate["mode"], candidate["canary_percent"]) == ("shadow", 0)
    assert candidate["comparison"]["rows"] == 1 and candidate["comparison"]["agreement"] == 0.0
    assert candidate["comparison"]["active_version"] == trained_version.version


def test_the_admin_actions_start_stop_and_promote(admin_client, trained_version, contrary_version):
    changelist = "/admin/predictor/modelversion/"
    admin_client.post(changelist, {"action": "start_shadow", "_selected_action": [contrary_version.pk]})
    assert Candidate.objects.get().version == contrary_version
    admin_client.post(changelist, {"action": "promote_candidate", "_selected_action": [contrary_version.pk]})
    assert ModelVersion.objects.active().get() == contrary_version and not Candidate.objects.exists()
    assert list(AuditEvent.objects.order_by("id").values_list("action", flat=True)) == ["shadow_started", "activate"]
