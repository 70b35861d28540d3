"""Query filters of the research API: study, arm, participant and a date range on every list."""

from datetime import UTC

import django_filters
from django import forms
from django_filters.fields import IsoDateTimeField

from chat.models import Attempt, TrainingSession
from studies.models import Arm, ConsentVersion, Participant, ProtocolVersion


class UtcDateTimeField(IsoDateTimeField):
    """Any ISO time, normalized to UTC: PostgreSQL refuses offsets Python accepts (e.g. -22:18)."""

    def to_python(self, value):
        parsed = super().to_python(value)
        try:
            return parsed.astimezone(UTC) if parsed is not None and parsed.tzinfo else parsed
        except OverflowError:
            raise forms.ValidationError("That time is out of range.") from None


class UtcDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UtcDateTimeField


class StudyArmFilter(django_filters.FilterSet):
    study = django_filters.CharFilter(field_name="study__slug", help_text="Study slug.")


class ArmFilter(StudyArmFilter):
    class Meta:
        model = Arm
        fields = ["study"]


class ConsentVersionFilter(StudyArmFilter):
    class Meta:
        model = ConsentVersion
        fields = ["study"]


class ProtocolVersionFilter(django_filters.FilterSet):
    study = django_filters.CharFilter(field_name="arm__study__slug", help_text="Study slug.")
    arm = django_filters.CharFilter(field_name="arm__key", help_text="Arm key.")

    class Meta:
        model = ProtocolVersion
        fields = ["study", "arm"]


class ParticipantFilter(StudyArmFilter):
    arm = django_filters.CharFilter(field_name="arm__key", help_text="Arm key.")
    status = django_filters.ChoiceFilter(choices=Participant.Status.choices)
    enrolled_from = UtcDateTimeFilter(field_name="created_at", lookup_expr="gte")
    enrolled_to = UtcDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Participant
        fields = ["study", "arm", "status", "enrolled_from", "enrolled_to"]


class TrainingSessionFilter(django_filters.FilterSet):
    study = django_filters.CharFilter(field_name="participant__study__slug", help_text="Study slug.")
    arm = django_filters.CharFilter(field_name="participant__arm__key", help_text="Arm key.")
    participant = django_filters.CharFilter(field_name="participant__public_code", help_text="Public code.")
    date_from = UtcDateTimeFilter(field_name="started_at", lookup_expr="gte")
    date_to = UtcDateTimeFilter(field_name="started_at", lookup_expr="lt")

    class Meta:
        model = TrainingSession
        fields = ["study", "arm", "participant", "date_from", "date_to", "status"]


class AttemptFilter(django_filters.FilterSet):
    study = django_filters.CharFilter(field_name="puzzle__session__participant__study__slug", help_text="Study slug.")
    arm = django_filters.CharFilter(field_name="puzzle__session__participant__arm__key", help_text="Arm key.")
    participant = django_filters.CharFilter(
        field_name="puzzle__session__participant__public_code", help_text="Public code."
    )
    session = django_filters.NumberFilter(field_name="puzzle__session_id")
    date_from = UtcDateTimeFilter(field_name="answered_at", lookup_expr="gte")
    date_to = UtcDateTimeFilter(field_name="answered_at", lookup_expr="lt")

    class Meta:
        model = Attempt
        fields = ["study", "arm", "participant", "session", "date_from", "date_to"]
