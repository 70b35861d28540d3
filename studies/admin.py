from django.contrib import admin

from .models import Arm, AuditEvent, Consent, ConsentVersion, Participant, ParticipantIdentity, ProtocolVersion, Study
from .services import protocol_version_create


class ArmInline(admin.TabularInline):
    model = Arm
    extra = 0
    fields = ("key", "name", "description")


@admin.register(Study)
class StudyAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "created_at")
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}
    filter_horizontal = ("researchers",)
    inlines = [ArmInline]


@admin.register(Arm)
class ArmAdmin(admin.ModelAdmin):
    list_display = ("key", "name", "study", "current_protocol", "created_at")
    list_filter = ("study",)
    search_fields = ("key", "name", "study__slug")


@admin.register(ProtocolVersion)
class ProtocolVersionAdmin(admin.ModelAdmin):
    """Frozen once saved: the admin adds versions but edits none."""

    list_display = (
        "arm",
        "version",
        "puzzles_per_session",
        "sessions_per_week",
        "cue_policy",
        "model_name",
        "created_at",
    )
    list_filter = ("arm__study", "cue_policy", "model_name")
    search_fields = ("arm__key", "arm__study__slug", "model_name", "notes")

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ("created_by",)
        return [field.name for field in self.model._meta.fields]

    def save_model(self, request, obj, form, change):
        if change:
            return
        saved = protocol_version_create(
            arm=obj.arm, puzzle_groups=obj.puzzle_groups, puzzles_per_session=obj.puzzles_per_session,
            sessions_per_week=obj.sessions_per_week, cue_policy=obj.cue_policy, model_name=obj.model_name,
            notes=obj.notes, created_by=request.user,
        )  # fmt: skip
        obj.pk, obj.version = saved.pk, saved.version

    def get_exclude(self, request, obj=None):
        return ("version",) if obj is None else ()


@admin.register(ConsentVersion)
class ConsentVersionAdmin(admin.ModelAdmin):
    list_display = ("study", "version", "on_withdrawal", "created_at")
    list_filter = ("study", "on_withdrawal")


@admin.register(Participant)
class ParticipantAdmin(admin.ModelAdmin):
    list_display = ("public_code", "study", "arm", "protocol_version", "status", "created_at", "withdrawn_at")
    list_filter = ("study", "arm", "status")
    search_fields = ("public_code",)
    readonly_fields = ("public_code", "protocol_version", "status", "withdrawn_at")


@admin.register(ParticipantIdentity)
class ParticipantIdentityAdmin(admin.ModelAdmin):
    list_display = ("participant", "full_name", "email")
    search_fields = ("participant__public_code", "full_name", "email")


@admin.register(Consent)
class ConsentAdmin(admin.ModelAdmin):
    list_display = ("participant", "consent_version", "given_at", "recorded_by", "withdrawn_at")
    list_filter = ("consent_version__study", "consent_version")
    search_fields = ("participant__public_code",)


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only: the trail is evidence."""

    list_display = ("at", "actor", "action", "target", "study", "participant_code", "ip_address")
    list_filter = ("action", "study", "target")
    search_fields = ("actor__username", "participant_code", "target")
    date_hierarchy = "at"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
