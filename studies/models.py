"""Studies, arms and their frozen protocol versions, consent, participants and the audit trail: the base
every other app builds on. The tables keep the names the research app gave them (`research_*`), so moving
the models here moved no data."""

import functools
import secrets
import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from .scoring_policy import ScoringPolicy

# Unambiguous characters only: codes are read aloud and typed by people.
PUBLIC_CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"


def new_public_code() -> str:
    return "P-" + "".join(secrets.choice(PUBLIC_CODE_ALPHABET) for _ in range(8))


def new_redaction_key() -> str:
    return secrets.token_hex(32)


class Study(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(unique=True)
    description = models.TextField(blank=True)
    researchers = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="studies", blank=True)
    # Keys the placeholders of redacted exports: the same person gets the same placeholder in every
    # export of this study, and nobody can reverse it without this key.
    redaction_key = models.CharField(max_length=64, default=new_redaction_key, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "research_study"
        verbose_name_plural = "studies"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class CuePolicy(models.TextChoices):
    ADAPTIVE = "adaptive", "Adaptive: start with a cue when free recall has been rare"
    FREE_RECALL_FIRST = "free_recall_first", "Always start with free recall"


class Arm(models.Model):
    """A condition of a study. Its protocol is versioned: see ProtocolVersion."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="arms")
    key = models.SlugField(max_length=64)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "research_arm"
        ordering = ["study", "key"]
        constraints = [models.UniqueConstraint(fields=["study", "key"], name="arm_study_key")]

    def __str__(self) -> str:
        return f"{self.study.slug}/{self.key}"

    @property
    def current_protocol(self) -> "ProtocolVersion | None":
        return self.protocol_versions.order_by("-version").first()


class ProtocolVersion(models.Model):
    """What an arm's trainees do. Frozen once saved: an edit is a new version, and participants keep
    the version they were enrolled on, so a change of model or prompt never confounds a running study."""

    arm = models.ForeignKey(Arm, on_delete=models.CASCADE, related_name="protocol_versions")
    version = models.PositiveIntegerField()
    puzzle_groups = models.JSONField(help_text='Pinned puzzle groups, in turn: [{"key": ..., "version": ...}].')
    puzzles_per_session = models.PositiveSmallIntegerField(default=5)
    sessions_per_week = models.PositiveSmallIntegerField(default=3)
    cue_policy = models.CharField(max_length=32, choices=CuePolicy.choices, default=CuePolicy.ADAPTIVE)
    model_name = models.CharField(max_length=200, blank=True, help_text="LLM that phrases replies; blank = templates.")
    scoring_policy = models.JSONField(
        default=dict, blank=True,
        help_text="How lenient scoring is with names and numbers (studies.scoring_policy); empty: standard.",
    )  # fmt: skip
    notes = models.TextField(blank=True, help_text="What changed from the previous version, and why.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "research_protocolversion"
        ordering = ["arm", "-version"]
        constraints = [models.UniqueConstraint(fields=["arm", "version"], name="protocol_arm_version")]

    def __str__(self) -> str:
        return f"{self.arm} v{self.version}"

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None:
            raise ValidationError("A protocol version is frozen; create a new version instead.")
        super().save(*args, **kwargs)

    def clean(self) -> None:
        if not 1 <= self.puzzles_per_session <= 50:
            raise ValidationError({"puzzles_per_session": "Between 1 and 50 puzzles per session."})
        if not 1 <= self.sessions_per_week <= 14:
            raise ValidationError({"sessions_per_week": "Between 1 and 14 sessions per week."})
        pins = self.puzzle_groups
        if not isinstance(pins, list) or not pins:
            raise ValidationError({"puzzle_groups": "Pin at least one puzzle group."})
        for pin in pins:
            if not isinstance(pin, dict) or set(pin) != {"key", "version"}:
                raise ValidationError({"puzzle_groups": 'Each pin is {"key": ..., "version": ...}.'})
        if not isinstance(self.scoring_policy, dict):
            raise ValidationError({"scoring_policy": "A scoring policy is a JSON object."})
        try:
            ScoringPolicy.from_dict(self.scoring_policy)
        except (TypeError, ValueError) as error:
            raise ValidationError({"scoring_policy": str(error)}) from None


class ConsentVersion(models.Model):
    """The consent text participants agree to, and what withdrawal does with their data."""

    class OnWithdrawal(models.TextChoices):
        DELETE = "delete", "Delete the participant's data"
        RETAIN = "retain", "Keep data collected so far (pseudonymous)"

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="consent_versions")
    version = models.PositiveIntegerField()
    text = models.TextField()
    on_withdrawal = models.CharField(max_length=8, choices=OnWithdrawal.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "research_consentversion"
        ordering = ["study", "-version"]
        constraints = [models.UniqueConstraint(fields=["study", "version"], name="consent_study_version")]

    def __str__(self) -> str:
        return f"{self.study.slug} consent v{self.version}"


@functools.cache
def _known_timezones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def validate_timezone(value: str) -> None:
    """Only names from the zone database: anything else (a typo, 'Mars/Olympus_Mons', a path) would make every
    later import of the participant fail."""
    if value not in _known_timezones():
        raise ValidationError(
            "%(value)s is not a time zone name. Use one like Europe/London or America/New_York.",
            code="invalid_timezone", params={"value": value[:64]},
        )  # fmt: skip


class Participant(models.Model):
    """A trainee inside one study, known everywhere by a pseudonymous public code."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        WITHDRAWN = "withdrawn", "Withdrawn"

    study = models.ForeignKey(Study, on_delete=models.PROTECT, related_name="participants")
    arm = models.ForeignKey(Arm, on_delete=models.PROTECT, null=True, blank=True, related_name="participants")
    protocol_version = models.ForeignKey(
        ProtocolVersion, on_delete=models.PROTECT, null=True, blank=True, related_name="participants",
        help_text="Pinned at enrolment; a later version of the arm's protocol does not change it.",
    )  # fmt: skip
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.ACTIVE)
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    public_code = models.CharField(max_length=16, unique=True, default=new_public_code, editable=False)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="participant"
    )
    timezone = models.CharField(max_length=64, default="UTC", help_text="Used for dates given without a zone.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "research_participant"
        ordering = ["public_code"]

    def __str__(self) -> str:
        return self.public_code

    def clean(self) -> None:
        try:
            validate_timezone(self.timezone)
        except ValidationError as error:
            raise ValidationError({"timezone": error}) from None


class ParticipantIdentity(models.Model):
    """Identifying details, in their own table so exports and APIs never join them by accident."""

    participant = models.OneToOneField(Participant, on_delete=models.CASCADE, related_name="identity")
    full_name = models.CharField(max_length=200, blank=True)
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=40, blank=True)
    notes = models.TextField(blank=True)

    class Meta:
        db_table = "research_participantidentity"
        verbose_name_plural = "participant identities"

    def __str__(self) -> str:
        return f"identity of {self.participant.public_code}"


class Consent(models.Model):
    """A participant's agreement to one consent version: who recorded it and when it was given."""

    participant = models.ForeignKey(Participant, on_delete=models.CASCADE, related_name="consents")
    consent_version = models.ForeignKey(ConsentVersion, on_delete=models.PROTECT, related_name="consents")
    given_at = models.DateTimeField()
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    withdrawn_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "research_consent"
        ordering = ["participant", "-given_at"]

    def __str__(self) -> str:
        return f"{self.participant} agreed to {self.consent_version}"


class AuditEvent(models.Model):
    """Who viewed or exported what, and when. Append-only: rows are never edited or deleted by the app.

    The participant is kept as its public code (not a foreign key), so the trail outlives a withdrawal
    that deletes the participant's data."""

    class Action(models.TextChoices):
        VIEW = "view", "Viewed"
        EXPORT = "export", "Exported"
        CHANGE = "change", "Changed"
        WITHDRAW = "withdraw", "Withdrew"

    # Null once the actor's login is erased: a trainee who withdrew entries, then themselves with `delete`.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="audit_events"
    )
    action = models.CharField(max_length=12, choices=Action.choices)
    target = models.CharField(max_length=200, help_text="What was touched, e.g. 'attempts', 'participant dashboard'.")
    study = models.ForeignKey(Study, on_delete=models.PROTECT, null=True, blank=True, related_name="audit_events")
    participant_code = models.CharField(max_length=16, blank=True)
    detail = models.JSONField(default=dict, blank=True, help_text="Filters, format, row count.")
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "research_auditevent"
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["study", "at"], name="audit_study_at")]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor or '(erased login)'} {self.action} {self.target}"
