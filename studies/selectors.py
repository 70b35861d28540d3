"""Reads scoped to the caller's rights. Every view, API and consumer gets studies and participants through here."""

from django.db.models import QuerySet
from django.http import Http404

from accounts.models import User

from .models import Arm, AuditEvent, ConsentVersion, Participant, ProtocolVersion, Study


def study_list(*, user: User) -> QuerySet[Study]:
    if not user.is_authenticated or not user.is_researcher:
        return Study.objects.none()
    return Study.objects.filter(researchers=user)


def participant_list(*, user: User, study: Study | None = None) -> QuerySet[Participant]:
    """Researchers see the participants of their studies; a trainee sees only themself."""
    if not user.is_authenticated:
        return Participant.objects.none()
    if user.is_researcher:
        qs = Participant.objects.filter(study__researchers=user)
    else:
        qs = Participant.objects.filter(user=user)
    if study is not None:
        qs = qs.filter(study=study)
    return qs.select_related("study")


def participant_get(*, user: User, public_code: str) -> Participant:
    """404 rather than 403 for another person's participant: existence is not disclosed."""
    try:
        return participant_list(user=user).get(public_code=public_code)
    except Participant.DoesNotExist:
        raise Http404("No such participant") from None


def study_get(*, user: User, slug: str) -> Study:
    try:
        return study_list(user=user).get(slug=slug)
    except Study.DoesNotExist:
        raise Http404("No such study") from None


def arm_list(*, user: User) -> QuerySet[Arm]:
    return Arm.objects.filter(study__in=study_list(user=user)).select_related("study")


def consent_version_list(*, user: User) -> QuerySet[ConsentVersion]:
    return ConsentVersion.objects.filter(study__in=study_list(user=user)).select_related("study")


def protocol_version_list(*, user: User) -> QuerySet[ProtocolVersion]:
    return ProtocolVersion.objects.filter(arm__study__in=study_list(user=user)).select_related("arm__study")


def researcher_participant_list(*, user: User) -> QuerySet[Participant]:
    """Participants of the researcher's studies (trainees get none: this is the researcher side)."""
    return Participant.objects.filter(study__in=study_list(user=user)).select_related(
        "study", "arm", "protocol_version"
    )


def audit_event_list(*, user: User, study: Study) -> QuerySet[AuditEvent]:
    return AuditEvent.objects.filter(study__in=study_list(user=user), study=study).select_related("actor")


def trainee_participant(*, user: User) -> Participant:
    """The logged-in trainee's own active participation."""
    participant = (
        Participant.objects.filter(user=user, status=Participant.Status.ACTIVE).first()
        if user.is_authenticated
        else None
    )
    if participant is None or not user.is_trainee:
        raise Http404("No trainee profile")
    return participant
