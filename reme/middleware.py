"""Request checks shared by every view."""

from collections.abc import Callable

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
