from datetime import date, datetime, time, timedelta

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone

from accounts.decorators import researcher_required
from lifelog.importers import ImportFailed
from lifelog.selectors import SearchFilters, entry_list, entry_search, import_job_list
from lifelog.services import import_job_create_from_upload

from .selectors import participant_get, participant_list, study_get, study_list


class UploadForm(forms.Form):
    file = forms.FileField(help_text="JSON, CSV, iCalendar (.ics), diary text (.txt) or a JPEG photo")


class SearchForm(forms.Form):
    q = forms.CharField(max_length=1000, label="Search")
    person = forms.CharField(max_length=200, required=False)
    place = forms.CharField(max_length=200, required=False)
    date_from = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))


@researcher_required
def study_list_view(request: HttpRequest) -> HttpResponse:
    return render(request, "research/study_list.html", {"studies": study_list(user=request.user)})


@researcher_required
def study_detail_view(request: HttpRequest, slug: str) -> HttpResponse:
    study = study_get(user=request.user, slug=slug)
    participants = participant_list(user=request.user, study=study)
    return render(request, "research/study_detail.html", {"study": study, "participants": participants})


@researcher_required
def participant_detail_view(request: HttpRequest, public_code: str) -> HttpResponse:
    participant = participant_get(user=request.user, public_code=public_code)
    upload_form = UploadForm()
    if request.method == "POST":
        upload_form = UploadForm(request.POST, request.FILES)
        if upload_form.is_valid():
            try:
                job = import_job_create_from_upload(
                    participant=participant, upload=upload_form.cleaned_data["file"], created_by=request.user
                )
            except ImportFailed as failure:
                for issue in failure.issues:
                    messages.error(request, str(issue))
            else:
                messages.success(request, f"{job.original_name} is queued for import.")
                return redirect("research:participant_detail", public_code=participant.public_code)

    search_form = SearchForm(request.GET or None)
    hits = None
    if search_form.is_bound and search_form.is_valid():
        data = search_form.cleaned_data
        hits = entry_search(
            participant=participant,
            query=data["q"],
            filters=SearchFilters(
                date_from=data["date_from"] and _start_of(data["date_from"]),
                date_to=data["date_to"] and _start_of(data["date_to"], days=1),
                person=data["person"],
                place=data["place"],
            ),
        )
    return render(
        request,
        "research/participant_detail.html",
        {
            "participant": participant,
            "upload_form": upload_form,
            "search_form": search_form,
            "hits": hits,
            "jobs": import_job_list(participant=participant)[:20],
            "entries": entry_list(participant=participant).order_by("-occurred_at")[:200],
        },
    )


def _start_of(day: date, days: int = 0) -> datetime:
    return timezone.make_aware(datetime.combine(day + timedelta(days=days), time.min))
