"""Prometheus metrics: the counters the site keeps, and what a scrape of /metrics reports (its view: web.views.site).

Under gunicorn every worker is its own process, so each one writes its counts to files in
PROMETHEUS_MULTIPROC_DIR (prometheus_client's multiprocess mode; gunicorn.conf.py sets the folder
up and clears it at start) and a scrape sums the files of all workers, the dead ones' included.
Without that variable (runserver, the tests) the counts live in the one process. Jobs are not
counted here: a scrape asks the database how many there are (predictor.jobs.collector), so every
host reports the same.
"""

import os
import time
from collections.abc import Iterable, Mapping

from django.db import transaction
from django.http import HttpRequest
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram
from prometheus_client.core import Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

# Methods outside this set share one label, so a client inventing methods cannot add series.
_KNOWN_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}
_UNMATCHED_ROUTE = "unmatched"

# ``species`` is the class answered, for every model: the label kept its first name so that dashboards
# written before models had names keep working.
PREDICTIONS = Counter(
    "mlsite_predictions",
    "Predictions stored, by model (its slug), the version that answered, the class answered and where they came from.",
    ["model", "model_version", "species", "source"],
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


def count_stored_predictions(*, model: str, model_version: int, source: str, species_counts: Mapping[str, int]) -> None:
    """Count stored predictions once their transaction commits: a rolled-back batch was never stored."""

    def count() -> None:
        for species, count in species_counts.items():
            if count:
                labels = {"model": model, "model_version": str(model_version), "species": species, "source": source}
                PREDICTIONS.labels(**labels).inc(count)

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


class _ThisProcess(Collector):
    """The default registry's metrics, for a site running as one process."""

    def collect(self) -> Iterable[Metric]:
        return REGISTRY.collect()


# What a scrape asks at scrape time besides the counters, such as the jobs in the database
# (predictor.jobs.collector); registered at start-up by predictor.apps.
_SCRAPE_COLLECTORS: list[Collector] = []


def register_scrape_collector(collector: Collector) -> None:
    if not any(type(known) is type(collector) for known in _SCRAPE_COLLECTORS):
        _SCRAPE_COLLECTORS.append(collector)


def scrape_registry() -> CollectorRegistry:
    """What one scrape reports: every worker's counts (or this process's) and the registered collectors."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(registry)
    else:
        registry.register(_ThisProcess())
    for collector in _SCRAPE_COLLECTORS:
        registry.register(collector)
    return registry
