"""Rate limits per client address: how many predictions, batch items, log-ins and wrong API keys.

Each limit is a fixed window, counted per client in predictor.ops.counters (a database table, or Redis
with REDIS_URL), so every worker and host shares the counts; a request adds one, a batch adds its
items. The client is
predictor.ops.client.client_ip. A refusal is ``Throttled``: a 429 with Retry-After, answered as the
JSON API's error by predictor.api.endpoints and as the 429 page by ``limit_page`` here. Log-in lock-outs per
address and username are django-axes's; ``lockout_response`` gives them the same page.
"""

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import wraps

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.timesince import timeuntil
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from predictor.models import ApiKey
from predictor.ops import api_keys
from predictor.ops.client import client_ip
from predictor.ops.counters import counters

# A counter outlives its window by this much, so a late count never finds it deleted.
EXPIRY_MARGIN_SECONDS = 5


@dataclass(frozen=True)
class Limit:
    group: str  # the counter's name
    setting: str  # how many are allowed per period
    period_seconds: int
    refusal: Promise  # said with %(limit)s and %(wait)s (and %(left)s for batch items)

    @property
    def allowed(self) -> int:
        return getattr(settings, self.setting)

    @property
    def rate(self) -> str:
        return f"{self.allowed}/{self.period_seconds}s"


PREDICTIONS = Limit(
    "predictions",
    "RATE_LIMIT_PREDICTIONS_PER_MINUTE",
    60,
    _("Too many predictions from your address: at most %(limit)s a minute. Try again in %(wait)s."),
)
BATCH_ROWS = Limit(
    "batch_rows",
    "RATE_LIMIT_BATCH_ROWS_PER_HOUR",
    3600,
    _("Too many batch items from your address: at most %(limit)s an hour, %(left)s left now. Try again in %(wait)s."),
)
LOGINS = Limit(
    "logins",
    "RATE_LIMIT_LOGINS_PER_HOUR",
    3600,
    _("Too many log-in attempts from your address: at most %(limit)s an hour. Try again in %(wait)s."),
)
API_KEY_FAILURES = Limit(
    "api_key_failures",
    "RATE_LIMIT_API_KEY_FAILURES_PER_MINUTE",
    60,
    _("Too many wrong API keys from your address: at most %(limit)s a minute. Try again in %(wait)s."),
)
PASSWORD_RESETS = Limit(
    "password_resets",
    "RATE_LIMIT_PASSWORD_RESETS_PER_HOUR",
    3600,
    _("Too many password reset requests from your address: at most %(limit)s an hour. Try again in %(wait)s."),
)


class Throttled(Exception):
    """A request over a limit: answer 429 with ``message`` and Retry-After ``retry_after`` seconds."""

    def __init__(self, message: str, *, retry_after: int):
        super().__init__(message)
        self.message = message
        self.retry_after = max(1, retry_after)


def count_request(limit: Limit, request: HttpRequest) -> None:
    """Count this request against ``limit``; raise Throttled when it is one too many."""
    if not settings.RATE_LIMITS_ENABLED:
        return
    window = _Window.now(limit, request)
    if window.add(1) > limit.allowed:
        raise _throttled(limit, window.seconds_left)


def refuse_when_spent(limit: Limit, request: HttpRequest) -> None:
    """Raise Throttled if this client has used all of ``limit``, without counting this request."""
    if not settings.RATE_LIMITS_ENABLED:
        return
    window = _Window.now(limit, request)
    if counters().read(window.key) >= limit.allowed:
        raise _throttled(limit, window.seconds_left)


def spend(limit: Limit, request: HttpRequest, amount: int) -> None:
    """Take ``amount`` from this client's budget, or raise Throttled (taking nothing) if it would overdraw it."""
    if not settings.RATE_LIMITS_ENABLED:
        return
    window = _Window.now(limit, request)
    used = window.add(amount)
    if used > limit.allowed:
        # Given back at once: concurrent requests can never overdraw together, at worst one is refused early.
        window.add(-amount)
        raise _throttled(limit, window.seconds_left, left=max(0, limit.allowed - (used - amount)))


def authenticate_api_key(request: HttpRequest, secret: str | None) -> ApiKey | None:
    """api_keys.authenticate, refused with Throttled once a client has sent too many wrong keys."""
    if not secret:
        return None  # no key sent: nothing guessed
    refuse_when_spent(API_KEY_FAILURES, request)
    api_key = api_keys.authenticate(secret)
    if api_key is None:
        count_request(API_KEY_FAILURES, request)
    return api_key


def limit_page(limit: Limit, *, method: str = "POST") -> Callable:
    """A view decorator: count ``method`` requests against ``limit``, answering the 429 page past it."""

    def decorate(view):
        @wraps(view)
        def limited_view(request, *args, **kwargs):
            if request.method == method:
                try:
                    count_request(limit, request)
                except Throttled as refusal:
                    return too_many_requests_page(request, refusal)
            return view(request, *args, **kwargs)

        return limited_view

    return decorate


def too_many_requests_page(request: HttpRequest, refusal: Throttled) -> HttpResponse:
    response = render(request, "429.html", {"message": refusal.message}, status=429)
    response["Retry-After"] = str(refusal.retry_after)
    return response


def lockout_response(request: HttpRequest, original_response: HttpResponse | None, credentials: dict | None):
    """django-axes's answer to a locked-out log-in (AXES_LOCKOUT_CALLABLE): the 429 page."""
    seconds = int(settings.AXES_COOLOFF_TIME.total_seconds())
    message = gettext("Too many failed log-ins for this username from your address. Try again in %(wait)s.")
    return too_many_requests_page(request, Throttled(message % {"wait": wait_text(seconds)}, retry_after=seconds))


def wait_text(seconds: int) -> str:
    """How long to wait, as people say it: seconds under a minute, else whole minutes or more, rounded up."""
    seconds = max(1, seconds)
    if seconds < 60:
        return ngettext("%(count)d second", "%(count)d seconds", seconds) % {"count": seconds}
    now = timezone.now()
    return timeuntil(now + timedelta(minutes=math.ceil(seconds / 60)), now, depth=1)


@dataclass(frozen=True)
class _Window:
    """This client's counter for ``limit`` in the current fixed window (windows end on multiples of the period)."""

    key: str
    ends_at: int

    @classmethod
    def now(cls, limit: Limit, request: HttpRequest) -> "_Window":
        period = limit.period_seconds
        ends_at = (int(time.time()) // period + 1) * period
        return cls(f"limits:{limit.group}:{ends_at}:{client_ip(request)}", ends_at)

    @property
    def seconds_left(self) -> int:
        return self.ends_at - int(time.time())

    def add(self, amount: int) -> int:
        return counters().add(self.key, amount, expires_at=self.ends_at + EXPIRY_MARGIN_SECONDS)


def _throttled(limit: Limit, seconds: int, **values) -> Throttled:
    seconds = max(1, seconds)
    message = str(limit.refusal) % {"limit": f"{limit.allowed:,}", "wait": wait_text(seconds), **values}
    return Throttled(message, retry_after=seconds)
