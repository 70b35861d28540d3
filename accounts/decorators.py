from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied


def researcher_required(view):
    @login_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_researcher:
            raise PermissionDenied("Researchers only")
        return view(request, *args, **kwargs)

    return wrapper
