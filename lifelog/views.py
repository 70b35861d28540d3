from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from studies.selectors import participant_list

from .selectors import entry_get, entry_list
from .services import EntryChangeRefused, entry_set_excluded


@login_required
def my_entries_view(request: HttpRequest) -> HttpResponse:
    """A trainee's own life log, with a way to withdraw any single item."""
    participant = participant_list(user=request.user).filter(user=request.user).first()
    entries = entry_list(participant=participant).order_by("-occurred_at")[:500] if participant else []
    return render(request, "lifelog/my_entries.html", {"participant": participant, "entries": entries})


@login_required
@require_POST
def entry_exclude_view(request: HttpRequest, entry_id: int) -> HttpResponse:
    entry = entry_get(user=request.user, entry_id=entry_id)
    try:
        entry_set_excluded(entry=entry, excluded=request.POST.get("excluded") == "1", by=request.user)
    except EntryChangeRefused as refused:
        messages.error(request, str(refused))
    if request.user.is_researcher:
        return redirect("research:participant_detail", public_code=entry.participant.public_code)
    return redirect("lifelog:my_entries")


@login_required
@require_GET
def entry_photo_view(request: HttpRequest, entry_id: int) -> FileResponse:
    """A photo for the trainee it belongs to and the researchers of their study; uploads are never served as
    public media files."""
    return photo_response(entry_get(user=request.user, entry_id=entry_id))


def photo_response(entry) -> FileResponse:
    if not entry.photo:
        raise Http404("No photo")
    response = FileResponse(entry.photo.open("rb"), content_type="image/jpeg")
    response["Cache-Control"] = "private, max-age=3600"
    return response
