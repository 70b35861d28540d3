"""REST endpoints for the life log. Thin: access goes through selectors, writes through services."""

from datetime import datetime, time

from django.conf import settings
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from rest_framework import generics, serializers, status
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from research.selectors import participant_get

from .importers import IMPORT_FORMATS, ImportFailed
from .models import LifeLogEntry
from .selectors import SearchFilters, entry_get, entry_list, entry_search, import_job_get, import_job_list
from .services import entry_set_excluded, import_job_create_from_upload
from .tasks import import_job_state

MAX_QUERY_CHARS = 1000


class EntrySerializer(serializers.ModelSerializer):
    participant = serializers.CharField(source="participant.public_code", read_only=True)

    class Meta:
        model = LifeLogEntry
        fields = [
            "id", "participant", "occurred_at", "time_precision", "title", "description", "place_name",
            "latitude", "longitude", "people", "tags", "photo", "source", "excluded", "created_at",
        ]  # fmt: skip


class SearchHitSerializer(EntrySerializer):
    distance = serializers.FloatField(read_only=True)

    class Meta(EntrySerializer.Meta):
        fields = [*EntrySerializer.Meta.fields, "distance"]


def _require_researcher(request: Request) -> None:
    if not request.user.is_researcher:
        raise PermissionDenied("Only researchers of the participant's study may do this.")


class ImportListApi(APIView):
    parser_classes = [MultiPartParser]

    class InputSerializer(serializers.Serializer):
        file = serializers.FileField()
        format = serializers.ChoiceField(choices=IMPORT_FORMATS, required=False)

    def get(self, request: Request, public_code: str) -> Response:
        _require_researcher(request)
        participant = participant_get(user=request.user, public_code=public_code)
        return Response([import_job_state(job) for job in import_job_list(participant=participant)[:100]])

    def post(self, request: Request, public_code: str) -> Response:
        _require_researcher(request)
        participant = participant_get(user=request.user, public_code=public_code)
        form = self.InputSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        upload = form.validated_data["file"]
        try:
            job = import_job_create_from_upload(
                participant=participant,
                upload=upload,
                created_by=request.user,
                file_format=form.validated_data.get("format"),
            )
        except ImportFailed as failure:
            too_large = upload.size > settings.LIFELOG_MAX_UPLOAD_BYTES
            code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE if too_large else status.HTTP_400_BAD_REQUEST
            return Response({"errors": [issue.as_dict() for issue in failure.issues]}, status=code)
        return Response(import_job_state(job), status=status.HTTP_202_ACCEPTED)


class ImportDetailApi(APIView):
    def get(self, request: Request, job_id: int) -> Response:
        _require_researcher(request)
        return Response(import_job_state(import_job_get(user=request.user, job_id=job_id)))


class EntryListApi(generics.ListAPIView):
    serializer_class = EntrySerializer

    def get_queryset(self):
        participant = participant_get(user=self.request.user, public_code=self.kwargs["public_code"])
        return entry_list(participant=participant).select_related("participant")


class EntryExcludeApi(APIView):
    class InputSerializer(serializers.Serializer):
        excluded = serializers.BooleanField()

    def post(self, request: Request, entry_id: int) -> Response:
        entry = entry_get(user=request.user, entry_id=entry_id)
        form = self.InputSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        entry = entry_set_excluded(entry=entry, excluded=form.validated_data["excluded"])
        return Response(EntrySerializer(entry).data)


class SearchApi(APIView):
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
    return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed)
