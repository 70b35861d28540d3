"""The research REST API: read what the caller's studies hold; set a study up (studies, arms, consent texts,
protocol versions); enrol participants with a trainee login and reset its password; export attempts.

Thin: every queryset comes from a selector (scoped to the caller's studies), writes go through a service,
and every read of participant data is written to the audit log."""

import hashlib
from datetime import UTC

from django.conf import settings
from django.core.exceptions import ValidationError as ModelValidationError
from django.core.handlers.asgi import ASGIRequest
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle, SimpleRateThrottle
from rest_framework.views import APIView

from accounts.services import api_token_issue
from chat.models import Attempt, TrainingSession
from lifelog.apis import parse_when_param
from studies import selectors as studies_selectors
from studies.models import Arm, AuditEvent, ConsentVersion, CuePolicy, Participant, ProtocolVersion, Study
from studies.services import (
    TraineeLogin,
    arm_create,
    audit_record,
    consent_version_create,
    participant_register,
    protocol_version_create,
    study_create,
    trainee_password_reset,
)

from . import filters, selectors
from .export import WITHDRAWN_TEXT, AttemptExport, ExportFilters


class IsResearcher(BasePermission):
    message = "Only researchers may use the research API."

    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.is_authenticated and request.user.is_researcher)


class ResearcherOnly:
    """Trainees get 403 on every research endpoint; researchers see only their studies (the selectors)."""

    permission_classes = [IsResearcher]


class TokenUsernameThrottle(SimpleRateThrottle):
    """Counts token requests per username, whatever address they come from: a guesser who spreads the
    attempts over many addresses (or forged X-Forwarded-For headers) still hits the limit."""

    scope = "token_username"

    def get_cache_key(self, request: Request, view) -> str | None:
        username = request.data.get("username") if hasattr(request.data, "get") else None
        if not isinstance(username, str) or not username:
            return None  # refused by the serializer anyway; the per-address throttle still counts it
        digest = hashlib.sha256(username.strip().casefold().encode()).hexdigest()
        return self.cache_format % {"scope": self.scope, "ident": digest}


class ThrottledObtainAuthToken(ObtainAuthToken):
    """Token for username + password; throttled per client address (REST_FRAMEWORK's NUM_PROXIES decides how
    far X-Forwarded-For is trusted) and per username, against password guessing."""

    throttle_classes = [ScopedRateThrottle, TokenUsernameThrottle]
    throttle_scope = "token"

    def post(self, request: Request, *args, **kwargs) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        token = api_token_issue(user=serializer.validated_data["user"])
        return Response({"token": token.key, "expires_at": token.created + settings.API_TOKEN_TTL})


class UtcDateTimeField(serializers.DateTimeField):
    """Any ISO time, normalized to UTC: PostgreSQL refuses offsets Python accepts (e.g. -22:18)."""

    def to_internal_value(self, value):
        parsed = super().to_internal_value(value)
        try:
            return parsed.astimezone(UTC)
        except OverflowError:
            raise ValidationError("That time is out of range.") from None


def as_api_error(error: ModelValidationError) -> ValidationError:
    return ValidationError(error.message_dict if hasattr(error, "error_dict") else error.messages)


class StudySerializer(serializers.ModelSerializer):
    arms = serializers.SlugRelatedField(many=True, read_only=True, slug_field="key")

    class Meta:
        model = Study
        fields = ["slug", "name", "description", "arms", "created_at"]


class ArmSerializer(serializers.ModelSerializer):
    study = serializers.CharField(source="study.slug", read_only=True)
    current_protocol_version = serializers.SerializerMethodField()

    class Meta:
        model = Arm
        fields = ["id", "study", "key", "name", "description", "current_protocol_version", "created_at"]

    def get_current_protocol_version(self, arm: Arm) -> int | None:
        protocol = arm.current_protocol
        return protocol.version if protocol else None


class PuzzleGroupPinSerializer(serializers.Serializer):
    key = serializers.SlugField(max_length=64)
    version = serializers.IntegerField(min_value=1)


class ProtocolVersionSerializer(serializers.ModelSerializer):
    study = serializers.CharField(source="arm.study.slug", read_only=True)
    arm = serializers.CharField(source="arm.key", read_only=True)
    arm_id = serializers.IntegerField(read_only=True)
    puzzle_groups = PuzzleGroupPinSerializer(many=True)
    cue_policy = serializers.ChoiceField(choices=CuePolicy.choices, default=CuePolicy.ADAPTIVE)

    class Meta:
        model = ProtocolVersion
        fields = [
            "id", "study", "arm", "arm_id", "version", "puzzle_groups", "puzzles_per_session", "sessions_per_week",
            "cue_policy", "model_name", "scoring_policy", "notes", "created_at",
        ]  # fmt: skip
        read_only_fields = ["version", "created_at"]


class ParticipantSerializer(serializers.ModelSerializer):
    """Public codes only: identifying details never leave through the API."""

    study = serializers.CharField(source="study.slug", read_only=True)
    arm = serializers.CharField(source="arm.key", read_only=True, default=None)
    protocol_version = serializers.IntegerField(source="protocol_version.version", read_only=True, default=None)
    enrolled_at = serializers.DateTimeField(source="created_at", read_only=True)

    class Meta:
        model = Participant
        fields = ["public_code", "study", "arm", "protocol_version", "status", "enrolled_at", "withdrawn_at"]


class TrainingSessionSerializer(serializers.ModelSerializer):
    participant = serializers.CharField(source="participant.public_code", read_only=True)
    study = serializers.CharField(source="participant.study.slug", read_only=True)
    arm = serializers.CharField(source="participant.arm.key", read_only=True, default=None)
    protocol_version = serializers.IntegerField(source="protocol_version.version", read_only=True, default=None)

    class Meta:
        model = TrainingSession
        fields = [
            "id", "participant", "study", "arm", "protocol_version", "status", "puzzles_planned", "model_name",
            "started_at", "ended_at",
        ]  # fmt: skip


class AttemptSerializer(serializers.ModelSerializer):
    """The trial record, as in the export."""

    participant = serializers.CharField(source="puzzle.session.participant.public_code", read_only=True)
    study = serializers.CharField(source="puzzle.session.participant.study.slug", read_only=True)
    arm = serializers.CharField(source="puzzle.session.participant.arm.key", read_only=True, default=None)
    session_id = serializers.IntegerField(source="puzzle.session_id", read_only=True)
    trial_index = serializers.IntegerField(source="puzzle.index", read_only=True)
    puzzle_group = serializers.CharField(source="puzzle.group.key", read_only=True)
    puzzle_group_version = serializers.IntegerField(source="puzzle.group.version", read_only=True)
    entry_id = serializers.IntegerField(source="puzzle.entry_id", read_only=True)

    class Meta:
        model = Attempt
        fields = [
            "id", "participant", "study", "arm", "session_id", "trial_index", "attempt_number", "outcome",
            "puzzle_group", "puzzle_group_version", "entry_id", "cue_level", "hints_used", "prompt_shown",
            "response_text", "response_time_ms", "correct", "score", "scorer", "model_name", "prompt_hash",
            "puzzle_source", "text_source", "llm_prompt_hash", "verifier_version", "shown_at", "answered_at",
        ]  # fmt: skip

    def to_representation(self, instance: Attempt) -> dict:
        data = super().to_representation(instance)
        if instance.puzzle.entry.excluded:  # the trial stays; the withdrawn memory's words do not
            data["prompt_shown"] = data["response_text"] = WITHDRAWN_TEXT
        return data


class AuditedListMixin:
    """Lists of participant data are written to the audit log with the filters used."""

    audit_target = ""

    def list(self, request, *args, **kwargs):
        response = super().list(request, *args, **kwargs)
        study = None
        if slug := request.query_params.get("study"):
            study = studies_selectors.study_list(user=request.user).filter(slug=slug).first()
        audit_record(
            actor=request.user,
            action=AuditEvent.Action.VIEW,
            target=self.audit_target,
            study=study,
            participant_code=request.query_params.get("participant", "")[:16],
            detail={"query": dict(request.query_params.lists())},
            request=request,
        )
        return response


class StudyListApi(ResearcherOnly, generics.ListCreateAPIView):
    """POST creates a study with the caller as its researcher."""

    serializer_class = StudySerializer

    def get_queryset(self):
        return studies_selectors.study_list(user=self.request.user).prefetch_related("arms")

    def post(self, request: Request) -> Response:
        form = StudySerializer(data=request.data)
        form.is_valid(raise_exception=True)
        try:
            study = study_create(**form.validated_data, researchers=[request.user])
        except ModelValidationError as error:
            raise as_api_error(error) from None
        audit_record(actor=request.user, action=AuditEvent.Action.CHANGE, target="study", study=study, request=request)
        return Response(StudySerializer(study).data, status=status.HTTP_201_CREATED)


class StudyDetailApi(ResearcherOnly, generics.RetrieveAPIView):
    serializer_class = StudySerializer
    lookup_field = "slug"

    def get_queryset(self):
        return studies_selectors.study_list(user=self.request.user).prefetch_related("arms")


class ArmListApi(ResearcherOnly, generics.ListCreateAPIView):
    """POST adds an arm to one of the caller's studies; give it a protocol with POST /api/protocol-versions/."""

    serializer_class = ArmSerializer
    filterset_class = filters.ArmFilter

    class ArmInputSerializer(serializers.Serializer):
        study = serializers.SlugField(help_text="Study slug.")
        key = serializers.SlugField(max_length=64)
        name = serializers.CharField(max_length=200)
        description = serializers.CharField(required=False, allow_blank=True, default="")

    def get_queryset(self):
        return studies_selectors.arm_list(user=self.request.user).order_by("id")

    @extend_schema(request=ArmInputSerializer, responses={201: ArmSerializer})
    def post(self, request: Request) -> Response:
        form = self.ArmInputSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = dict(form.validated_data)
        study = study_for_write(request, data.pop("study"))
        try:
            arm = arm_create(study=study, **data)
        except ModelValidationError as error:
            raise as_api_error(error) from None
        audit_record(
            actor=request.user, action=AuditEvent.Action.CHANGE, target="arm", study=study,
            detail={"arm": arm.key}, request=request,
        )  # fmt: skip
        return Response(ArmSerializer(arm).data, status=status.HTTP_201_CREATED)


def study_for_write(request: Request, slug: str) -> Study:
    """One of the caller's studies, or a 400 that does not tell whether another's exists."""
    study = studies_selectors.study_list(user=request.user).filter(slug=slug).first()
    if study is None:
        raise ValidationError({"study": "No such study in your studies."})
    return study


class ConsentVersionSerializer(serializers.ModelSerializer):
    study = serializers.SlugField(source="study.slug", help_text="Study slug.")
    on_withdrawal = serializers.ChoiceField(choices=ConsentVersion.OnWithdrawal.choices)

    class Meta:
        model = ConsentVersion
        fields = ["id", "study", "version", "text", "on_withdrawal", "created_at"]
        read_only_fields = ["version", "created_at"]


class ConsentVersionListApi(ResearcherOnly, generics.ListCreateAPIView):
    """Consent texts; POST adds the study's next version, which applies to participants enrolled from then on."""

    serializer_class = ConsentVersionSerializer
    filterset_class = filters.ConsentVersionFilter

    def get_queryset(self):
        return studies_selectors.consent_version_list(user=self.request.user).order_by("id")

    def post(self, request: Request) -> Response:
        form = ConsentVersionSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        study = study_for_write(request, data["study"]["slug"])
        try:
            consent = consent_version_create(study=study, text=data["text"], on_withdrawal=data["on_withdrawal"])
        except ModelValidationError as error:
            raise as_api_error(error) from None
        audit_record(
            actor=request.user, action=AuditEvent.Action.CHANGE, target="consent version", study=study,
            detail={"version": consent.version}, request=request,
        )  # fmt: skip
        return Response(ConsentVersionSerializer(consent).data, status=status.HTTP_201_CREATED)


class ProtocolVersionListApi(ResearcherOnly, generics.ListCreateAPIView):
    """Versions are frozen: POST creates the arm's next version; enrolled participants keep theirs."""

    serializer_class = ProtocolVersionSerializer
    filterset_class = filters.ProtocolVersionFilter

    class ProtocolVersionInputSerializer(ProtocolVersionSerializer):
        arm_id = serializers.IntegerField()

        class Meta(ProtocolVersionSerializer.Meta):
            pass

    def get_queryset(self):
        return studies_selectors.protocol_version_list(user=self.request.user).order_by("id")

    @extend_schema(request=ProtocolVersionInputSerializer, responses={201: ProtocolVersionSerializer})
    def post(self, request: Request) -> Response:
        form = self.ProtocolVersionInputSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        arm = studies_selectors.arm_list(user=request.user).filter(pk=data["arm_id"]).first()
        if arm is None:
            raise ValidationError({"arm_id": "No such arm in your studies."})
        try:
            protocol = protocol_version_create(
                arm=arm,
                puzzle_groups=[dict(pin) for pin in data["puzzle_groups"]],
                puzzles_per_session=data.get("puzzles_per_session", 5),
                sessions_per_week=data.get("sessions_per_week", 3),
                cue_policy=data["cue_policy"],
                model_name=data.get("model_name", ""),
                scoring_policy=data.get("scoring_policy") or {},
                notes=data.get("notes", ""),
                created_by=request.user,
            )
        except ModelValidationError as error:
            raise as_api_error(error) from None
        audit_record(
            actor=request.user, action=AuditEvent.Action.CHANGE, target="protocol version", study=arm.study,
            detail={"arm": arm.key, "version": protocol.version}, request=request,
        )  # fmt: skip
        return Response(ProtocolVersionSerializer(protocol).data, status=status.HTTP_201_CREATED)


class TraineeLoginSerializer(serializers.Serializer):
    """Shown once: the password is stored only as a hash."""

    username = serializers.CharField()
    password = serializers.CharField()


class ParticipantListApi(ResearcherOnly, AuditedListMixin, generics.ListCreateAPIView):
    """POST enrols a participant on an arm; with a username it creates their trainee login and answers its
    generated password once (`login`). Identifying details go in and never come out."""

    serializer_class = ParticipantSerializer
    filterset_class = filters.ParticipantFilter
    audit_target = "participants"

    class EnrolInputSerializer(serializers.Serializer):
        study = serializers.SlugField(help_text="Study slug.")
        arm = serializers.SlugField(max_length=64, help_text="Arm key; the arm needs a protocol.")
        consent_given_at = UtcDateTimeField(required=False, allow_null=True, default=None,
                                            help_text="Required when the study has a consent text.")  # fmt: skip
        timezone = serializers.CharField(max_length=64, default="UTC")
        full_name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
        email = serializers.EmailField(required=False, allow_blank=True, default="")
        username = serializers.CharField(max_length=150, required=False, allow_blank=True, default="",
                                         help_text="Creates a trainee login with a generated password.")  # fmt: skip

    class EnrolledSerializer(ParticipantSerializer):
        login = TraineeLoginSerializer(allow_null=True, help_text="The generated password, shown only here.")

        class Meta(ParticipantSerializer.Meta):
            fields = [*ParticipantSerializer.Meta.fields, "login"]

    def get_queryset(self):
        return studies_selectors.researcher_participant_list(user=self.request.user).order_by("id")

    @extend_schema(request=EnrolInputSerializer, responses={201: EnrolledSerializer})
    def post(self, request: Request) -> Response:
        form = self.EnrolInputSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = dict(form.validated_data)
        study = study_for_write(request, data.pop("study"))
        arm = study.arms.filter(key=data.pop("arm")).first()
        if arm is None:
            raise ValidationError({"arm": "No such arm in this study."})
        try:
            registration = participant_register(study=study, arm=arm, by=request.user, **data)
        except ModelValidationError as error:
            raise as_api_error(error) from None
        participant = registration.participant
        participant.login = registration.login
        response = Response(self.EnrolledSerializer(participant).data, status=status.HTTP_201_CREATED)
        response["Cache-Control"] = "no-store"
        return response


class ParticipantPasswordResetApi(ResearcherOnly, APIView):
    """A new generated password for the participant's trainee login (created if they had none), answered
    once; the old password stops working."""

    @extend_schema(request=None, responses={200: TraineeLoginSerializer})
    def post(self, request: Request, public_code: str) -> Response:
        participant = studies_selectors.participant_get(user=request.user, public_code=public_code)
        try:
            login: TraineeLogin = trainee_password_reset(participant=participant, by=request.user)
        except ModelValidationError as error:
            raise as_api_error(error) from None
        response = Response(TraineeLoginSerializer(login).data)
        response["Cache-Control"] = "no-store"
        return response


class TrainingSessionListApi(ResearcherOnly, AuditedListMixin, generics.ListAPIView):
    serializer_class = TrainingSessionSerializer
    filterset_class = filters.TrainingSessionFilter
    audit_target = "sessions"

    def get_queryset(self):
        return selectors.training_session_list(user=self.request.user).order_by("id")


class AttemptListApi(ResearcherOnly, AuditedListMixin, generics.ListAPIView):
    serializer_class = AttemptSerializer
    filterset_class = filters.AttemptFilter
    audit_target = "attempts"

    def get_queryset(self):
        return selectors.attempt_list(user=self.request.user).order_by("id")


EXPORT_PARAMETERS = [
    OpenApiParameter("arm", str, description="Only this arm (its key)."),
    OpenApiParameter("participant", str, description="Only this participant (public code)."),
    OpenApiParameter("date_from", OpenApiTypes.DATETIME, description="Attempts answered at or after this time."),
    OpenApiParameter("date_to", OpenApiTypes.DATETIME, description="Attempts answered before this time."),
    OpenApiParameter("redact", bool, description="Replace people and places in free text with stable placeholders."),
]


class AttemptExportApi(ResearcherOnly, APIView):
    """All attempts of a study in long format (one row per attempt), streamed. CSV cells that would start
    a spreadsheet formula get a leading apostrophe; JSON keeps the text exactly."""

    file_format = "csv"

    @extend_schema(
        parameters=EXPORT_PARAMETERS,
        responses={
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR),
            (200, "application/json"): OpenApiTypes.OBJECT,
        },
    )
    def get(self, request: Request, slug: str) -> StreamingHttpResponse:
        study = studies_selectors.study_get(user=request.user, slug=slug)
        params = request.query_params
        export_filters = ExportFilters(
            arm=params.get("arm", "")[:64],
            participant=params.get("participant", "")[:16],
            date_from=parse_when_param(params.get("date_from"), "date_from"),
            date_to=parse_when_param(params.get("date_to"), "date_to"),
        )
        redact = params.get("redact", "").lower() in {"1", "true", "yes"}
        audit = audit_record(
            actor=request.user, action=AuditEvent.Action.EXPORT, target="attempts", study=study,
            participant_code=export_filters.participant,
            detail={"format": self.file_format, "redact": redact, **export_filters.as_dict(), "rows": None},
            request=request,
        )  # fmt: skip
        export = AttemptExport(
            study=study, filters=export_filters, file_format=self.file_format, redact=redact, audit=audit
        )
        # Under ASGI a synchronous iterator would be read whole into memory before sending; give it an async one.
        content = export.achunks() if isinstance(request._request, ASGIRequest) else export.chunks()
        content_type = "text/csv; charset=utf-8" if self.file_format == "csv" else "application/json"
        response = StreamingHttpResponse(content, content_type=content_type)
        response["Content-Disposition"] = f'attachment; filename="{study.slug}-attempts.{self.file_format}"'
        response["Cache-Control"] = "no-store"
        return response


class AttemptExportJsonApi(AttemptExportApi):
    file_format = "json"
