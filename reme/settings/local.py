"""Development and test mode: the embedded stack from `make run` / `make test`."""

from .base import *  # noqa: F403
from .base import env_bool

# Off unless a developer sets DEBUG=1: trainees and researchers see our friendly error pages, never
# Django's debug pages (which list settings and every URL pattern).
DEBUG = env_bool("DEBUG", False)
# `make run` serves uploaded photos itself (production puts a web server or object store in front).

# Static files straight from the app folders: no collectstatic step in development and tests.
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}  # noqa: F405
WHITENOISE_USE_FINDERS = True
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # noqa: F405 - WhiteNoise expects it to exist
