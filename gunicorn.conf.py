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
errorlog = "-"
accesslog = os.environ.get("WEB_ACCESS_LOG", "-") or None  # empty: no access log
