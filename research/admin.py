from django.contrib import admin

from .models import Participant, ParticipantIdentity, Study


@admin.register(Study)
class StudyAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "created_at")
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}
    filter_horizontal = ("researchers",)


@admin.register(Participant)
class ParticipantAdmin(admin.ModelAdmin):
    list_display = ("public_code", "study", "timezone", "created_at")
    list_filter = ("study",)
    search_fields = ("public_code",)


@admin.register(ParticipantIdentity)
class ParticipantIdentityAdmin(admin.ModelAdmin):
    list_display = ("participant", "full_name", "email")
    search_fields = ("participant__public_code", "full_name", "email")
