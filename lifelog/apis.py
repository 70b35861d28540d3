"""REST endpoints for the life log. Thin: access goes through selectors, writes through services."""

from datetime import UTC, datetime, time

from django.conf import settings
from django.http import FileResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from studies.models import AuditEvent
from studies.selectors import participant_get
from studies.services import audit_record

from .importers import IMPORT_FORMATS, ImportFailed
from .models import LifeLogEntry
from .selectors import SearchFilters, entry_get, entry_list, entry_search, import_job_get, import_job_list
from .services import EntryChangeRefused, ParticipantWithdrawn, entry_set_excluded, import_job_create_from_upload
from .tasks import import_job_state
from .views import photo_response

MAX_QUERY_CHARS = 1000


class EntrySerializer(serializers.ModelSerializer):
    participant = serializers.CharField(source="participant.public_code", read_only=True)
    photo = serializers.SerializerMethodField(help_text="The photo's URL (authorized callers only), or null.")

    class Meta:
        model = LifeLogEntry
        fields = [
            "id", "participant", "occurred_at", "time_precision", "title", "description", "place_name",
            "latitude", "longitude", "people", "tags", "photo", "source", "excluded", "created_at",
        ]  # fmt: skip

    def get_photo(self, entry: LifeLogEntry) -> str | None:
        return reverse("api_entry_photo", kwargs={"entry_id": entry.pk}) if entry.photo else None

    def to_representation(self, instance: LifeLogEntry) -> dict:
        request = self.context.get("request")
        if instance.excluded and (request is None or request.user.is_researcher):
            # A tombstone: that it existed and was withdrawn, when and by whom; never what it said.
            withdrawer = instance.excluded_by
            return {
                "id": instance.pk, "participant": instance.participant.public_code, "excluded": True,
                "excluded_at": instance.excluded_at and instance.excluded_at.isoformat(),
                "excluded_by": "participant" if withdrawer and withdrawer.is_trainee else "researcher",
            }  # fmt: skip
        return super().to_representation(instance)


class SearchHitSerializer(EntrySerializer):
    distance = serializers.FloatField(read_only=True)

    class Meta(EntrySerializer.Meta):
        fields = [*EntrySerializer.Meta.fields, "distance"]


def _require_researcher(request: Request) -> None:
    if not request.user.is_researcher:
        raise PermissionDenied("Only researchers of the participant's study may do this.")


class ImportListApi(APIView):
    parser_classes = [MultiPartParser]

    class ImportUploadSerializer(serializers.Serializer):
        file = serializers.FileField()
        format = serializers.ChoiceField(choices=IMPORT_FORMATS, required=False)
        columns = serializers.CharField(
            max_length=1000, required=False, allow_blank=True, default="",
            help_text="CSV/JSON only: the file's names renamed to ours, e.g. 'Datum=date, Notiz=description'. "
            "Ours: CSV date, time, title, description, place, latitude, longitude, people, tags; "
            "JSON when, title, description, place, people, tags.",
        )  # fmt: skip

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request, public_code: str) -> Response:
        _require_researcher(request)
        participant = participant_get(user=request.user, public_code=public_code)
        return Response([import_job_state(job) for job in import_job_list(participant=participant)[:100]])

    @extend_schema(
        request={"multipart/form-data": ImportUploadSerializer},
        responses={code: OpenApiTypes.OBJECT for code in (202, 400, 409, 413)},
    )
    def post(self, request: Request, public_code: str) -> Response:
        _require_researcher(request)
        participant = participant_get(user=request.user, public_code=public_code)
        form = self.ImportUploadSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        upload = form.validated_data["file"]
        try:
            job = import_job_create_from_upload(
                participant=participant,
                upload=upload,
                created_by=request.user,
                file_format=form.validated_data.get("format"),
                columns=form.validated_data["columns"],
            )
        except ImportFailed as failure:
            too_large = upload.size > settings.LIFELOG_MAX_UPLOAD_BYTES
            code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE if too_large else status.HTTP_400_BAD_REQUEST
            return Response({"errors": [issue.as_dict() for issue in failure.issues]}, status=code)
        except ParticipantWithdrawn as refused:
            return Response({"detail": str(refused)}, status=status.HTTP_409_CONFLICT)
        return Response(import_job_state(job), status=status.HTTP_202_ACCEPTED)


class ImportDetailApi(APIView):
    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request, job_id: int) -> Response:
        _require_researcher(request)
        return Response(import_job_state(import_job_get(user=request.user, job_id=job_id)))


def _audit_read(request: Request, participant, target: str) -> None:
    """Researchers' reads of a life log go to the audit log (a trainee reading their own does not)."""
    if request.user.is_researcher:
        audit_record(
            actor=request.user, action=AuditEvent.Action.VIEW, target=target, study=participant.study,
            participant_code=participant.public_code, detail={"query": dict(request.query_params.lists())},
            request=request,
        )  # fmt: skip


class EntryListApi(generics.ListAPIView):
    serializer_class = EntrySerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # drf-spectacular reading the view for the schema
            return LifeLogEntry.objects.none()
        participant = participant_get(user=self.request.user, public_code=self.kwargs["public_code"])
        _audit_read(self.request, participant, "life-log entries")
        return entry_list(participant=participant).select_related("participant", "excluded_by")


class EntryExcludeApi(APIView):
    class EntryExclusionSerializer(serializers.Serializer):
        excluded = serializers.BooleanField()

    @extend_schema(request=EntryExclusionSerializer, responses={200: EntrySerializer})
    def post(self, request: Request, entry_id: int) -> Response:
        entry = entry_get(user=request.user, entry_id=entry_id)
        form = self.EntryExclusionSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        try:
            entry = entry_set_excluded(entry=entry, excluded=form.validated_data["excluded"], by=request.user)
        except EntryChangeRefused as refused:
            raise PermissionDenied(str(refused)) from None
        return Response(EntrySerializer(entry, context={"request": request}).data)


class SearchApi(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("q", str, required=True, description=f"Search text, ≤ {MAX_QUERY_CHARS} characters."),
            OpenApiParameter("k", int, description="How many hits (default 10)."),
            OpenApiParameter("date_from", OpenApiTypes.DATETIME), OpenApiParameter("date_to", OpenApiTypes.DATETIME),
            OpenApiParameter("person", str), OpenApiParameter("place", str),
        ],
        responses={200: SearchHitSerializer(many=True)},
    )  # fmt: skip
    def get(self, request: Request, public_code: str) -> Response:
        participant = participant_get(user=request.user, public_code=public_code)
        params = request.query_params
        query = params.get("q", "").strip()
        if not query:
            raise ValidationError({"q": "A search text is required."})
        if len(query) > MAX_QUERY_CHARS:
            raise ValidationError({"q": f"The search text is limited to {MAX_QUERY_CHARS} characters."})
        try:
            k = int(params.get("k", 10))
        except ValueError:
            raise ValidationError({"k": "Must be a whole number."}) from None
        filters = SearchFilters(
            date_from=parse_when_param(params.get("date_from"), "date_from"),
            date_to=parse_when_param(params.get("date_to"), "date_to"),
            person=params.get("person", ""),
            place=params.get("place", ""),
        )
        hits = entry_search(participant=participant, query=query, k=k, filters=filters)
        _audit_read(request, participant, "life-log search")
        return Response(SearchHitSerializer(hits, many=True).data)


def parse_when_param(value: str | None, name: str) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parse_datetime(value)
        if parsed is None and (day := parse_date(value)) is not None:
            parsed = datetime.combine(day, time.min)
    except ValueError:  # well-formed but impossible, e.g. 2025-02-30
        parsed = None
    if parsed is None:
        raise ValidationError({name: "Use YYYY-MM-DD or an ISO date-time."})
    try:
        # In UTC: PostgreSQL refuses offsets that Python accepts (beyond ±15:59).
        return (parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed)).astimezone(UTC)
    except OverflowError:
        raise ValidationError({name: "That time is out of range."}) from None


class EntryPhotoApi(APIView):
    """The entry's photo (location metadata removed at import) for the callers who may see the entry."""

    @extend_schema(responses={(200, "image/jpeg"): OpenApiTypes.BINARY, 404: OpenApiTypes.OBJECT})
    def get(self, request: Request, entry_id: int) -> FileResponse:
        return photo_response(entry_get(user=request.user, entry_id=entry_id))
