"""One answer per form page, and a permanent link to it.

The form's POST is answered with the result page itself, not with a redirect to it: one request
per prediction instead of two (``bench/profile_requests.py`` measures both in one run). Two things
keep that honest, and both live here:

- each blank form carries a random submission key, and a form sent again with the same key and
  measurements (a double click, a reload that re-posts) gets the prediction stored the first
  time, never a second one (a unique constraint on ``Prediction.submission_key``);
- the result page names its signed permanent link, and ``static/predictor/permalink.js`` swaps
  the address bar to it, so a reload or a bookmark reads the stored answer. The signature means
  nobody can walk other visitors' predictions by changing a number.
"""

import re
import secrets

from django.core import signing
from django.urls import reverse

from predictor.history import writer
from predictor.models import Prediction
from predictor.serving.results import PredictionResult

SUBMISSION_KEY = re.compile(r"[A-Za-z0-9_-]{16,64}")
PERMALINK_SALT = "predictor.result"


def new_submission_key() -> str:
    return secrets.token_urlsafe(16)


def is_valid_submission_key(key: str) -> bool:
    return bool(SUBMISSION_KEY.fullmatch(key))


def store_form_answer(*, result: PredictionResult, submission_key: str | None) -> Prediction:
    """Store a form's answer once per submission key; the same page sent with new measurements is a new question."""
    stored = writer.record_prediction(result=result, submission_key=submission_key)
    if stored.inputs == result.inputs:
        return stored  # just stored, or stored the first time this form page was sent
    return writer.record_prediction(result=result)


def permalink(prediction: Prediction) -> str:
    """The same link for the same answer every time: a reload keeps the address a visitor opened or shared."""
    return reverse("predictor:result", args=[signing.Signer(salt=PERMALINK_SALT).sign_object(prediction.pk)])


def prediction_id(token: str) -> int | None:
    """The prediction a permanent link's token names, or None when it is not one this site signed.

    Links made before 30 Nov 2026 also carry the time they were made (``signing.dumps``): they still open.
    """
    readers = (signing.Signer(salt=PERMALINK_SALT).unsign_object, lambda old: signing.loads(old, salt=PERMALINK_SALT))
    for read in readers:
        try:
            value = read(token)
        except (signing.BadSignature, ValueError):  # ValueError: a token of the other kind
            continue
        return value if isinstance(value, int) else None
    return None
