"""gunicorn's settings for this site, in one place: read by `make serve`, the tests' live servers
(predictor/tests/live_server.py) and the benchmarks. The command line adds only the address.

Threads, not sync workers: a sync worker belongs to one client until that client has sent its
whole request, so four slow uploads left no worker for anyone (/healthz timed out after 12 s).
A gthread worker waits for a new connection's first bytes in its poller, not in a thread, and
serves ``threads`` requests at once; bench/slow_clients.py measures what that buys
(docs/security.md). A client that trickles a body still holds one thread until the request is
done: on the open internet, put a buffering proxy (nginx) in front, which sends on only whole
requests.
"""

import os
import shutil
import tempfile
from pathlib import Path

from gunicorn.http import wsgi

wsgi_app = "mlsite.wsgi"
workers = int(os.environ.get("WEB_CONCURRENCY", "") or 4)
worker_class = "gthread"
threads = int(os.environ.get("WEB_THREADS", "") or 8)
# Seconds a worker may go without reporting to the arbiter before it is restarted. With threads it
# reports while requests run, so this bounds a stuck worker, not a long request: a million-row
# upload took 21-30 s, and a staff page's queries stop after STAFF_QUERY_TIMEOUT_MS.
timeout = 120
graceful_timeout = 30  # a restart lets running requests finish for this long
keepalive = 5  # seconds an idle kept-alive connection is held open, in the poller
backlog = 4096
# gunicorn answers a request line or header over these itself, with an HTML page Django never sees
# (even under /api/), so they are set where only a broken or hostile client reaches them: the
# longest request line gunicorn allows, and 16 KiB a header (a browser's cookies for a domain,
# 8 KB at most, had been refused with 431). 100 headers (gunicorn's default) is plenty.
limit_request_line = 8190
limit_request_field_size = 16384
limit_request_fields = 100
errorlog = "-"
accesslog = os.environ.get("WEB_ACCESS_LOG", "-") or None  # empty: no access log
# gunicorn's usual line plus the request's id (predictor/ops/request_id.py), to find its other log lines.
access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %({x-request-id}o)s'


# No "Server: gunicorn" on every answer: gunicorn has no setting for it, so its response class
# leaves the line out. Set here, in the arbiter, before it forks the workers.
_gunicorn_default_headers = wsgi.Response.default_headers


def _default_headers_without_server(response: wsgi.Response) -> list[str]:
    return [line for line in _gunicorn_default_headers(response) if not line.lower().startswith("server:")]


wsgi.Response.default_headers = _default_headers_without_server

# Metrics (predictor/ops/metrics.py): each worker writes its counts to files in PROMETHEUS_MULTIPROC_DIR
# and a scrape sums every worker's. The folder is set here, before any worker imports
# prometheus_client (which reads the variable once), and emptied at each start: counts begin at
# zero with a new set of workers, which Prometheus reads as a restart. Unset: a fresh temporary
# folder, removed at exit, so two instances on one machine never share one.
_created_metrics_dir = None


def on_starting(server):
    global _created_metrics_dir
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
    if folder:
        # prometheus_client's files only ("counter_<pid>.db"), and only a dead process's: a job worker
        # started beside gunicorn with the same folder (make serve) keeps counting into its own.
        for counts in Path(folder).glob("*_*.db"):
            if not _process_alive(counts.stem.rpartition("_")[2]):
                counts.unlink()
    else:
        _created_metrics_dir = os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="mlsite-metrics-")


def _process_alive(pid: str) -> bool:
    try:
        os.kill(int(pid), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True  # alive, someone else's
    return True


def child_exit(server, worker):
    # A dead worker's counters and histograms still count; its live gauges must not.
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    if _created_metrics_dir:
        shutil.rmtree(_created_metrics_dir, ignore_errors=True)
