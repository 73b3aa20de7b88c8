"""Where a form submission's time goes inside one Django process, without the network.

Calls the WSGI application directly, as gunicorn would, with DEBUG off, on a throw-away SQLite
database and a freshly trained model. Prints the cost of each kind of request (the best of five
rounds); with --profile, cProfile's top functions for the form submission or the blank form.

    python bench/profile_requests.py [--rounds 2000] [--profile]
"""

import argparse
import cProfile
import io
import os
import pstats
import secrets
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

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

    def start_response(status, headers, exc_info=None):
        answer["status"], answer["headers"] = status, headers

    body = b"".join(application(env, start_response))
    return answer["status"], dict(answer["headers"]), body


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
    parser.add_argument("--rounds", type=int, default=2000)
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
        "GET /static/… (WhiteNoise)": lambda: environ("GET", "/static/predictor/site.css", cookie),
        "GET /no-such-page (404 page)": lambda: environ("GET", "/no-such-page", cookie),
    }
    for name, make in kinds.items():
        for _ in range(50):  # warm caches and compiled templates
            call(application, make())
        envs = [make() for _ in range(args.rounds)]
        # The best of several rounds: the least disturbed by whatever else the machine is doing.
        best = float("inf")
        for chunk in (envs[start : start + len(envs) // 5] for start in range(0, len(envs), len(envs) // 5)):
            started = time.perf_counter()
            for env in chunk:
                status, headers, _ = call(application, env)
                if "Location" in headers:  # post/redirect/get: the visitor's browser follows it
                    status, _, _ = call(application, environ("GET", headers["Location"], cookie))
            best = min(best, (time.perf_counter() - started) / len(chunk))
        print(f"{name:36} {best * 1e6:7.0f} µs per prediction or request (last status {status})")

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
