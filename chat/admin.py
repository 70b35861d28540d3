from django.contrib import admin

from .models import Attempt, ChatMessage, ItemMemory, LLMContext, Puzzle, PuzzleGroup, TrainingSession


@admin.register(PuzzleGroup)
class PuzzleGroupAdmin(admin.ModelAdmin):
    list_display = ("key", "version", "kind", "title", "active", "created_at")
    list_filter = ("kind", "active")
    search_fields = ("key", "title")


class PuzzleInline(admin.TabularInline):
    model = Puzzle
    extra = 0
    fields = ("index", "group", "entry", "start_cue_level", "cue_level", "outcome", "recalled_at_level")
    readonly_fields = fields
    can_delete = False


@admin.register(TrainingSession)
class TrainingSessionAdmin(admin.ModelAdmin):
    list_display = ("id", "participant", "protocol_version", "status", "puzzles_planned", "model_name", "started_at")
    list_filter = ("status", "participant__study", "participant__arm", "model_name")
    search_fields = ("participant__public_code",)
    date_hierarchy = "started_at"
    raw_id_fields = ("participant",)
    inlines = [PuzzleInline]


@admin.register(Puzzle)
class PuzzleAdmin(admin.ModelAdmin):
    list_display = ("id", "session", "index", "group", "outcome", "start_cue_level", "cue_level", "hints_used")
    list_filter = ("outcome", "group", "session__participant__study")
    search_fields = ("session__participant__public_code",)
    raw_id_fields = ("session", "entry")


@admin.register(ChatMessage)
class ChatMessageAdmin(admin.ModelAdmin):
    list_display = ("session", "seq", "role", "kind", "status", "created_at")
    list_filter = ("role", "kind", "status")
    search_fields = ("session__participant__public_code", "text")
    raw_id_fields = ("session", "puzzle")


@admin.register(Attempt)
class AttemptAdmin(admin.ModelAdmin):
    list_display = ("id", "puzzle", "attempt_number", "cue_level", "correct", "score", "scorer", "response_time_ms")
    list_filter = ("correct", "scorer", "puzzle__group", "puzzle__session__participant__study")
    search_fields = ("puzzle__session__participant__public_code", "response_text")
    date_hierarchy = "answered_at"
    raw_id_fields = ("puzzle", "message")


@admin.register(ItemMemory)
class ItemMemoryAdmin(admin.ModelAdmin):
    list_display = ("entry", "reviews", "due", "last_reviewed_at")
    list_filter = ("entry__participant__study",)
    raw_id_fields = ("entry",)


@admin.register(LLMContext)
class LLMContextAdmin(admin.ModelAdmin):
    list_display = ("participant", "state", "prefix_sha256", "updated_at")
    list_filter = ("state",)
    search_fields = ("participant__public_code",)
