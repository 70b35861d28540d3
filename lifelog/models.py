from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from pgvector.django import HnswIndex, VectorField

from studies.models import Participant

from .choices import EntrySource, TimePrecision
from .importers.base import ImportIssue

EMBEDDING_DIM = 384  # all-MiniLM-L6-v2


class ImportJob(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    participant = models.ForeignKey(Participant, on_delete=models.CASCADE, related_name="import_jobs")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    file = models.FileField(upload_to="imports/%Y/%m/")
    original_name = models.CharField(max_length=255)
    format = models.CharField(max_length=16, choices=EntrySource.choices)
    sha256 = models.CharField(max_length=64)
    column_map = models.JSONField(
        default=dict, blank=True, help_text="The file's column or field names (lower case) renamed to ours."
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField(default=0)
    duplicate_count = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    heartbeat_at = models.DateTimeField(
        null=True, blank=True, help_text="When it was last queued, or its worker last showed signs of life."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.original_name} ({self.status})"

    @property
    def error_lines(self) -> list[str]:
        return [str(ImportIssue(**error)) for error in self.errors]

    @property
    def progress_label(self) -> str:
        if self.status == self.Status.RUNNING:
            return f"running {self.progress_done} of {self.progress_total}"
        if self.status == self.Status.FAILED:
            return "failed"
        return self.get_status_display().lower()


class LifeLogEntry(models.Model):
    participant = models.ForeignKey(Participant, on_delete=models.CASCADE, related_name="entries")
    occurred_at = models.DateTimeField(help_text="Start of the event; precision says how much of it is known.")
    time_precision = models.CharField(max_length=8, choices=TimePrecision.choices, default=TimePrecision.EXACT)
    title = models.CharField(max_length=300)
    description = models.TextField(blank=True)
    place_name = models.CharField(max_length=300, blank=True)
    latitude = models.FloatField(null=True, blank=True)
    longitude = models.FloatField(null=True, blank=True)
    people = ArrayField(models.CharField(max_length=200), default=list, blank=True)
    tags = ArrayField(models.CharField(max_length=100), default=list, blank=True)
    photo = models.ImageField(upload_to="photos/%Y/%m/", blank=True)
    source = models.CharField(max_length=16, choices=EntrySource.choices, default=EntrySource.MANUAL)
    import_job = models.ForeignKey(ImportJob, on_delete=models.SET_NULL, null=True, blank=True, related_name="entries")
    content_hash = models.CharField(max_length=64)
    excluded = models.BooleanField(default=False, help_text="Withdrawn by the participant or a researcher.")
    excluded_at = models.DateTimeField(null=True, blank=True)
    excluded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
        help_text="Who withdrew it: an entry a trainee withdrew is restored only by that trainee.",
    )  # fmt: skip
    embedding = VectorField(dimensions=EMBEDDING_DIM, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["occurred_at", "id"]
        verbose_name_plural = "life-log entries"
        constraints = [
            models.UniqueConstraint(fields=["participant", "content_hash"], name="entry_unique_content"),
            models.CheckConstraint(
                condition=(models.Q(latitude__isnull=True) | models.Q(latitude__gte=-90, latitude__lte=90)),
                name="entry_latitude_range",
            ),
            models.CheckConstraint(
                condition=(models.Q(longitude__isnull=True) | models.Q(longitude__gte=-180, longitude__lte=180)),
                name="entry_longitude_range",
            ),
        ]
        indexes = [
            models.Index(fields=["participant", "occurred_at"], name="entry_participant_time"),
            HnswIndex(
                name="entry_embedding_hnsw",
                fields=["embedding"],
                m=16,
                ef_construction=64,
                opclasses=["vector_cosine_ops"],
            ),
        ]

    def __str__(self) -> str:
        return f"{self.occurred_at:%Y-%m-%d} {self.title}"
