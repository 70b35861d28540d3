"""Request checks shared by every view."""

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest


class RejectNullCharacters:
    """A NUL character in the query string answers 400: PostgreSQL cannot store or compare text that
    holds one, so it would otherwise surface as a server error wherever a parameter reaches a query
    or the audit log (schemathesis found this)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        for key, values in request.GET.lists():
            if "\x00" in key or any("\x00" in value for value in values):
                return HttpResponseBadRequest("Query parameters may not contain NUL characters.")
        return self.get_response(request)


def client_address(request: HttpRequest) -> str:
    """The client's address as DRF's throttles see it: X-Forwarded-For is trusted only as far back as
    settings.NUM_PROXIES proxies (0: the socket's address; the header is the client's to forge)."""
    remote = request.META.get("REMOTE_ADDR", "")
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR")
    if settings.NUM_PROXIES and forwarded:
        hops = [hop.strip() for hop in forwarded.split(",")]
        return hops[-min(settings.NUM_PROXIES, len(hops))] or remote
    return remote
