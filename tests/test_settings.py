"""Production settings come from the environment and pass Django's deployment checks."""

import os
import subprocess
import sys

from tests.conftest import ROOT

PRODUCTION_ENV = {
    "DJANGO_SETTINGS_MODULE": "reme.settings.production",
    "SECRET_KEY": "a" * 20 + "-production-secret-for-the-check-" + "z" * 20,
    "ALLOWED_HOSTS": "reme.example.org",
}


def manage(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True
    )


def test_check_deploy_passes_in_production_mode():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_the_development_secret():
    result = manage("check", env={**PRODUCTION_ENV, "SECRET_KEY": "short"})
    assert result.returncode != 0 and "SECRET_KEY must be set" in result.stderr


def test_settings_read_the_environment():
    code = (
        "from django.conf import settings as s; print(s.ALLOWED_HOSTS, s.LLM_BASE_URL, s.DATABASES['default']['NAME'])"
    )
    result = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=ROOT,
        env={**os.environ, **PRODUCTION_ENV, "LLM_BASE_URL": "http://llm:8001/v1",
             "DATABASE_URL": "postgres://u:p@db:5432/reme_prod"},
        capture_output=True, text=True,
    )  # fmt: skip
    assert result.stdout.split() == ["['reme.example.org']", "http://llm:8001/v1", "reme_prod"], result.stderr


def test_production_keeps_the_attack_defences():
    """The throttles, lockout, CSP, body caps and short sessions are in base settings, so production has them;
    X-Forwarded-For is trusted only when NUM_PROXIES says a proxy is in front."""
    code = (
        "from django.conf import settings as s; rf = s.REST_FRAMEWORK;"
        "print(rf['NUM_PROXIES'], sorted(rf['DEFAULT_THROTTLE_RATES']), s.SESSION_COOKIE_AGE, s.API_TOKEN_TTL,"
        " 'axes.middleware.AxesMiddleware' in s.MIDDLEWARE, 'csp.middleware.CSPMiddleware' in s.MIDDLEWARE,"
        " s.AXES_LOCKOUT_PARAMETERS, s.ANONYMOUS_MAX_BODY_BYTES, sep='|')"
    )
    outputs = []
    for extra in ({}, {"NUM_PROXIES": "1"}):
        result = subprocess.run(
            [sys.executable, "-c", f"import django; django.setup(); {code}"],
            cwd=ROOT, env={**os.environ, **PRODUCTION_ENV, **extra}, capture_output=True, text=True,
        )  # fmt: skip
        outputs.append(result.stdout.strip().split("|"))
    assert outputs[0] == ["0", "['token', 'token_username']", "43200", "1 day, 0:00:00", "True", "True",
                          "[['username', 'ip_address']]", "65536"], outputs  # fmt: skip
    assert outputs[1][0] == "1"
