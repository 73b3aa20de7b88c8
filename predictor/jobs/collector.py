"""mlsite_jobs{status} on /metrics: jobs counted in the database at scrape time, so every host reports the same.

``predictor.apps`` registers it with the metrics at start-up (``metrics.register_scrape_collector``).
"""

from collections.abc import Iterable

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from . import runner

JOB_STATUSES = ("queued", "running", "failed")  # always reported, 0 when there are none


class JobsCollector(Collector):
    def collect(self) -> Iterable[Metric]:
        counts = runner.counts_by_status()
        family = GaugeMetricFamily(
            "mlsite_jobs", "Background jobs by status, counted in the database at scrape time.", labels=["status"]
        )
        for status in sorted({*JOB_STATUSES, *counts}):
            family.add_metric([status], counts.get(status, 0))
        return [family]
