"""Login lockout: django-axes refuses a username + address pair after too many wrong passwords."""

from axes.backends import AxesStandaloneBackend
from django.http import HttpRequest


class LoginLockoutBackend(AxesStandaloneBackend):
    """Axes' check for every login that comes through a web request. A login without a request (the test
    client, a management command) cannot be a guess from the network, so it is not counted."""

    def authenticate(self, request: HttpRequest | None, username: str | None = None, password: str | None = None,
                     **kwargs):  # fmt: skip
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)
