"""Friendly error pages for trainees and researchers; Django's debug pages only when a developer asks."""

import os
import subprocess
import sys

from django.test import RequestFactory
from django.views.defaults import server_error

from tests.conftest import ROOT


def test_not_found_and_forbidden_pages_are_friendly(world, client):
    client.force_login(world.trainee_a)
    missing = client.get("/no-such-page/")
    forbidden = client.get("/research/")
    assert (missing.status_code, forbidden.status_code) == (404, 403)
    assert "We could not find that page" in missing.content.decode()
    assert "Back to your training" in missing.content.decode() and 'class="top"' in missing.content.decode()
    assert "This page is not available to you" in forbidden.content.decode()
    client.force_login(world.researcher_a)
    page = client.get(f"/research/participants/{world.participant_b.public_code}/").content.decode()
    assert "Back to your studies" in page and "Study B" not in page


def test_the_server_error_page_needs_no_database_or_user(db):
    response = server_error(RequestFactory().get("/train/"))
    page = response.content.decode()
    assert response.status_code == 500 and "something went wrong on our side" in page
    assert "Traceback" not in page


def _debug_and_404(env: dict) -> list[str]:
    code = (
        "import django; django.setup(); from django.conf import settings; from django.test import Client; "
        "r = Client(SERVER_NAME='localhost').get('/no-such-page/'); "
        "print(settings.DEBUG, 'URLconf' in r.content.decode(), 'We could not find that page' in r.content.decode())"
    )
    env = {**{k: v for k, v in os.environ.items() if k != "DEBUG"}, **env}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_development_settings_keep_debug_off_unless_asked():
    local = {"DJANGO_SETTINGS_MODULE": "reme.settings.local"}
    assert _debug_and_404(local) == ["False", "False", "True"]  # `make run`: no URL patterns listed
    assert _debug_and_404({**local, "DEBUG": "1"})[:2] == ["True", "True"]  # a developer's explicit choice
