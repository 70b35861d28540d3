from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect


@login_required
def home(request: HttpRequest) -> HttpResponse:
    if request.user.is_researcher:
        return redirect("research:study_list")
    return redirect("lifelog:my_entries")
