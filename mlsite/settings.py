"""Settings for the prediction site.

Every deployment difference comes from an environment variable (listed with its default in the
README and in .env.example). The defaults are the safe ones: DEBUG off, HTTPS protections on,
no built-in secret key outside DEBUG. On a development machine, `make run` writes the local ones
(DEBUG on, a random secret key) to .env, read below; a deployment has no .env.
"""

import os
import socket
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from dotenv import load_dotenv

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean: use 1/0, true/false, yes/no or on/off.")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a whole number.") from None


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name, "")
    if not raw.strip():
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


# Variables already in the environment win over the file. Tests (pytest sets PYTEST_VERSION, which
# their subprocesses inherit) and throw-away servers (DJANGO_READ_DOT_ENV=0) never read it, so a
# developer's .env cannot change what they run against.
if env_bool("DJANGO_READ_DOT_ENV", "PYTEST_VERSION" not in os.environ):
    load_dotenv(BASE_DIR / ".env", override=False)

DEBUG = env_bool("DJANGO_DEBUG", False)

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is not set. Set it to a long random string, for example the output of "
            "`python -c 'import secrets; print(secrets.token_urlsafe(50))'`, "
            "or, on a development machine, run `make run` once: it writes DJANGO_DEBUG=1 and a key to .env."
        )
    # Reached only with DEBUG on (a development machine), never in production.
    SECRET_KEY = "django-insecure-local-development-only-never-used-with-debug-off"  # nosec B105

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

# HTTPS protections: on whenever DEBUG is off, each with its own switch to turn it off
# (a local `make serve` over plain HTTP turns off the redirect and the secure cookies).
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", not DEBUG)
# Load balancers probe the health check over plain HTTP inside the network; it holds no secrets.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SESSION_COOKIE_SECURE = env_bool("DJANGO_SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("DJANGO_CSRF_COOKIE_SECURE", not DEBUG)
SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", not DEBUG)
_proxy_ssl_header = env_list("DJANGO_SECURE_PROXY_SSL_HEADER", [])
if _proxy_ssl_header and len(_proxy_ssl_header) != 2:
    raise ImproperlyConfigured(
        "DJANGO_SECURE_PROXY_SSL_HEADER must be 'HEADER,value', for example 'HTTP_X_FORWARDED_PROTO,https'."
    )
SECURE_PROXY_SSL_HEADER = tuple(_proxy_ssl_header) or None
# The request header (as a META key, e.g. HTTP_X_FORWARDED_FOR) whose last entry is the client's
# address, set by a proxy you run in front; empty: the connection's address (predictor/ops/client.py).
CLIENT_IP_HEADER = os.environ.get("DJANGO_CLIENT_IP_HEADER", "").strip()

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_admin_lightweight_date_hierarchy",
    "ninja",  # serves the API docs' Swagger UI from static files instead of a CDN
    "predictor",
]

MIDDLEWARE = [
    # First: every later log line and answer carries the request's id, and the timing covers the rest (metrics).
    "predictor.ops.request_id.RequestIdMiddleware",
    "predictor.ops.metrics.RequestMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The language: the one chosen with the switcher (a cookie), else the browser's Accept-Language.
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # Request bodies over their path's cap: 413 before any view (or the CSRF check, in process_view)
    # reads them; after the user and messages are known, so the refusal page has the site's header.
    "predictor.ops.middleware.RequestBodyLimitMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # After the CSRF check and the messages: an admin selection that is not ids is refused with a message.
    "predictor.ops.middleware.AdminSelectionMiddleware",
    "predictor.ops.middleware.DatabaseUnavailableMiddleware",
    "predictor.ops.middleware.SecurityHeadersMiddleware",
]

ROOT_URLCONF = "mlsite.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "predictor.web.context_processors.answering_model",
                "predictor.web.context_processors.product_name",
            ],
        },
    },
]

WSGI_APPLICATION = "mlsite.wsgi.application"

CONN_MAX_AGE = env_int("DJANGO_CONN_MAX_AGE", 60)
DATABASE_URL = os.environ.get("DATABASE_URL", "").strip()
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=CONN_MAX_AGE, conn_health_checks=True)}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("DJANGO_SQLITE_PATH", "") or BASE_DIR / "db.sqlite3",
            "CONN_MAX_AGE": CONN_MAX_AGE,
            "OPTIONS": {
                # Several workers write at once: WAL lets readers run beside the writer, IMMEDIATE
                # takes the write lock at BEGIN (no deadlocked lock upgrades), and the timeout makes
                # a busy writer wait instead of failing with "database is locked". A 64 MiB page
                # cache (the default is 2 MiB) keeps a large batch insert's index pages in memory:
                # a million-row upload stored in 36 s instead of 58 s.
                "transaction_mode": "IMMEDIATE",
                "timeout": env_int("DJANGO_SQLITE_TIMEOUT", 20),
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA cache_size=-65536;",
            },
        }
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "predictor:history"

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("zh-hans", "简体中文")]
LOCALE_PATHS = [BASE_DIR / "locale"]
# Dates and numbers: one format per language, everywhere (mlsite/formats/<language>/formats.py).
FORMAT_MODULE_PATH = ["mlsite.formats"]
TIME_ZONE = os.environ.get("DJANGO_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.environ.get("DJANGO_STATIC_ROOT", "") or BASE_DIR / "staticfiles")

ML_ARTIFACTS_DIR = Path(os.environ.get("ML_ARTIFACTS_DIR", "") or BASE_DIR / "ml_artifacts")
BATCH_UPLOADS_DIR = Path(os.environ.get("BATCH_UPLOADS_DIR", "") or BASE_DIR / "batch_uploads")
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# The header and the blank form are rendered once per process (predictor/templatetags/rendered_once.py);
# off only to measure what that buys (bench/profile_requests.py --no-rendered-once).
RENDER_ONCE = env_bool("DJANGO_RENDER_ONCE", True)

STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Hashed, compressed files served by WhiteNoise; needs `collectstatic` (done by `make serve`).
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
    # Trained models. Only predictor.registry.artifacts reads and writes here; point the location (or the
    # backend) at shared storage so every server sees the same artifacts.
    "ml_artifacts": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": ML_ARTIFACTS_DIR, "base_url": None},
    },
    # Uploaded batch CSVs, kept to build their results download (a staff-only view, never public media).
    "batch_uploads": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": BATCH_UPLOADS_DIR, "base_url": None},
    },
}

# How often (seconds) each server process asks the database which model version is active.
ML_MODEL_CHECK_SECONDS = float(os.environ.get("ML_MODEL_CHECK_SECONDS", "") or 1.0)
# The site's name in every page's header and title; empty: "Animal predictor" while the animals model is
# the only one served, "Predictor" once others are (predictor.web.context_processors.product_name).
SITE_NAME = os.environ.get("DJANGO_SITE_NAME", "")

# Request bodies other than file uploads (the JSON API): the largest API batch, 10,000 items, is
# well under 1 MB, so the default 2.5 MB refuses only bodies nobody needs to send.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DJANGO_DATA_UPLOAD_MAX_MEMORY_SIZE", 2_621_440)
# CSV batch uploads: larger files are refused with a message. Uploads over 2.5 MB are spooled to a
# temporary file, not held in memory; put the same cap on the proxy in front (client_max_body_size).
BATCH_UPLOAD_MAX_BYTES = env_int("BATCH_UPLOAD_MAX_BYTES", 100_000_000)
BATCH_UPLOAD_MAX_ROWS = env_int("BATCH_UPLOAD_MAX_ROWS", 1_000_000)
# The longest line a batch CSV may have: a file without line ends is refused at once, not read whole.
BATCH_UPLOAD_MAX_LINE_BYTES = env_int("BATCH_UPLOAD_MAX_LINE_BYTES", 1_000_000)

# Every line names the request it was written for (predictor/ops/request_id.py); DJANGO_LOG_FORMAT
# (metrics block below) picks the plain lines or one JSON object per line.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "predictor.ops.request_id.RequestIdFilter"}},
    "formatters": {
        "plain": {"format": "{asctime} {levelname} [{request_id}] {name}: {message}", "style": "{"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "{levelname}{name}{process}{message}{request_id}",
            "style": "{",
            "timestamp": "time",  # ISO 8601 in UTC, comparable across hosts
            "rename_fields": {"levelname": "level", "name": "logger"},
            "static_fields": {"host": socket.gethostname()},
        },
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["request_id"]}},
    "root": {"handlers": ["console"], "level": os.environ.get("DJANGO_LOG_LEVEL", "INFO")},
}

# --- Limits: request rate limits, log-in lock-outs, password reset mail, idempotent API writes ---
# (predictor/ops/limits.py, predictor/ops/idempotency.py, docs/security.md). Every limit counts per
# client address, by the rule in predictor/ops/client.py.
RATE_LIMITS_ENABLED = env_bool("RATE_LIMITS_ENABLED", True)
# Form submissions, POST /api/v1/predict and POST /api/v1/predict/batch requests, one budget.
RATE_LIMIT_PREDICTIONS_PER_MINUTE = env_int("RATE_LIMIT_PREDICTIONS_PER_MINUTE", 60)
# Items in API batches, on top of the request count: a batch holds up to 10,000.
RATE_LIMIT_BATCH_ROWS_PER_HOUR = env_int("RATE_LIMIT_BATCH_ROWS_PER_HOUR", 20_000)
# Log-in attempts (site and admin), whatever the username: slows password spraying across users.
RATE_LIMIT_LOGINS_PER_HOUR = env_int("RATE_LIMIT_LOGINS_PER_HOUR", 100)
RATE_LIMIT_API_KEY_FAILURES_PER_MINUTE = env_int("RATE_LIMIT_API_KEY_FAILURES_PER_MINUTE", 20)
RATE_LIMIT_PASSWORD_RESETS_PER_HOUR = env_int("RATE_LIMIT_PASSWORD_RESETS_PER_HOUR", 5)
# Counters (predictor/ops/counters.py): in the database's predictor_limitcounter table unless REDIS_URL
# names a Redis, shared by every worker and host either way; in Redis, under this key prefix.
REDIS_URL = os.environ.get("REDIS_URL", "").strip()
REDIS_KEY_PREFIX = os.environ.get("REDIS_KEY_PREFIX", "mlsite")
# A Redis that does not answer within this many seconds is taken to be down: the counts go to the
# database meanwhile, and Redis is tried again after REDIS_RETRY_SECONDS (docs/deployment.md).
REDIS_TIMEOUT_SECONDS = float(os.environ.get("REDIS_TIMEOUT_SECONDS", "") or 0.5)
REDIS_RETRY_SECONDS = float(os.environ.get("REDIS_RETRY_SECONDS", "") or 5)
INSTALLED_APPS += ["predictor.apps.AxesConfig"]  # django-axes, its name translated
MIDDLEWARE += ["axes.middleware.AxesMiddleware"]
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_ENABLED = RATE_LIMITS_ENABLED
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_LOCKOUT_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["ip_address", "username"]]
AXES_CLIENT_IP_CALLABLE = "predictor.ops.client.client_ip"
AXES_LOCKOUT_CALLABLE = "predictor.ops.limits.lockout_response"
AXES_DISABLE_ACCESS_LOG = True  # successful log-ins are not what this guards
AXES_VERBOSE = False
# Password reset by mail: offered only when a mail server is named; without one its pages are 404.
EMAIL_HOST = os.environ.get("DJANGO_EMAIL_HOST", "").strip()
EMAIL_PORT = env_int("DJANGO_EMAIL_PORT", 587)
EMAIL_HOST_USER = os.environ.get("DJANGO_EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("DJANGO_EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("DJANGO_EMAIL_USE_TLS", True)
DEFAULT_FROM_EMAIL = os.environ.get("DJANGO_DEFAULT_FROM_EMAIL", "") or "webmaster@localhost"
# API writes sent with an Idempotency-Key header are answered once and replayed for this long.
IDEMPOTENCY_KEY_HOURS = env_int("IDEMPOTENCY_KEY_HOURS", 24)

# --- Inputs, headers, health and errors (issue 13: inputs) ---
# The health check's SQLite write probe waits at most this long (ms) for the write lock before it
# reports "degraded": a load balancer must not wait the 20 s a prediction would.
HEALTH_WRITE_PROBE_MS = env_int("HEALTH_WRITE_PROBE_MS", 200)
# What a 503 for a busy or unreachable database asks clients to wait (seconds), page and API alike.
DATABASE_RETRY_AFTER_SECONDS = env_int("DATABASE_RETRY_AFTER_SECONDS", 5)
# Browser protections sent with every answer (predictor.ops.middleware.SecurityHeadersMiddleware). Scripts
# and styles come from the site's own static files only: no inline script or style attribute anywhere
# (the API docs and the admin included); data: images are the Swagger UI's icons. Empty: this
# default; "off": no header (say, when the proxy in front sets its own).
DEFAULT_CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
# Features no page uses are switched off, for this site and anything it might embed. Only features
# browsers know: Chromium logs an error on every page for one it does not (it has no `bluetooth`).
DEFAULT_PERMISSIONS_POLICY = (
    "camera=(), microphone=(), geolocation=(), payment=(), usb=(), serial=(), hid=(), "
    "midi=(), magnetometer=(), gyroscope=(), accelerometer=(), display-capture=()"
)


def env_header(name: str, default: str) -> str:
    raw = os.environ.get(name, "").strip()
    return "" if raw.lower() == "off" else raw or default


CONTENT_SECURITY_POLICY = env_header("DJANGO_CONTENT_SECURITY_POLICY", DEFAULT_CONTENT_SECURITY_POLICY)
PERMISSIONS_POLICY = env_header("DJANGO_PERMISSIONS_POLICY", DEFAULT_PERMISSIONS_POLICY)

# Bounds: every request, upload and staff query has a limit (docs/security.md "Bounds").
# Request bodies: DATA_UPLOAD_MAX_MEMORY_SIZE above caps every path but the batch upload, whose cap
# is BATCH_UPLOAD_MAX_BYTES (predictor.ops.middleware.RequestBodyLimitMiddleware answers 413 beyond).
# A staff page's queries are stopped after this many milliseconds (0: no limit) and answered with a
# page asking for fewer days, well before gunicorn's worker timeout (gunicorn.conf.py).
STAFF_QUERY_TIMEOUT_MS = env_int("DJANGO_STAFF_QUERY_TIMEOUT_MS", 10_000)
# Kept uploads (the source of each batch's results download) are deleted after this many days by
# `manage.py delete_old_uploads` (run it daily, e.g. from cron); the stored predictions stay.
BATCH_UPLOAD_RETENTION_DAYS = env_int("BATCH_UPLOAD_RETENTION_DAYS", 30)
# The longest line `train_model --data` accepts: a file with no line ends is refused, not read whole.
TRAINING_MAX_LINE_BYTES = env_int("TRAINING_MAX_LINE_BYTES", 1_000_000)


def create_private_file(path: Path) -> None:
    """Create ``path`` readable by its owner only, or make an existing one so (when we own it)."""
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        if path.is_file() and path.stat().st_uid == os.getuid() and path.stat().st_mode & 0o077:
            path.chmod(0o600)
    except FileNotFoundError:
        pass  # no such folder yet: the database cannot be opened either, and says so


# The SQLite database holds every prediction and the staff accounts: created 0600 before Django
# opens it (SQLite gives its -wal and -shm files the database file's mode).
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    create_private_file(Path(DATABASES["default"]["NAME"]))

# Backups (predictor/backup.py) sign their manifest with this key, else with DJANGO_SECRET_KEY; a
# restore needs the same key. Name one to restore a backup on a site with another secret key.
BACKUP_SIGNING_KEY = os.environ.get("DJANGO_BACKUP_SIGNING_KEY", "")

# --- Shared object storage (issue 14: storage) ---
# With DJANGO_S3_BUCKET set, trained models, their training pictures and kept batch uploads live in
# that S3-compatible bucket (AWS S3, MinIO, SeaweedFS...), one key prefix per store, so every host
# sees the same files (docs/deployment.md); unset, they stay in the local folders above.
# Credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, else boto3's usual sources (an
# instance role, ~/.aws). Objects stay private: no ACL is sent and no bucket URL is ever made; the
# site serves pictures and downloads through its own permission-checked views.
S3_STORE_VARIABLES = ["DJANGO_S3_ENDPOINT_URL", "DJANGO_S3_REGION", "DJANGO_S3_ARTIFACTS_PREFIX"]
S3_STORE_VARIABLES += ["DJANGO_S3_UPLOADS_PREFIX", "DJANGO_S3_ADDRESSING_STYLE", "DJANGO_S3_TIMEOUT_SECONDS"]


def s3_storage(
    *,
    bucket: str,
    location: str,
    endpoint_url: str = "",
    region: str = "",
    access_key: str = "",
    secret_key: str = "",
    addressing_style: str = "",
    timeout_seconds: int = 10,
) -> dict:
    """The STORAGES entry for one store kept under ``location``/ in an S3 bucket."""
    from botocore.config import Config

    return {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": bucket,
            "location": location.strip("/"),
            "endpoint_url": endpoint_url or None,
            "region_name": region or None,
            "access_key": access_key or None,
            "secret_key": secret_key or None,
            "default_acl": None,  # the bucket's own: private unless someone opened the bucket itself
            "querystring_auth": True,  # were a URL ever made, it would be a signed, expiring one
            # Never replace an object: a model version's row records its artifact's sha256.
            "file_overwrite": False,
            # Reads spill to a temporary file past this size, as local files are streamed: a kept
            # upload of 100 MB is not held in memory while its results download is built.
            "max_memory_size": 10 * 1024 * 1024,
            # A storage that does not answer fails a request within seconds, not boto3's minutes.
            "client_config": Config(
                s3={"addressing_style": addressing_style or "auto"},
                connect_timeout=timeout_seconds,
                read_timeout=timeout_seconds,
                retries={"mode": "standard", "max_attempts": 3},
            ),
        },
    }


S3_BUCKET = os.environ.get("DJANGO_S3_BUCKET", "").strip()
if S3_BUCKET:
    _s3 = {
        "bucket": S3_BUCKET,
        "endpoint_url": os.environ.get("DJANGO_S3_ENDPOINT_URL", "").strip(),
        "region": os.environ.get("DJANGO_S3_REGION", "").strip(),
        "access_key": os.environ.get("AWS_ACCESS_KEY_ID", "").strip(),
        "secret_key": os.environ.get("AWS_SECRET_ACCESS_KEY", "").strip(),
        "addressing_style": os.environ.get("DJANGO_S3_ADDRESSING_STYLE", "").strip(),
        "timeout_seconds": env_int("DJANGO_S3_TIMEOUT_SECONDS", 10),
    }
    STORAGES["ml_artifacts"] = s3_storage(
        location=os.environ.get("DJANGO_S3_ARTIFACTS_PREFIX", "").strip() or "ml_artifacts", **_s3
    )
    STORAGES["batch_uploads"] = s3_storage(
        location=os.environ.get("DJANGO_S3_UPLOADS_PREFIX", "").strip() or "batch_uploads", **_s3
    )
elif _stray := [name for name in S3_STORE_VARIABLES if os.environ.get(name, "").strip()]:
    raise ImproperlyConfigured(
        f"{', '.join(_stray)} set but DJANGO_S3_BUCKET is not: set DJANGO_S3_BUCKET to keep files in that bucket, "
        "or unset them to keep files in ML_ARTIFACTS_DIR and BATCH_UPLOADS_DIR."
    )

# /healthz asks the bucket (one HEAD, this timeout, no retry) at most once per period per process,
# answering with the last result in between (predictor/ops/storage_probe.py).
STORAGE_PROBE_SECONDS = float(os.environ.get("DJANGO_S3_PROBE_SECONDS", "") or 10)
STORAGE_PROBE_TIMEOUT_SECONDS = float(os.environ.get("DJANGO_S3_PROBE_TIMEOUT_SECONDS", "") or 1)


# --- Metrics and request-traceable logs (issue 14: metrics) ---
# (predictor/ops/metrics.py, predictor/ops/request_id.py, docs/deployment.md)
# /metrics answers local callers, staff who may see the models, and scrapers sending
# `Authorization: Bearer <this token>`; empty: no token is accepted.
METRICS_TOKEN = os.environ.get("DJANGO_METRICS_TOKEN", "").strip()
if METRICS_TOKEN and len(METRICS_TOKEN) < 32:
    raise ImproperlyConfigured(
        "DJANGO_METRICS_TOKEN is too short to resist guessing: use at least 32 random characters, for example "
        "the output of `python -c 'import secrets; print(secrets.token_urlsafe(32))'`."
    )
# Prometheus scrapes over plain HTTP inside the network, like the load balancer's health checks.
SECURE_REDIRECT_EXEMPT += [r"^metrics$"]
# "plain": readable lines; "json": one JSON object per line (time, level, logger, host, process,
# message, request_id), for a log collector that follows one request across hosts.
LOG_FORMAT = os.environ.get("DJANGO_LOG_FORMAT", "").strip().lower() or "plain"
if LOG_FORMAT not in LOGGING["formatters"]:
    raise ImproperlyConfigured(f"DJANGO_LOG_FORMAT={LOG_FORMAT!r} is not a log format: use plain or json.")
LOGGING["handlers"]["console"]["formatter"] = LOG_FORMAT
# PROMETHEUS_MULTIPROC_DIR, read by prometheus_client itself and set up by gunicorn.conf.py, is
# where gunicorn's workers keep their counts; unset (runserver, tests), one process keeps them.


# --- Jobs: batch uploads and retraining in the background (issue 14: jobs) ---
# (predictor/jobs/, docs/deployment.md). Django's Tasks API (the django-tasks backport) runs them:
# "database" (default) queues them in the database, run by `manage.py run_worker` (make run starts
# one); "rq" queues them on the Redis at REDIS_URL, run by the same command; "immediate" runs them
# inside the request that starts them (the tests; never a site: a million rows would time out).
def rq_queues(url: str, *, timeout_seconds: float) -> dict:
    """RQ_QUEUES for the Redis at ``url``, whose every command answers or fails within seconds.

    django-rq passes a URL's connection nothing but its database, so a Redis that accepts the
    connection and then never answers (paused, blackholed) would hold a request starting a job
    forever; redis-py's own ten retries would hold it for seconds on each command. Given as
    HOST/PORT/..., the client takes the timeouts and one retry (REDIS_CLIENT_KWARGS); the worker
    raises its socket timeout past its blocking wait itself (rq's Worker._set_connection).
    """
    from redis.backoff import NoBackoff
    from redis.connection import SSLConnection, parse_url
    from redis.retry import Retry

    options = parse_url(url)
    connection_class = options.pop("connection_class", None)
    if "path" in options:  # unix://: host and port are not used
        options["unix_socket_path"] = options.pop("path")
    options.setdefault("socket_connect_timeout", timeout_seconds)
    options.setdefault("socket_timeout", timeout_seconds)
    queue = {
        "HOST": options.pop("host", "localhost"),
        "PORT": options.pop("port", 6379),
        "DB": options.pop("db", 0),
        "USERNAME": options.pop("username", None),
        "PASSWORD": options.pop("password", None),
        "SSL": connection_class is SSLConnection,
        "SSL_CERT_REQS": options.pop("ssl_cert_reqs", "required"),
        "REDIS_CLIENT_KWARGS": {**options, "retry": Retry(NoBackoff(), 1)},
        "DEFAULT_TIMEOUT": -1,  # a job's lease, not RQ, says when it died
    }
    return {"default": queue}


JOBS_BACKEND = os.environ.get("DJANGO_TASKS_BACKEND", "").strip() or "database"
_TASK_BACKENDS = {
    "database": "django_tasks_db.DatabaseBackend",
    "rq": "django_tasks_rq.RQBackend",
    "immediate": "django_tasks.backends.immediate.ImmediateBackend",
}
if JOBS_BACKEND not in _TASK_BACKENDS:
    raise ImproperlyConfigured(f"DJANGO_TASKS_BACKEND={JOBS_BACKEND!r}: use one of {', '.join(_TASK_BACKENDS)}.")
TASKS = {"default": {"BACKEND": _TASK_BACKENDS[JOBS_BACKEND]}}
INSTALLED_APPS += ["django_tasks", "predictor.apps.TasksDatabaseConfig"]  # django_tasks_db, its name translated
if JOBS_BACKEND == "rq":
    if not REDIS_URL:
        raise ImproperlyConfigured("DJANGO_TASKS_BACKEND=rq needs REDIS_URL, for example redis://127.0.0.1:6379/0.")
    INSTALLED_APPS += ["django_rq"]
    RQ_QUEUES = rq_queues(REDIS_URL, timeout_seconds=REDIS_TIMEOUT_SECONDS)
# A running job renews its lease every third of this many seconds; a job whose lease ran out (its
# worker was killed, or its machine lost) is queued again by the reaper, or failed after
# JOB_MAX_ATTEMPTS attempts.
JOB_LEASE_SECONDS = env_int("JOB_LEASE_SECONDS", 30)
JOB_MAX_ATTEMPTS = env_int("JOB_MAX_ATTEMPTS", 2)
# How long an idle database-backend worker waits (ms) before looking for a job again.
JOB_WORKER_POLL_MS = env_int("JOB_WORKER_POLL_MS", 200)
# Workers run at this lower CPU priority (nice), so the pages still answer while a job runs.
JOB_WORKER_NICE = env_int("JOB_WORKER_NICE", 10)
# A batch job stores this many rows per transaction: SQLite's single write lock is never held long.
JOB_BATCH_CHUNK_ROWS = env_int("JOB_BATCH_CHUNK_ROWS", 1_000)

# --- Shadow and canary: trying a candidate version on live traffic (issue 15: canary) ---
# The candidate itself is data (started and stopped on its page, in admin or with `manage.py
# candidate`); these shape its comparison page (predictor/registry/comparison.py, docs/security.md).
# Disagreements listed for labelling, newest first.
COMPARISON_DISAGREEMENTS_SHOWN = env_int("COMPARISON_DISAGREEMENTS_SHOWN", 50)
# Labelled rows on which exactly one version was right, before McNemar's test may name a better one.
COMPARISON_MIN_DISCORDANT_ROWS = env_int("COMPARISON_MIN_DISCORDANT_ROWS", 10)
