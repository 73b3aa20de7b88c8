import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.test import Client
from django.urls import reverse

from predictor.history import feedback
from predictor.models import Prediction

pytestmark = pytest.mark.django_db


def make_prediction(version, *, height_cm=80.0, weight_kg=40.0, species="Cat") -> Prediction:
    return Prediction.objects.create(
        inputs={"height": height_cm, "weight": weight_kg},
        species=species,
        probability=0.9,
        probabilities={species: 0.9},
        model_version=version,
    )


@pytest.fixture
def staff_user(make_staff):
    return make_staff("staff", group="labeller")


@pytest.fixture
def staff_client(client, staff_user):
    client.force_login(staff_user)
    return client


def test_label_predictions_records_species_who_and_when(trained_version, admin_user):
    first, second, untouched = (make_prediction(trained_version) for _ in range(3))
    count = feedback.label_predictions(prediction_ids=[first.pk, second.pk], species="Dog", user=admin_user)
    assert count == 2
    for prediction in (first, second):
        prediction.refresh_from_db()
        assert prediction.actual_species == "Dog"
        assert prediction.labelled_by == admin_user
        assert prediction.labelled_at is not None
    untouched.refresh_from_db()
    assert untouched.actual_species is None and untouched.labelled_by is None


def test_label_predictions_refuses_an_unknown_species(trained_version, admin_user):
    prediction = make_prediction(trained_version)
    with pytest.raises(feedback.FeedbackError, match="Unknown species 'Horse': choose one of Cat, Dog"):
        feedback.label_predictions(prediction_ids=[prediction.pk], species="Horse", user=admin_user)
    prediction.refresh_from_db()
    assert prediction.actual_species is None


def test_label_none_removes_the_label(trained_version, admin_user):
    prediction = make_prediction(trained_version)
    feedback.label_predictions(prediction_ids=[prediction.pk], species="Cat", user=admin_user)
    feedback.label_predictions(prediction_ids=[prediction.pk], species=None, user=admin_user)
    prediction.refresh_from_db()
    assert (prediction.actual_species, prediction.labelled_by, prediction.labelled_at) == (None, None, None)


def test_admin_list_action_labels_the_selected_rows(admin_client, admin_user, trained_version):
    chosen = [make_prediction(trained_version) for _ in range(2)]
    other = make_prediction(trained_version)
    response = admin_client.post(
        reverse("admin:predictor_prediction_changelist"),
        {"action": "label_dog", ACTION_CHECKBOX_NAME: [p.pk for p in chosen]},
        follow=True,
    )
    assert "Recorded Dog as the actual species of 2 predictions." in response.content.decode()
    assert set(Prediction.objects.filter(actual_species="Dog").values_list("pk", flat=True)) == {p.pk for p in chosen}
    assert set(Prediction.objects.filter(actual_species="Dog").values_list("labelled_by", flat=True)) == {admin_user.pk}
    other.refresh_from_db()
    assert other.actual_species is None


def test_admin_list_offers_an_action_per_species(admin_client, trained_version):
    make_prediction(trained_version)
    page = admin_client.get(reverse("admin:predictor_prediction_changelist")).content.decode()
    assert "actual species: Cat" in page and "actual species: Dog" in page
    assert "delete_selected" not in page


def test_admin_change_page_edits_only_the_actual_species(admin_client, admin_user, trained_version):
    prediction = make_prediction(trained_version, height_cm=80, weight_kg=40, species="Cat")
    url = reverse("admin:predictor_prediction_change", args=[prediction.pk])
    page = admin_client.get(url).content.decode()
    assert 'name="actual_species"' in page
    assert 'name="height_cm"' not in page and 'name="species"' not in page

    response = admin_client.post(url, {"actual_species": "Dog", "height_cm": "5", "species": "Dog"})
    assert response.status_code == 302
    prediction.refresh_from_db()
    assert prediction.actual_species == "Dog"
    assert prediction.labelled_by == admin_user and prediction.labelled_at is not None
    assert (prediction.inputs["height"], prediction.species) == (80, "Cat")


def test_admin_change_page_can_clear_a_mistaken_label(admin_client, admin_user, trained_version):
    prediction = make_prediction(trained_version)
    feedback.label_predictions(prediction_ids=[prediction.pk], species="Dog", user=admin_user)
    admin_client.post(reverse("admin:predictor_prediction_change", args=[prediction.pk]), {"actual_species": ""})
    prediction.refresh_from_db()
    assert prediction.actual_species is None and prediction.labelled_by is None


def test_admin_cannot_add_or_delete_predictions(admin_client, trained_version):
    prediction = make_prediction(trained_version)
    assert admin_client.get(reverse("admin:predictor_prediction_add")).status_code == 403
    assert admin_client.get(reverse("admin:predictor_prediction_delete", args=[prediction.pk])).status_code == 403


def test_results_page_shows_a_label_button_per_species_in_each_row(staff_client, trained_version):
    prediction = make_prediction(trained_version)
    page = staff_client.get(reverse("predictor:history")).content.decode()
    assert reverse("predictor:label", args=[prediction.pk]) in page
    assert 'name="species" value="Cat"' in page and 'name="species" value="Dog"' in page
    assert "Actual species" in page
    assert reverse("predictor:model_detail", args=[trained_version.version]) in page


def test_results_page_post_labels_and_redirects_back(staff_client, staff_user, trained_version):
    prediction = make_prediction(trained_version, species="Cat")
    back = reverse("predictor:history") + "?page=1"
    response = staff_client.post(reverse("predictor:label", args=[prediction.pk]), {"species": "Dog", "next": back})
    # Back to the same row of the same page, with a confirmation.
    assert response.status_code == 302 and response.url == f"{back}#prediction-{prediction.pk}"
    prediction.refresh_from_db()
    assert prediction.actual_species == "Dog" and prediction.labelled_by == staff_user

    page = staff_client.get(back).content.decode()
    assert 'aria-pressed="true"' in page and "✗ wrong" in page
    assert f'id="prediction-{prediction.pk}"' in page
    assert f"Recorded Dog as the actual species of prediction {prediction.pk}." in page
    assert "Recorded Dog" not in staff_client.get(back).content.decode()  # shown once


def test_results_page_post_never_redirects_off_site(staff_client, trained_version):
    prediction = make_prediction(trained_version)
    response = staff_client.post(
        reverse("predictor:label", args=[prediction.pk]), {"species": "Cat", "next": "https://evil.example/"}
    )
    assert response.url == reverse("predictor:history") + f"#prediction-{prediction.pk}"


def test_results_page_post_with_bad_species_is_a_400_naming_the_choices(staff_client, trained_version):
    prediction = make_prediction(trained_version)
    response = staff_client.post(reverse("predictor:label", args=[prediction.pk]), {"species": "Horse"})
    assert response.status_code == 400
    assert "Horse is not a species staff can record; choose Cat or Dog." in response.content.decode()
    response = staff_client.post(reverse("predictor:label", args=[prediction.pk]), {})
    assert response.status_code == 400
    assert "Choose the actual species: Cat or Dog." in response.content.decode()
    prediction.refresh_from_db()
    assert prediction.actual_species is None


def test_results_page_post_for_a_missing_prediction_is_404(staff_client, trained_version):
    assert staff_client.post(reverse("predictor:label", args=[999]), {"species": "Cat"}).status_code == 404


def test_labelling_is_refused_to_non_staff_and_anonymous(client, django_user_model, trained_version):
    prediction = make_prediction(trained_version)
    url = reverse("predictor:label", args=[prediction.pk])
    response = client.post(url, {"species": "Dog"})
    assert response.status_code == 302 and response.url.startswith(reverse("login"))

    client.force_login(django_user_model.objects.create_user("visitor", password="pw-visitor-123"))
    assert client.post(url, {"species": "Dog"}).status_code == 403
    prediction.refresh_from_db()
    assert prediction.actual_species is None


def test_labelling_needs_the_csrf_token(staff_user, trained_version):
    prediction = make_prediction(trained_version)
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff_user)
    response = client.post(reverse("predictor:label", args=[prediction.pk]), {"species": "Dog"})
    assert response.status_code == 403
    prediction.refresh_from_db()
    assert prediction.actual_species is None


def test_labelling_by_get_is_not_allowed(staff_client, trained_version):
    prediction = make_prediction(trained_version)
    assert staff_client.get(reverse("predictor:label", args=[prediction.pk]), {"species": "Dog"}).status_code == 405


def test_admin_action_over_all_rows_labels_every_matching_prediction(admin_client, trained_version):
    for _ in range(3):
        make_prediction(trained_version, species="Dog")
    make_prediction(trained_version, species="Cat")
    response = admin_client.post(
        reverse("admin:predictor_prediction_changelist") + "?species=Dog",
        {"action": "label_cat", "select_across": "1", "index": "0", ACTION_CHECKBOX_NAME: ["0"]},
        follow=True,
    )
    assert "Recorded Cat as the actual species of 3 predictions." in response.content.decode()
    assert Prediction.objects.filter(actual_species="Cat").count() == 3
