"""The comparison's figures against a fixture counted by hand, and the page staff read them on."""

import datetime as dt

import pytest
from django.utils import timezone

from predictor.models import Prediction
from predictor.registry import comparison
from predictor.serving import candidates

pytestmark = pytest.mark.django_db

# (rows, who answered, the candidate's answer, the active version's answer, the actual species).
# "active" rows are a shadow's (the candidate's answer is the second opinion), "candidate" rows a canary's.
FIXTURE = [
    (4, "active", "Cat", "Cat", "Cat"),  # both right
    (3, "candidate", "Dog", "Dog", "Dog"),  # both right
    (6, "active", "Dog", "Cat", "Dog"),  # only the candidate right
    (3, "candidate", "Cat", "Dog", "Cat"),  # only the candidate right
    (1, "active", "Cat", "Dog", "Dog"),  # only the active version right
    (2, "active", "Dog", "Dog", "Cat"),  # both wrong
    (5, "active", "Cat", "Cat", None),  # not labelled
    (2, "candidate", "Dog", "Cat", None),  # not labelled, disagreeing
]
# By hand: 26 rows, 14 agreeing; 19 labelled, the candidate right on 16, the active version on 8;
# exactly one right on 10 (9 the candidate, 1 the active): McNemar's exact p = 2 * (1 + 10) / 2**10.


@pytest.fixture
def versions(make_version):
    active = make_version(is_active=True)
    candidate = make_version(stored=True)  # a candidate starts only once its artifact loads
    other = make_version()
    start = timezone.now() - dt.timedelta(hours=1)
    rows = []
    for count, answered_by, candidate_says, active_says, actual in FIXTURE:
        for _ in range(count):
            by_candidate = answered_by == "candidate"
            rows.append(
                Prediction(
                    created_at=start + dt.timedelta(seconds=len(rows)),
                    inputs={"height": 80, "weight": 40},
                    species=candidate_says if by_candidate else active_says,
                    probability=0.9,
                    probabilities={},
                    model_version=candidate if by_candidate else active,
                    shadow_version=active if by_candidate else candidate,
                    shadow_species=active_says if by_candidate else candidate_says,
                    shadow_probability=0.8,
                    actual_species=actual,
                )
            )
    # Not the pair's: scored by no candidate, or by another one.
    plain = {
        "model": active.model,
        "inputs": {"height": 80, "weight": 40},
        "probability": 0.9,
        "probabilities": {},
        "actual_species": "Dog",
    }
    rows += [Prediction(species="Cat", model_version=active, **plain) for _ in range(3)]
    rows += [
        Prediction(species="Cat", model_version=active, shadow_version=other, shadow_species="Dog", **plain)
        for _ in range(2)
    ]
    Prediction.objects.bulk_create(rows)
    return candidate, active


def test_the_figures_match_the_hand_count(versions, settings):
    settings.COMPARISON_MIN_DISCORDANT_ROWS = 10
    candidate, active = versions

    figures = comparison.compare(candidate)

    assert figures.active == active
    assert (figures.rows, figures.agreed, figures.labelled) == (26, 14, 19)
    assert figures.agreement == pytest.approx(14 / 26)
    assert (figures.candidate_correct, figures.active_correct) == (16, 8)
    assert (figures.candidate_accuracy, figures.active_accuracy) == (pytest.approx(16 / 19), pytest.approx(8 / 19))
    assert (figures.only_candidate_correct, figures.only_active_correct) == (9, 1)
    assert figures.p_value == pytest.approx(22 / 1024)
    assert figures.species == ("Cat", "Dog")
    assert figures.candidate_confusion == ((7, 2), (1, 9))  # [actual][answer]
    assert figures.active_confusion == ((4, 5), (6, 4))
    assert figures.better == candidate
    assert f"{candidate} is more accurate than {active}" in figures.note and "p = 0.021" in figures.note


def test_too_few_labelled_rows_says_so_instead_of_naming_a_winner(versions, settings):
    settings.COMPARISON_MIN_DISCORDANT_ROWS = 11
    figures = comparison.compare(versions[0])
    assert figures.better is None and not figures.enough_labelled
    assert "Too few labelled rows" in figures.note and "10 labelled rows" in figures.note


def test_nothing_labelled_and_nothing_scored_have_no_p_value(make_version):
    active, candidate = make_version(is_active=True), make_version()
    figures = comparison.compare(candidate)
    assert (figures.rows, figures.agreement, figures.p_value, figures.better) == (0, None, None, None)
    assert figures.agreement_percent == "—" and "No row both versions scored is labelled" in figures.note
    assert comparison.compare(active).active is None  # the active version has nothing to be compared with


def test_the_disagreements_are_listed_newest_first_with_both_answers(versions, settings):
    candidate, active = versions
    listed = comparison.disagreements(candidate, active)
    assert len(listed) == 12
    assert [row.prediction.created_at for row in listed] == sorted(
        (r.prediction.created_at for r in listed), reverse=True
    )
    newest = listed[0]
    assert (newest.candidate_says, newest.active_says, newest.prediction.model_version) == ("Dog", "Cat", candidate)
    assert all(row.candidate_says != row.active_says for row in listed)
    settings.COMPARISON_DISAGREEMENTS_SHOWN = 5
    assert [row.prediction for row in comparison.disagreements(candidate, active)] == [r.prediction for r in listed[:5]]


def test_the_page_shows_the_figures_side_by_side_and_the_disagreements_to_label(client, make_staff, versions):
    candidate, active = versions
    candidates.start_shadow(candidate.version)
    client.force_login(make_staff("lena", group="labeller"))

    html = client.get(f"/models/{candidate.version}/comparison/").content.decode()

    for figure in ("53.8%", "84.2%", "42.1%", "0.021", ">26<", ">19<"):
        assert figure in html, figure
    assert html.count("<table") == 3  # two confusion matrices and the disagreements
    assert html.count('class="label-form"') == 12  # each disagreement can be labelled from here
    assert 'value="promote"' not in html  # a labeller may not promote
    assert " style=" not in html and "<script>" not in html  # the site's CSP: static files only
