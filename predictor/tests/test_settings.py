import os
import secrets
import subprocess
import sys

from django.conf import settings

MANAGE = [sys.executable, str(settings.BASE_DIR / "manage.py")]


def run_manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    # A clean environment: only what a deployment would set, none of the test run's overrides.
    clean = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "DATABASE_URL"))}
    return subprocess.run(
        [*MANAGE, *args], env={**clean, **env}, capture_output=True, text=True, timeout=120, cwd=settings.BASE_DIR
    )


def test_check_deploy_is_clean_with_only_the_required_production_settings():
    result = run_manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DJANGO_DEBUG="0",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50)[:50],
        DJANGO_ALLOWED_HOSTS="predictor.example.com",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
    assert "WARNING" not in result.stderr


def test_start_up_stops_without_a_secret_key_when_debug_is_off():
    result = run_manage("check", DJANGO_DEBUG="0")
    assert result.returncode != 0
    assert "ImproperlyConfigured: DJANGO_SECRET_KEY is not set" in result.stderr


def test_debug_is_off_unless_asked_for():
    result = run_manage(
        "shell", "-c", "from django.conf import settings; print(settings.DEBUG)", DJANGO_SECRET_KEY="x" * 50
    )
    assert result.stdout.strip().splitlines()[-1] == "False"


def test_a_malformed_boolean_setting_names_the_variable():
    result = run_manage("check", DJANGO_DEBUG="maybe")
    assert result.returncode != 0
    assert "DJANGO_DEBUG='maybe' is not a boolean" in result.stderr
