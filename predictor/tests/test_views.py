import re
from zoneinfo import ZoneInfo

import pytest
from django.core import signing
from django.test import Client
from django.urls import reverse
from django.utils.html import escape

from predictor.models import Prediction
from predictor.web import answers
from predictor.web.answers import PERMALINK_SALT as RESULT_SALT

pytestmark = pytest.mark.django_db

PREDICT_URL = reverse("predictor:predict")
HISTORY_URL = reverse("predictor:history")


def submit(client, height="90", weight="50"):
    return client.post(PREDICT_URL, {"height": height, "weight": weight})


@pytest.fixture
def staff_client(client, make_staff):
    client.force_login(make_staff("staff", group="viewer"))
    return client


def test_form_page_has_labelled_height_and_weight_inputs(client, trained_version):
    response = client.get(PREDICT_URL)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="height"' in html and 'name="weight"' in html
    assert "Height (cm)" in html and "Weight (kg)" in html
    assert 'name="csrfmiddlewaretoken"' in html


def form_key(response) -> str:
    """The submission key the page's form will send, read from its HTML like a browser would."""
    return re.search(r'name="submission_key" value="([^"]+)"', response.content.decode()).group(1)


def permalink(response) -> str:
    return re.search(r'data-permalink="([^"]+)"', response.content.decode()).group(1)


def linked_prediction(link: str) -> int:
    """The id a permanent link points at."""
    return answers.prediction_id(link.split("/")[-2])


@pytest.mark.parametrize(("height", "weight", "species"), [("90", "50", "Dog"), ("70", "40", "Cat")])
def test_valid_submission_stores_one_row_and_answers_with_the_result(client, trained_version, height, weight, species):
    response = submit(client, height, weight)
    assert response.status_code == 200
    prediction = Prediction.objects.get()
    assert (prediction.inputs["height"], prediction.inputs["weight"]) == (float(height), float(weight))
    assert prediction.species == species
    assert prediction.model_version == trained_version
    assert prediction.source == "form"
    assert prediction.probability == prediction.probabilities[species]

    html = response.content.decode()
    assert f'<span class="species">{species}</span>' in html
    assert escape(prediction.probability_percent) in html
    assert re.search(r"Model\s*(<[^>]+>)?v1", html)


def test_the_result_has_a_permanent_link_that_shows_it_without_storing_again(client, trained_version):
    answer = submit(client, "70", "40")
    link = permalink(answer)
    assert f'href="{link}"' in answer.content.decode()
    for _ in range(3):
        page = client.get(link)
        assert page.status_code == 200
        assert '<span class="species">Cat</span>' in page.content.decode()
        assert permalink(page) == link  # the address bar keeps the link it was opened at
    assert linked_prediction(link) == Prediction.objects.get().pk
    assert Prediction.objects.count() == 1


def test_a_permanent_link_made_before_links_stopped_carrying_a_time_still_opens_its_answer(client, trained_version):
    submit(client, "70", "40")
    prediction = Prediction.objects.get()
    older_link = reverse("predictor:result", args=[signing.dumps(prediction.pk, salt=RESULT_SALT)])
    page = client.get(older_link)
    assert page.status_code == 200
    assert '<span class="species">Cat</span>' in page.content.decode()
    assert permalink(page) == answers.permalink(prediction)


@pytest.mark.parametrize("token", ["MQ:forged", "MQ:1xY2j7:forged", "not-a-token", "signed without the salt"])
def test_a_forged_or_foreign_permanent_link_is_not_found(client, trained_version, token):
    submit(client, "70", "40")
    if token == "signed without the salt":
        token = signing.Signer().sign_object(Prediction.objects.get().pk)
    assert client.get(reverse("predictor:result", args=[token])).status_code == 404


def test_the_result_shows_the_measurements_as_typed_and_the_time_in_the_site_time_zone(
    client, trained_version, settings
):
    settings.TIME_ZONE = "Asia/Tokyo"
    html = submit(client, "42.5", "7.25").content.decode()
    assert "height 42.5 cm, weight 7.25 kg" in html
    stored = Prediction.objects.get().created_at.astimezone(ZoneInfo("Asia/Tokyo"))
    shown = re.search(r'<time datetime="([^"]+)">([^<]+)</time>', html)
    assert shown.group(1) == stored.isoformat()
    assert shown.group(2) == f"{stored.day} {stored:%b %Y, %H:%M} JST"  # with the time zone


def test_each_blank_form_carries_a_fresh_submission_key(client, trained_version):
    keys = {form_key(client.get(PREDICT_URL)) for _ in range(3)}
    keys.add(form_key(submit(client)))  # the result page's "try another animal" form
    assert len(keys) == 4


def test_the_same_form_sent_twice_stores_one_prediction(client, trained_version):
    key = form_key(client.get(PREDICT_URL))
    fields = {"height": "90", "weight": "50", "submission_key": key}
    first, second = client.post(PREDICT_URL, fields), client.post(PREDICT_URL, fields)
    assert first.status_code == second.status_code == 200
    assert Prediction.objects.count() == 1
    assert Prediction.objects.get().submission_key == key
    assert linked_prediction(permalink(first)) == linked_prediction(permalink(second)) == Prediction.objects.get().pk


def test_the_same_form_page_sent_with_other_measurements_is_a_new_prediction(client, trained_version):
    # A visitor who goes back to the form page, changes the numbers and sends it again.
    key = form_key(client.get(PREDICT_URL))
    client.post(PREDICT_URL, {"height": "90", "weight": "50", "submission_key": key})
    again = client.post(PREDICT_URL, {"height": "70", "weight": "40", "submission_key": key})
    assert again.status_code == 200
    assert '<span class="species">Cat</span>' in again.content.decode()
    assert sorted(p.inputs["height"] for p in Prediction.objects.all()) == [70.0, 90.0]


def test_a_damaged_submission_key_is_refused_and_nothing_is_stored(client, trained_version):
    response = client.post(PREDICT_URL, {"height": "90", "weight": "50", "submission_key": "<script>"})
    assert response.status_code == 400
    assert "This form was damaged on its way; reload the page" in response.content.decode()
    assert Prediction.objects.count() == 0


def test_each_submission_stores_exactly_one_row(client, trained_version):
    for _ in range(3):
        submit(client)
    assert Prediction.objects.count() == 3


def test_result_page_with_a_forged_token_is_not_found(client, trained_version):
    submit(client)
    prediction = Prediction.objects.get()
    assert client.get(reverse("predictor:result", args=[f"{prediction.pk}:forged"])).status_code == 404


BAD_INPUTS = {
    "empty": ("", "Enter the height in cm."),
    "text": ("tall", "Height must be a number in cm"),
    "nan": ("nan", "Height must be a number in cm"),
    "inf": ("inf", "Height must be a number in cm"),
    "overflow": ("1e309", "Height must be a finite number."),
    "negative": ("-3", "Height must be at least 1 cm."),
    "zero": ("0", "Height must be at least 1 cm."),
    "above the bounds": ("300.5", "Height must be at most 300 cm."),
    "10 kB of digits": ("9" * 10_240, "Height must be a finite number."),
    "10 kB of text": ("x" * 10_240, "Height must be a number in cm"),
}


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_height_rerenders_the_form_with_the_field_error_and_stores_nothing(client, trained_version, case):
    value, message = BAD_INPUTS[case]
    response = submit(client, height=value)
    assert response.status_code == 400
    assert list(response.context["form"].errors) == ["height"]
    assert message in response.context["form"].errors["height"][0]
    assert message in response.content.decode()
    assert Prediction.objects.count() == 0


def test_the_form_and_the_api_say_the_same_of_a_number_too_large_to_be_finite(client, trained_version):
    form_error = submit(client, height="1e400").context["form"].errors["height"][0]
    api = client.post("/api/v1/predict", {"height_cm": 1e400, "weight_kg": 36}, content_type="application/json")
    assert form_error == "Height must be a finite number."
    assert form_error in api.content.decode()
    assert Prediction.objects.count() == 0


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "Enter the weight in kg."),
        ("-1", "Weight must be at least 0.01 kg."),
        ("500.1", "Weight must be at most 500 kg."),
    ],
)
def test_bad_weight_is_reported_on_the_weight_field(client, trained_version, value, message):
    response = submit(client, weight=value)
    assert response.status_code == 400
    assert list(response.context["form"].errors) == ["weight"]
    assert message in response.content.decode()
    assert Prediction.objects.count() == 0


def test_missing_fields_are_reported(client, trained_version):
    response = client.post(PREDICT_URL, {})
    assert response.status_code == 400
    assert set(response.context["form"].errors) == {"height", "weight"}
    assert Prediction.objects.count() == 0


def test_bounds_are_inclusive_at_the_top(client, trained_version):
    assert submit(client, height="300", weight="500").status_code == 200
    assert Prediction.objects.count() == 1


def test_without_a_model_the_form_renders_and_says_so(client):
    response = client.get(PREDICT_URL)
    assert response.status_code == 200
    assert "the model is not ready yet" in response.content.decode()


def test_without_a_model_submitting_answers_503_and_stores_nothing(client):
    response = submit(client)
    assert response.status_code == 503
    html = response.content.decode()
    assert "No prediction was made" in html
    assert "Traceback" not in html
    assert Prediction.objects.count() == 0


def test_staff_see_why_the_model_is_not_ready(staff_client):
    assert "python manage.py train_model" in staff_client.get(PREDICT_URL).content.decode()


def test_csrf_protection_is_on(trained_version):
    client = Client(enforce_csrf_checks=True)
    response = submit(client)
    assert response.status_code == 403
    assert Prediction.objects.count() == 0


def test_get_with_the_csrf_token_then_post_succeeds(trained_version):
    client = Client(enforce_csrf_checks=True)
    client.get(PREDICT_URL)
    token = client.cookies["csrftoken"].value
    response = client.post(PREDICT_URL, {"height": "90", "weight": "50", "csrfmiddlewaretoken": token})
    assert response.status_code == 200
    assert Prediction.objects.count() == 1


def test_history_sends_anonymous_visitors_to_login_and_back(client, trained_version, make_staff):
    response = client.get(HISTORY_URL)
    assert response.status_code == 302
    assert response.url == f"{reverse('login')}?next={HISTORY_URL}"

    make_staff("staff", group="viewer")
    login = client.post(response.url, {"username": "staff", "password": "pw-staff-for-tests", "next": HISTORY_URL})
    assert login.status_code == 302
    assert login.url == HISTORY_URL
    assert client.get(HISTORY_URL).status_code == 200


def test_history_is_refused_to_logged_in_non_staff(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("visitor", password="pw-for-tests-only"))
    assert client.get(HISTORY_URL).status_code == 403


def test_form_page_links_staff_to_the_history_and_hides_it_from_visitors(staff_client, trained_version):
    assert f'href="{HISTORY_URL}"' in staff_client.get(PREDICT_URL).content.decode()
    assert f'href="{HISTORY_URL}"' not in Client().get(PREDICT_URL).content.decode()


def test_unknown_page_is_a_friendly_404(client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert "Page not found" in response.content.decode()
