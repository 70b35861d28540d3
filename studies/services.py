"""Writes to studies: studies, arms and their protocol versions, consent, enrolment, withdrawal and the
audit trail."""

import secrets
from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import JSONField, Max, Value
from django.http import HttpRequest
from django.utils import timezone

from accounts.models import User
from accounts.services import user_create

from .models import (
    PUBLIC_CODE_ALPHABET,
    Arm,
    AuditEvent,
    Consent,
    ConsentVersion,
    CuePolicy,
    Participant,
    ParticipantIdentity,
    ProtocolVersion,
    Study,
)
from .signals import participant_withdrawn, protocol_pins_check


@transaction.atomic
def study_create(*, name: str, slug: str, researchers: list[User], description: str = "") -> Study:
    study = Study(name=name, slug=slug, description=description)
    study.full_clean()
    study.save()
    study.researchers.set(researchers)
    return study


@transaction.atomic
def arm_create(*, study: Study, key: str, name: str, description: str = "") -> Arm:
    arm = Arm(study=study, key=key, name=name, description=description)
    arm.full_clean()
    arm.save()
    return arm


@transaction.atomic
def protocol_version_create(
    *,
    arm: Arm,
    puzzle_groups: list[dict],
    puzzles_per_session: int = 5,
    sessions_per_week: int = 3,
    cue_policy: str = CuePolicy.ADAPTIVE,
    model_name: str = "",
    scoring_policy: dict | None = None,
    notes: str = "",
    created_by: User | None = None,
) -> ProtocolVersion:
    """The arm's next protocol version. Participants already enrolled keep the version they have."""
    Arm.objects.select_for_update().get(pk=arm.pk)  # two editors never get the same number
    for _receiver, unknown in protocol_pins_check.send(sender=ProtocolVersion, pins=puzzle_groups):
        for pin in unknown or []:
            raise ValidationError({"puzzle_groups": f"No puzzle group {pin.get('key')} v{pin.get('version')}."})
    latest = arm.protocol_versions.aggregate(latest=Max("version"))["latest"] or 0
    protocol = ProtocolVersion(
        arm=arm,
        version=latest + 1,
        puzzle_groups=[{"key": pin["key"], "version": int(pin["version"])} for pin in puzzle_groups],
        puzzles_per_session=puzzles_per_session,
        sessions_per_week=sessions_per_week,
        cue_policy=cue_policy,
        model_name=model_name,
        scoring_policy=scoring_policy or {},
        notes=notes,
        created_by=created_by,
    )
    protocol.full_clean()
    protocol.save()
    return protocol


@transaction.atomic
def consent_version_create(*, study: Study, text: str, on_withdrawal: str) -> ConsentVersion:
    latest = study.consent_versions.aggregate(latest=Max("version"))["latest"] or 0
    consent = ConsentVersion(study=study, version=latest + 1, text=text, on_withdrawal=on_withdrawal)
    consent.full_clean()
    consent.save()
    return consent


@transaction.atomic
def participant_enroll(
    *,
    study: Study,
    user: User | None = None,
    arm: Arm | None = None,
    consent_given_at: datetime | None = None,
    recorded_by: User | None = None,
    timezone: str = "UTC",
    full_name: str = "",
    email: str = "",
) -> Participant:
    """Enrols on the arm's current protocol version. A study with a consent text needs the date the
    participant agreed to its latest version."""
    if arm is not None and arm.study_id != study.pk:
        raise ValidationError({"arm": "That arm belongs to another study."})
    protocol = arm.current_protocol if arm else None
    if arm is not None and protocol is None:
        raise ValidationError({"arm": "The arm has no protocol yet."})
    consent_version = study.consent_versions.order_by("-version").first()
    if consent_version is not None and consent_given_at is None:
        raise ValidationError({"consent_given_at": "Record when the participant gave consent."})
    participant = Participant(study=study, user=user, arm=arm, protocol_version=protocol, timezone=timezone)
    participant.full_clean()
    participant.save()
    ParticipantIdentity.objects.create(participant=participant, full_name=full_name, email=email)
    if consent_version is not None:
        Consent.objects.create(
            participant=participant,
            consent_version=consent_version,
            given_at=consent_given_at,
            recorded_by=recorded_by,
        )
    return participant


def one_time_password_new() -> str:
    """Three groups of four unambiguous characters (~59 bits): easy to read out or copy from paper."""
    return "-".join("".join(secrets.choice(PUBLIC_CODE_ALPHABET) for _ in range(4)) for _ in range(3))


@dataclass(frozen=True)
class TraineeLogin:
    """A login's password in clear, for the one response that shows it; only its hash is stored."""

    username: str
    password: str


@dataclass(frozen=True)
class Registration:
    participant: Participant
    login: TraineeLogin | None


@transaction.atomic
def participant_register(
    *,
    study: Study,
    arm: Arm,
    by: User,
    consent_given_at: datetime | None,
    timezone: str,
    full_name: str = "",
    email: str = "",
    username: str = "",
) -> Registration:
    """Enrolment by a researcher, recorded in the audit log. With a username it also creates the trainee's
    login with a generated password, returned once (the researcher hands it over) and stored only hashed."""
    login = TraineeLogin(username=username, password=one_time_password_new()) if username else None
    user = user_create(username=username, password=login.password, role=User.Role.TRAINEE) if login else None
    participant = participant_enroll(
        study=study, user=user, arm=arm, consent_given_at=consent_given_at, recorded_by=by, timezone=timezone,
        full_name=full_name, email=email,
    )  # fmt: skip
    audit_record(
        actor=by, action=AuditEvent.Action.CHANGE, target="enrolment", study=study,
        participant_code=participant.public_code, detail={"login": bool(login)},
    )  # fmt: skip
    return Registration(participant=participant, login=login)


@transaction.atomic
def trainee_password_reset(*, participant: Participant, by: User) -> TraineeLogin:
    """A new generated password for the participant's login, returned once. A participant enrolled without a
    login gets one now, named after the public code. Changing the password ends the trainee's open web
    sessions (Django checks the password hash in each session)."""
    participant = Participant.objects.select_for_update().get(pk=participant.pk)
    if participant.status != Participant.Status.ACTIVE:
        raise ValidationError("A withdrawn participant has no login to reset.")
    password = one_time_password_new()
    user = participant.user
    if user is None:
        user = user_create(username=participant.public_code.lower(), password=password, role=User.Role.TRAINEE)
        participant.user = user
        participant.save(update_fields=["user"])
    else:
        user.set_password(password)
        user.save(update_fields=["password"])
    audit_record(
        actor=by, action=AuditEvent.Action.CHANGE, target="trainee password", study=participant.study,
        participant_code=participant.public_code,
    )  # fmt: skip
    return TraineeLogin(username=user.username, password=password)


@transaction.atomic
def participant_withdraw(*, participant: Participant, by: User, now: datetime | None = None) -> Participant:
    """Ends the participation. Their consent decides the data: 'retain' keeps what was collected under
    the public code; 'delete' (also the rule when no consent was recorded) erases the life log, the
    sessions and trial records, the identifying details and the login. The row and its public code stay
    so the audit trail still reads. The apps above erase their own data on `participant_withdrawn`."""
    now = now or timezone.now()
    participant = Participant.objects.select_for_update().get(pk=participant.pk)
    if participant.status == Participant.Status.WITHDRAWN:
        return participant
    consent = participant.consents.select_related("consent_version").order_by("-given_at").first()
    keep = consent is not None and consent.consent_version.on_withdrawal == ConsentVersion.OnWithdrawal.RETAIN
    participant.consents.filter(withdrawn_at__isnull=True).update(withdrawn_at=now)
    participant_withdrawn.send(sender=Participant, participant_id=participant.pk, erase=not keep, now=now)
    user = participant.user
    if keep:
        if user is not None:
            user.is_active = False
            user.save(update_fields=["is_active"])
    else:
        audit_erase_content(participant_code=participant.public_code)
        ParticipantIdentity.objects.filter(participant=participant).delete()
        participant.user = None
        if user is not None:
            transaction.on_commit(user.delete)
    participant.status = Participant.Status.WITHDRAWN
    participant.withdrawn_at = now
    participant.save(update_fields=["status", "withdrawn_at", "user"])
    audit_record(
        actor=by,
        action=AuditEvent.Action.WITHDRAW,
        target="participant",
        study=participant.study,
        participant_code=participant.public_code,
        detail={"data": "retained" if keep else "deleted"},
    )
    return participant


ERASED = "[erased with the participant's data]"


def audit_erase_content(*, participant_code: str) -> int:
    """The audit trail outlives an erasure but keeps none of the erased data: the search terms and filters
    of reads (which quote the life log, e.g. {"person": ["Harold"]}) are replaced; who did what, when, stays."""
    events = AuditEvent.objects.filter(participant_code=participant_code, detail__has_key="query")
    return events.update(detail=Value({"query": ERASED}, output_field=JSONField()))


def audit_record(
    *,
    actor: User,
    action: str,
    target: str,
    study: Study | None = None,
    participant_code: str = "",
    detail: dict | None = None,
    request: HttpRequest | None = None,
) -> AuditEvent:
    return AuditEvent.objects.create(
        actor=actor,
        action=action,
        target=target,
        study=study,
        participant_code=participant_code,
        detail=detail or {},
        ip_address=request.META.get("REMOTE_ADDR") if request is not None else None,
    )
