from django.contrib import admin

from .models import ImportJob, LifeLogEntry


@admin.register(LifeLogEntry)
class LifeLogEntryAdmin(admin.ModelAdmin):
    list_display = ("title", "participant", "occurred_at", "time_precision", "place_name", "source", "excluded")
    list_filter = ("source", "time_precision", "excluded", "participant__study")
    search_fields = ("title", "description", "place_name", "participant__public_code")
    exclude = ("embedding",)
    readonly_fields = ("content_hash", "import_job")
    date_hierarchy = "occurred_at"


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    list_display = (
        "original_name",
        "participant",
        "format",
        "status",
        "created_count",
        "duplicate_count",
        "created_at",
    )
    list_filter = ("status", "format", "participant__study")
    search_fields = ("original_name", "participant__public_code", "sha256")
    readonly_fields = ("sha256", "errors", "attempts", "progress_done", "progress_total", "finished_at")
