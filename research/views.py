import csv
from datetime import date, datetime, time, timedelta

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from accounts.decorators import researcher_required
from chat.selectors import llm_work_get
from lifelog.importers import ImportFailed
from lifelog.selectors import SearchFilters, entry_list, entry_search, import_job_list
from lifelog.services import ParticipantWithdrawn, import_job_create_from_upload
from studies.models import AuditEvent
from studies.scoring_policy import STRICT
from studies.selectors import arm_list, audit_event_list, participant_get, study_get, study_list
from studies.services import (
    TraineeLogin,
    arm_create,
    audit_record,
    consent_version_create,
    participant_register,
    participant_withdraw,
    protocol_version_create,
    study_create,
    trainee_password_reset,
)

from . import stats
from .forms import ArmForm, ConsentVersionForm, EnrolForm, ProtocolVersionForm, StudyForm
from .selectors import authored_puzzle_summary, reworded_line_summary


class UploadForm(forms.Form):
    file = forms.FileField(help_text="JSON, CSV, iCalendar (.ics), diary text (.txt) or a JPEG photo")
    columns = forms.CharField(
        max_length=1000, required=False, label="Column names (optional)",
        help_text="For CSV and JSON files whose names differ from ours: their_name=our_name, separated by commas, "
        "e.g. Datum=date, Notiz=description. Ours: CSV date, time, title, description, place, latitude, longitude, "
        "people, tags; JSON when, title, description, place, people, tags.",
    )  # fmt: skip


class SearchForm(forms.Form):
    q = forms.CharField(max_length=1000, label="Search")
    person = forms.CharField(max_length=200, required=False)
    place = forms.CharField(max_length=200, required=False)
    date_from = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))


@researcher_required
def study_list_view(request: HttpRequest) -> HttpResponse:
    """The researcher's studies, and a form for a new one (its creator becomes its researcher)."""
    form = StudyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            study = study_create(**form.cleaned_data, researchers=[request.user])
        except ValidationError as error:
            _form_errors(form, error)
        else:
            audit_record(
                actor=request.user, action=AuditEvent.Action.CHANGE, target="study", study=study, request=request
            )
            messages.success(request, f"Created {study.name}. Next: add an arm and its protocol.")
            return redirect("research:study_detail", slug=study.slug)
    return render(request, "research/study_list.html", {"studies": study_list(user=request.user), "form": form})


@researcher_required
def study_detail_view(request: HttpRequest, slug: str) -> HttpResponse:
    """Study overview: enrolment per arm, adherence, this week's sessions, LLM context state; the forms that
    set a study up (arms, consent) and enrol."""
    study = study_get(user=request.user, slug=slug)
    enrol_form = EnrolForm(request.POST or None, study=study)
    if request.method == "POST" and enrol_form.is_valid():
        try:
            data = enrol_form.cleaned_data
            registration = participant_register(
                study=study, arm=data["arm"], consent_given_at=data["consent_given_at"], by=request.user,
                timezone=data["timezone"], full_name=data["full_name"], email=data["email"],
                username=data["username"],
            )  # fmt: skip
        except ValidationError as error:
            _form_errors(enrol_form, error)
        else:
            participant = registration.participant
            if registration.login is not None:
                return _login_shown_once(request, participant=participant, login=registration.login)
            messages.success(request, f"Enrolled {participant.public_code}.")
            return redirect("research:study_detail", slug=study.slug)
    return _study_page(request, study, enrol_form=enrol_form)


def _study_page(request: HttpRequest, study, **forms_given) -> HttpResponse:
    rows = stats.study_overview(study=study)
    audit_record(
        actor=request.user, action=AuditEvent.Action.VIEW, target="study overview", study=study, request=request
    )
    context = {
        "study": study,
        "rows": rows,
        "enrolment": stats.enrolment_by_arm(rows),
        "arms": study.arms.prefetch_related("protocol_versions"),
        "consent": study.consent_versions.order_by("-version").first(),
        "enrol_form": EnrolForm(study=study),
        "arm_form": ArmForm(),
        "consent_form": ConsentVersionForm(),
        **forms_given,
    }
    return render(request, "research/study_detail.html", context, status=400 if forms_given.get("failed") else 200)


def _form_errors(form: forms.Form, error: ValidationError) -> None:
    for text in error.messages:
        form.add_error(None, text)


def _login_shown_once(request: HttpRequest, *, participant, login: TraineeLogin) -> HttpResponse:
    """The password's only appearance: rendered into this response (never into a message stored in the
    session), and kept out of every cache."""
    response = render(request, "research/trainee_login.html", {"participant": participant, "login": login})
    response["Cache-Control"] = "no-store"
    return response


@researcher_required
@require_POST
def arm_create_view(request: HttpRequest, slug: str) -> HttpResponse:
    study = study_get(user=request.user, slug=slug)
    form = ArmForm(request.POST)
    if form.is_valid():
        try:
            arm = arm_create(study=study, **form.cleaned_data)
        except ValidationError as error:
            _form_errors(form, error)
        else:
            audit_record(
                actor=request.user, action=AuditEvent.Action.CHANGE, target="arm", study=study,
                detail={"arm": arm.key}, request=request,
            )  # fmt: skip
            messages.success(request, f"Added arm {arm.key}. Next: its protocol.")
            return redirect("research:protocol_version_new", arm_id=arm.pk)
    return _study_page(request, study, arm_form=form, failed=True)


@researcher_required
@require_POST
def consent_version_create_view(request: HttpRequest, slug: str) -> HttpResponse:
    study = study_get(user=request.user, slug=slug)
    form = ConsentVersionForm(request.POST)
    if form.is_valid():
        consent = consent_version_create(study=study, **form.cleaned_data)
        audit_record(
            actor=request.user, action=AuditEvent.Action.CHANGE, target="consent version", study=study,
            detail={"version": consent.version}, request=request,
        )  # fmt: skip
        messages.success(request, f"Saved consent text version {consent.version}.")
        return redirect("research:study_detail", slug=study.slug)
    return _study_page(request, study, consent_form=form, failed=True)


@researcher_required
@require_POST
def participant_password_reset_view(request: HttpRequest, public_code: str) -> HttpResponse:
    participant = participant_get(user=request.user, public_code=public_code)
    try:
        login = trainee_password_reset(participant=participant, by=request.user)
    except ValidationError as error:
        for text in error.messages:
            messages.error(request, text)
        return redirect("research:participant_detail", public_code=public_code)
    return _login_shown_once(request, participant=participant, login=login)


@researcher_required
def study_overview_csv_view(request: HttpRequest, slug: str) -> HttpResponse:
    study = study_get(user=request.user, slug=slug)
    audit_record(
        actor=request.user, action=AuditEvent.Action.EXPORT, target="study overview", study=study, request=request
    )
    return _csv_response(f"{study.slug}-overview.csv", stats.study_overview(study=study))


@researcher_required
def study_audit_view(request: HttpRequest, slug: str) -> HttpResponse:
    study = study_get(user=request.user, slug=slug)
    events = audit_event_list(user=request.user, study=study)[:500]
    return render(request, "research/audit.html", {"study": study, "events": events})


@researcher_required
def protocol_version_new_view(request: HttpRequest, arm_id: int) -> HttpResponse:
    """Editing a protocol means writing its next version; enrolled participants keep the one they have."""
    arm = arm_list(user=request.user).filter(pk=arm_id).first()
    if arm is None:
        raise Http404("No such arm")
    current = arm.current_protocol
    initial = {}
    if current:
        initial = {
            "puzzle_groups": [f"{pin['key']}:{pin['version']}" for pin in current.puzzle_groups],
            "puzzles_per_session": current.puzzles_per_session, "sessions_per_week": current.sessions_per_week,
            "cue_policy": current.cue_policy, "model_name": current.model_name,
            "scoring": "strict" if current.scoring_policy == STRICT.as_dict() else "standard",
        }  # fmt: skip
    form = ProtocolVersionForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        protocol = protocol_version_create(
            arm=arm, puzzle_groups=form.pins(), puzzles_per_session=data["puzzles_per_session"],
            sessions_per_week=data["sessions_per_week"], cue_policy=data["cue_policy"],
            model_name=data["model_name"], scoring_policy=form.scoring_policy(), notes=data["notes"],
            created_by=request.user,
        )  # fmt: skip
        audit_record(
            actor=request.user, action=AuditEvent.Action.CHANGE, target="protocol version", study=arm.study,
            detail={"arm": arm.key, "version": protocol.version}, request=request,
        )  # fmt: skip
        messages.success(request, f"Saved {arm.key} protocol version {protocol.version}.")
        return redirect("research:study_detail", slug=arm.study.slug)
    return render(request, "research/protocol_form.html", {"arm": arm, "current": current, "form": form})


@researcher_required
@require_POST
def participant_withdraw_view(request: HttpRequest, public_code: str) -> HttpResponse:
    participant = participant_get(user=request.user, public_code=public_code)
    if request.POST.get("confirm") != participant.public_code:
        messages.error(request, "Type the participant's code to confirm the withdrawal.")
        return redirect("research:participant_detail", public_code=public_code)
    participant = participant_withdraw(participant=participant, by=request.user)
    messages.success(request, f"{participant.public_code} is withdrawn.")
    return redirect("research:study_detail", slug=participant.study.slug)


@researcher_required
def participant_stats_csv_view(request: HttpRequest, public_code: str, name: str) -> HttpResponse:
    participant = participant_get(user=request.user, public_code=public_code)
    if name not in stats.PARTICIPANT_STATS:
        raise Http404("No such table")
    audit_record(
        actor=request.user, action=AuditEvent.Action.EXPORT, target=f"participant {name}", study=participant.study,
        participant_code=participant.public_code, request=request,
    )  # fmt: skip
    return _csv_response(
        f"{participant.public_code}-{name}.csv", stats.PARTICIPANT_STATS[name](participant=participant)
    )


def _csv_response(filename: str, rows: list[dict]) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    if rows:
        writer = csv.DictWriter(response, fieldnames=list(rows[0]), lineterminator="\r\n")
        writer.writeheader()
        writer.writerows(rows)
    return response


@researcher_required
def participant_detail_view(request: HttpRequest, public_code: str) -> HttpResponse:
    participant = participant_get(user=request.user, public_code=public_code)
    upload_form = UploadForm()
    if request.method == "POST":
        upload_form = UploadForm(request.POST, request.FILES)
        if upload_form.is_valid():
            try:
                job = import_job_create_from_upload(
                    participant=participant, upload=upload_form.cleaned_data["file"], created_by=request.user,
                    columns=upload_form.cleaned_data["columns"],
                )  # fmt: skip
            except ImportFailed as failure:
                for issue in failure.issues:
                    messages.error(request, str(issue))
            except ParticipantWithdrawn as refused:
                messages.error(request, str(refused))
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
    audit_record(
        actor=request.user, action=AuditEvent.Action.VIEW, target="participant dashboard", study=participant.study,
        participant_code=participant.public_code, request=request,
    )  # fmt: skip
    charts = {name.replace("-", "_"): table(participant=participant) for name, table in stats.PARTICIPANT_STATS.items()}
    return render(
        request,
        "research/participant_detail.html",
        {
            "charts": charts,
            "participant": participant,
            "llm": llm_work_get(participant=participant),
            "authored": authored_puzzle_summary(participant=participant),
            "reworded": reworded_line_summary(participant=participant),
            "upload_form": upload_form,
            "search_form": search_form,
            "hits": hits,
            "jobs": import_job_list(participant=participant)[:20],
            "entries": entry_list(participant=participant).select_related("excluded_by").order_by("-occurred_at")[:200],
        },
    )


def _start_of(day: date, days: int = 0) -> datetime:
    return timezone.make_aware(datetime.combine(day + timedelta(days=days), time.min))
