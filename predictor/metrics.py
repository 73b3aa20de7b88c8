"""Prometheus metrics: the counters the site keeps, and /metrics, which reports them.

Under gunicorn every worker is its own process, so each one writes its counts to files in
PROMETHEUS_MULTIPROC_DIR (prometheus_client's multiprocess mode; gunicorn.conf.py sets the folder
up and clears it at start) and a scrape sums the files of all workers, the dead ones' included.
Without that variable (runserver, the tests) the counts live in the one process. Jobs are not
counted here: a scrape asks the database how many there are, so every host reports the same.
"""

import hmac
import importlib
import os
import time
from collections.abc import Iterable, Mapping

from django.conf import settings
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.translation import gettext
from django.views.decorators.http import require_safe
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from . import limits, permissions
from .client import is_local

# Who may scrape besides local callers and the token's holders: staff who may see the model versions.
SCRAPE_PERMISSION = permissions.VIEW_MODELS
JOB_STATUSES = ("queued", "running", "failed")  # always reported, 0 when there are none
# Methods outside this set share one label, so a client inventing methods cannot add series.
_KNOWN_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}
_UNMATCHED_ROUTE = "unmatched"

PREDICTIONS = Counter(
    "mlsite_predictions",
    "Predictions stored, by the model version that answered, the species answered and where they came from.",
    ["model_version", "species", "source"],
)
REQUEST_SECONDS = Histogram(
    "mlsite_request_duration_seconds",
    "Time from a request's arrival in Django to its answer, by route name (not path) and method.",
    ["route", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
MODEL_REFUSALS = Counter(
    "mlsite_model_refusals",
    "Refusals by the model service: 'artifact' when a process refuses to load an active version "
    "(missing or altered artifact; once per version and process), 'not_ready' for each prediction "
    "or batch refused because no model is ready.",
    ["reason"],
)
MODEL_RELOADS = Counter("mlsite_model_reloads", "Model versions loaded by a server process (each start, each switch).")
LIMIT_COUNTS_IN_DATABASE = Counter(
    "mlsite_limit_counts_in_database",
    "Rate-limit counts made in the database because the Redis at REDIS_URL did not answer.",
)


def count_stored_predictions(*, model_version: int, source: str, species_counts: Mapping[str, int]) -> None:
    """Count stored predictions once their transaction commits: a rolled-back batch was never stored."""

    def count() -> None:
        for species, count in species_counts.items():
            if count:
                PREDICTIONS.labels(model_version=str(model_version), species=species, source=source).inc(count)

    transaction.on_commit(count)


def count_artifact_refused() -> None:
    MODEL_REFUSALS.labels(reason="artifact").inc()


def count_not_ready() -> None:
    MODEL_REFUSALS.labels(reason="not_ready").inc()


def count_reload() -> None:
    MODEL_RELOADS.inc()


def count_limit_fallback() -> None:
    LIMIT_COUNTS_IN_DATABASE.inc()


def route_of(request: HttpRequest) -> str:
    """The request's route for the latency labels: its URL's name, else its pattern; never the raw path."""
    match = getattr(request, "resolver_match", None)
    if match is None:
        return _UNMATCHED_ROUTE  # a 404, or answered by a middleware before URL resolution
    return match.view_name if match.url_name else match.route


class RequestMetricsMiddleware:
    """Times every request for REQUEST_SECONDS (second in MIDDLEWARE: the request id comes first)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        method = request.method if request.method in _KNOWN_METHODS else "other"
        REQUEST_SECONDS.labels(route=route_of(request), method=method).observe(time.perf_counter() - started)
        return response


class JobsCollector(Collector):
    """mlsite_jobs{status}: asked of predictor.jobs at scrape time, when the site has that module."""

    def collect(self) -> Iterable[Metric]:
        try:
            jobs = importlib.import_module("predictor.jobs")
        except ModuleNotFoundError as missing:
            if missing.name != "predictor.jobs":
                raise
            return []
        counts: Mapping[str, int] = jobs.counts_by_status()
        family = GaugeMetricFamily(
            "mlsite_jobs", "Background jobs by status, counted in the database at scrape time.", labels=["status"]
        )
        for status in sorted({*JOB_STATUSES, *counts}):
            family.add_metric([status], counts.get(status, 0))
        return [family]


class _ThisProcess(Collector):
    """The default registry's metrics, for a site running as one process."""

    def collect(self) -> Iterable[Metric]:
        return REGISTRY.collect()


def scrape_registry() -> CollectorRegistry:
    """What one scrape reports: every worker's counts (or this process's) and the jobs."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(registry)
    else:
        registry.register(_ThisProcess())
    registry.register(JobsCollector())
    return registry


def _bearer_token(request: HttpRequest) -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _token_accepted(request: HttpRequest, token: str) -> bool:
    """Whether ``token`` is DJANGO_METRICS_TOKEN; wrong ones count like wrong API keys (Throttled past the limit)."""
    if not token:
        return False
    limits.refuse_when_spent(limits.API_KEY_FAILURES, request)
    expected = settings.METRICS_TOKEN
    if expected and hmac.compare_digest(token.encode(), expected.encode()):
        return True
    limits.count_request(limits.API_KEY_FAILURES, request)
    return False


def _plain(text: str, *, status: int) -> HttpResponse:
    return HttpResponse(text, status=status, content_type="text/plain; charset=utf-8")


@require_safe
def metrics_view(request: HttpRequest) -> HttpResponse:
    """GET /metrics, for local callers, the holder of DJANGO_METRICS_TOKEN and permitted staff.

    Anyone else is told there is no such page (404), unless they show they know it exists: a
    wrong token or a staff account without the permission is refused with 403.
    """
    token = _bearer_token(request)
    try:
        allowed = is_local(request) or _token_accepted(request, token)
    except limits.Throttled as refusal:
        response = _plain(refusal.message, status=429)
        response["Retry-After"] = str(refusal.retry_after)
        return response
    if allowed or permissions.allows(request.user, SCRAPE_PERMISSION):
        response = HttpResponse(generate_latest(scrape_registry()), content_type=CONTENT_TYPE_LATEST)
        response["Cache-Control"] = "no-store"
        return response
    if token:
        return _plain(gettext("Wrong metrics token."), status=403)
    if request.user.is_authenticated:
        return _plain(permissions.refusal(request.user, SCRAPE_PERMISSION), status=403)
    raise Http404
