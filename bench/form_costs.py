"""What each part of a form submission costs, switched off one part at a time, in one process.

Issue 11 asks that the form's throughput not end lower than the code before it (``de52fc7``);
issues after it added parts that every prediction pays for. This script calls the WSGI application
directly, as ``bench/profile_requests.py`` does (DEBUG off, a throw-away SQLite database, a freshly
trained model), and times a form POST, stored and answered with its result page, against the same
POST with one part switched off. The two run in alternating blocks, so a machine that speeds up or
slows down mid-run weighs on both alike; each part's cost is the median of the blocks' differences.

The POSTs are animals of 20-60 cm and 5-45 kg: like bench/submit.lua's, all outside the training
data (76.4-90.2 cm, 35.4-48.3 kg), so each result page carries two warnings. One row compares an
animal inside the training range.

    python bench/form_costs.py [--blocks 16] [--requests 100]
"""

import argparse
import contextlib
import secrets
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.load_test import TOKEN_PATTERN  # noqa: E402
from bench.profile_requests import call, environ, set_up_site_in_process  # noqa: E402

# Middlewares later issues added for operators and security, not for the visitor's answer.
OPERATOR_MIDDLEWARES = (
    "predictor.ops.request_id.RequestIdMiddleware",
    "predictor.ops.metrics.RequestMetricsMiddleware",
    "predictor.ops.middleware.RequestBodyLimitMiddleware",
    "predictor.ops.middleware.SecurityHeadersMiddleware",
    "axes.middleware.AxesMiddleware",
)
LOCALE_MIDDLEWARE = "django.middleware.locale.LocaleMiddleware"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=16, help="blocks of each variant, alternating")
    parser.add_argument("--requests", type=int, default=100, help="POSTs per block")
    args = parser.parse_args()

    set_up_site_in_process(prefix="mlsite-form-costs-")
    import logging

    from django.conf import settings
    from django.core.handlers.wsgi import WSGIHandler
    from django.test import override_settings

    logging.disable(logging.WARNING)

    def site(middleware: list[str]) -> WSGIHandler:
        with override_settings(MIDDLEWARE=middleware):
            return WSGIHandler()  # reads MIDDLEWARE once, here

    full_site = site(settings.MIDDLEWARE)
    status, headers, body = call(full_site, environ("GET", "/"))
    cookie = headers["Set-Cookie"].split(";", 1)[0]
    token = TOKEN_PATTERN.search(body).group(1).decode()

    def outside_range() -> tuple[float, float]:
        return 20 + secrets.randbelow(4000) / 100, 5 + secrets.randbelow(400) / 10

    def inside_range() -> tuple[float, float]:
        return 77 + secrets.randbelow(1200) / 100, 36 + secrets.randbelow(110) / 10

    def post(animal: Callable[[], tuple[float, float]]) -> dict:
        height, weight = animal()
        fields = {"csrfmiddlewaretoken": token, "height": height, "weight": weight}
        fields["submission_key"] = secrets.token_urlsafe(16)
        return environ("POST", "/", cookie, urlencode(fields).encode())

    def block(application, animal, switch) -> float:
        requests = [post(animal) for _ in range(args.requests)]
        with switch():
            started = time.perf_counter()
            for request in requests:
                status, _, _ = call(application, request)
            elapsed = time.perf_counter() - started
        assert status.startswith("200"), status
        return elapsed / args.requests

    as_is = (full_site, outside_range, contextlib.nullcontext)
    variants = {
        "the same site (the noise floor)": as_is,
        "an animal inside the training range (no warnings)": (full_site, inside_range, contextlib.nullcontext),
        "no rate-limit count (RATE_LIMITS_ENABLED off)": (
            full_site,
            outside_range,
            lambda: override_settings(RATE_LIMITS_ENABLED=False),
        ),
        "no language choice (LocaleMiddleware)": (
            site([name for name in settings.MIDDLEWARE if name != LOCALE_MIDDLEWARE]),
            outside_range,
            contextlib.nullcontext,
        ),
        "no request ids, metrics, body cap, headers, lock-outs": (
            site([name for name in settings.MIDDLEWARE if name not in OPERATOR_MIDDLEWARES]),
            outside_range,
            contextlib.nullcontext,
        ),
        "all four of the above": (
            site([name for name in settings.MIDDLEWARE if name not in (*OPERATOR_MIDDLEWARES, LOCALE_MIDDLEWARE)]),
            inside_range,
            lambda: override_settings(RATE_LIMITS_ENABLED=False),
        ),
    }
    for _ in range(3 * args.requests):  # warm: compiled templates, the model, rendered-once parts
        call(full_site, post(outside_range))

    print(f"{'Switched off':55} {'POST as is':>12} {'without':>10} {'saves':>8} {'share':>6}")
    for name, (application, animal, switch) in variants.items():
        block(application, animal, switch)  # warm this variant too
        base, variant = [], []
        for number in range(args.blocks):
            pair = [(base, as_is), (variant, (application, animal, switch))]
            for times, setup in pair if number % 2 else reversed(pair):
                times.append(block(*setup))
        saved = statistics.median(b - v for b, v in zip(base, variant, strict=True))
        as_is_median = statistics.median(base)
        print(
            f"{name:55} {as_is_median * 1e6:9.0f} µs {statistics.median(variant) * 1e6:7.0f} µs "
            f"{saved * 1e6:5.0f} µs {saved / as_is_median:6.1%}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
