"""Schemathesis explores every operation of our OpenAPI schema with generated requests, as a researcher
with a token, against the Django app in this process (same database transaction as the test's data).
Any 5xx answer fails the test."""

import os

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token

from tests.research_helpers import research_world

APP = WSGIHandler()
schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", APP)


@pytest.fixture
def researcher_token(world):
    research_world(world)
    # The handler would close the test's connection (and its transaction) after each request, as the
    # test client avoids doing too.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield Token.objects.create(user=world.researcher_a).key
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.mark.timeout(600)
@schema.parametrize()
@settings(
    max_examples=int(os.environ.get("SCHEMATHESIS_EXAMPLES", "15")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_no_operation_answers_with_a_server_error(case, researcher_token):
    case.call_and_validate(
        headers={"Authorization": f"Token {researcher_token}"},
        checks=[schemathesis.checks.not_a_server_error],
    )
