"""Where a form submission's time goes inside one Django process, without the network.

Calls the WSGI application directly, as gunicorn would, with DEBUG off, on a throw-away SQLite
database and a freshly trained model. Prints the cost of each kind of request: the kinds take
turns, one chunk of requests each, for --chunks interleaved rounds (ABBA); the best chunk and the
median. Then what each device buys, round by round, against the same POST with it switched off:
rendered_once (settings.RENDER_ONCE), the one-request answer (floor_site's post/redirect/get), the
raw one-row INSERT (the ORM's create() patched in, in this process only) and the closed-form
scorer (predict_proba patched in). With --profile, cProfile's top functions for the form
submission or the blank form.

    python bench/profile_requests.py [--rounds 2000] [--chunks 10] [--profile post]
"""

import argparse
import cProfile
import io
import os
import pstats
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import replace
from pathlib import Path
from unittest import mock
from urllib.parse import urlencode

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.load_test import TOKEN_PATTERN  # noqa: E402
from bench.server import throwaway_site_settings  # noqa: E402


def environ(method: str, path: str, cookie: str = "", body: bytes = b"") -> dict:
    return {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "127.0.0.1:8000",
        "HTTP_COOKIE": cookie,
        "HTTP_REFERER": "http://127.0.0.1:8000/",
        "CONTENT_TYPE": "application/x-www-form-urlencoded",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }


def call(application, env: dict) -> tuple[str, dict, bytes]:
    from django.conf import settings

    answer = {}
    settings.RENDER_ONCE = env.pop("bench.render_once", True)
    switched_off = env.pop("bench.switched_off", nullcontext)  # a device switched off for this request

    def start_response(status, headers, exc_info=None):
        answer["status"], answer["headers"] = status, headers

    with switched_off():
        body = b"".join(application(env, start_response))
    return answer["status"], dict(answer["headers"]), body


@contextmanager
def orm_create_in_place_of_raw_insert() -> Iterator[None]:
    """predictor.history._sql's one-row INSERT replaced by the ORM's create() in atomic() (fast_inserts_gain.py's)."""
    from django.db import IntegrityError, transaction

    from predictor.history import _sql
    from predictor.models import Prediction

    def insert_prediction(values: dict) -> Prediction | None:
        try:
            with transaction.atomic():
                return Prediction.objects.create(**values)
        except IntegrityError:  # the submission key is taken, as ON CONFLICT DO NOTHING
            return None

    with mock.patch.object(_sql, "insert_prediction", insert_prediction):
        yield


@contextmanager
def predict_proba_in_place_of_closed_form() -> Iterator[None]:
    """The model service scores the row with the Pipeline's predict_proba, as it does any other estimator."""
    from predictor.serving import model_service

    original = model_service._serving_for_predictions
    slow_models: dict[int, object] = {}

    def serving(*args, **kwargs) -> tuple:
        active, trial = original(*args, **kwargs)
        if id(active) not in slow_models:
            estimator = active.estimator
            slow_models[id(active)] = replace(
                active, probabilities_of=lambda row: estimator.predict_proba(np.array([row], dtype=float))[0].tolist()
            )
        return slow_models[id(active)], trial

    with mock.patch.object(model_service, "_serving_for_predictions", serving):
        yield


def set_up_site_in_process(*, prefix: str, settings_module: str = "mlsite.settings") -> None:
    """Django set up in this process on a throw-away copy of the site: migrated, static collected, a model trained."""
    workdir = tempfile.mkdtemp(prefix=prefix)
    os.environ.update(throwaway_site_settings(Path(workdir)), DJANGO_SETTINGS_MODULE=settings_module)
    os.environ.pop("DATABASE_URL", None)
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", interactive=False, verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)
    call_command("train_model", stdout=io.StringIO())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2000, help="requests of each kind, in all")
    parser.add_argument("--chunks", type=int, default=10, help="interleaved rounds the requests are split into")
    parser.add_argument("--profile", choices=["get", "post"], help="profile this request kind")
    parser.add_argument("--sort", default="cumulative", help="cProfile sort order, e.g. tottime")
    parser.add_argument("--top", type=int, default=40, help="functions to print")
    args = parser.parse_args()

    # The site's settings with the bench-only views of bench/floor_site (the site stays at "/").
    set_up_site_in_process(prefix="mlsite-profile-", settings_module="bench.floor_site.settings")
    from django.core.wsgi import get_wsgi_application

    application = get_wsgi_application()
    status, headers, body = call(application, environ("GET", "/"))
    cookie = headers["Set-Cookie"].split(";", 1)[0]
    token = TOKEN_PATTERN.search(body).group(1).decode()
    counter = iter(range(10**9))

    def submission() -> bytes:
        index = next(counter)
        fields = {"csrfmiddlewaretoken": token, "height": 20 + index % 20000 * 0.01, "weight": 40}
        fields["submission_key"] = secrets.token_urlsafe(16)
        return urlencode(fields).encode()

    def switched_off(make, device):
        def make_without() -> dict:
            env = make()
            env["bench.switched_off"] = device
            return env

        return make_without

    def without_rendered_once(make):
        # The same request with predictor/templatetags/rendered_once.py switched off: what it buys.
        def make_plain() -> dict:
            env = make()
            env["bench.render_once"] = False
            return env

        return make_plain

    kinds = {
        "GET / (blank form)": lambda: environ("GET", "/", cookie),
        "GET / without rendered_once": without_rendered_once(lambda: environ("GET", "/", cookie)),
        "POST / (store and answer)": lambda: environ("POST", "/", cookie, submission()),
        "POST / without rendered_once": without_rendered_once(lambda: environ("POST", "/", cookie, submission())),
        "POST, 302, GET (post/redirect/get)": lambda: environ("POST", "/floor/prg/", cookie, submission()),
        "POST / with ORM create() for the row": switched_off(
            lambda: environ("POST", "/", cookie, submission()), orm_create_in_place_of_raw_insert
        ),
        "POST / with predict_proba": switched_off(
            lambda: environ("POST", "/", cookie, submission()), predict_proba_in_place_of_closed_form
        ),
        "GET /static/… (WhiteNoise)": lambda: environ("GET", "/static/predictor/site.css", cookie),
        "GET /no-such-page (404 page)": lambda: environ("GET", "/no-such-page", cookie),
    }
    for make in kinds.values():
        for _ in range(50):  # warm caches and compiled templates
            call(application, make())
    # Every kind in turn, one chunk of requests each, for --chunks rounds whose order alternates
    # (ABBA): a machine that slows down mid-run weighs on every kind alike, and the devices
    # (rendered_once, the one-request answer) are weighed against their "without" rows of the same
    # rounds. Each kind's figure is its best chunk: the least disturbed by whatever else runs.
    per_chunk = max(1, args.rounds // args.chunks)
    envs = {name: [[make() for _ in range(per_chunk)] for _ in range(args.chunks)] for name, make in kinds.items()}
    timings: dict[str, list[float]] = {name: [] for name in kinds}
    last_status: dict[str, str] = {}
    for chunk_number in range(args.chunks):
        order = list(kinds) if chunk_number % 2 == 0 else list(reversed(kinds))
        for name in order:
            chunk = envs[name][chunk_number]
            started = time.perf_counter()
            for env in chunk:
                status, headers, _ = call(application, env)
                if "Location" in headers:  # post/redirect/get: the visitor's browser follows it
                    status, _, _ = call(application, environ("GET", headers["Location"], cookie))
            timings[name].append((time.perf_counter() - started) / len(chunk))
            last_status[name] = status
    for name, values in timings.items():
        best, median = min(values) * 1e6, statistics.median(values) * 1e6
        status = last_status[name]
        print(f"{name:36} {best:7.0f} µs per prediction or request, median {median:5.0f} (last status {status})")
    # What each device buys, round by round: the kinds of one round ran close together in time.
    devices = {
        "rendered_once, GET": ("GET / (blank form)", "GET / without rendered_once"),
        "rendered_once, POST": ("POST / (store and answer)", "POST / without rendered_once"),
        "one-request answer": ("POST / (store and answer)", "POST, 302, GET (post/redirect/get)"),
        "raw SQL insert (history._sql)": ("POST / (store and answer)", "POST / with ORM create() for the row"),
        "closed-form scorer": ("POST / (store and answer)", "POST / with predict_proba"),
    }
    for device, (with_it, without) in devices.items():
        shares = [1 - a / b for a, b in zip(timings[with_it], timings[without], strict=True)]
        saved = statistics.median(b - a for a, b in zip(timings[with_it], timings[without], strict=True)) * 1e6
        print(
            f"{device:36} saves {statistics.median(shares):.0%} of the time without it, median of "
            f"{len(shares)} rounds ({saved:,.0f} µs; rounds {min(shares):.0%} to {max(shares):.0%})"
        )

    if args.profile:
        make = kinds["POST / (store and answer)" if args.profile == "post" else "GET / (blank form)"]
        envs = [make() for _ in range(args.rounds)]
        profiler = cProfile.Profile()
        profiler.enable()
        for env in envs:
            call(application, env)
        profiler.disable()
        stats = pstats.Stats(profiler).sort_stats(args.sort)
        stats.print_stats(args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
