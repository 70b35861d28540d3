from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from .models import User


@admin.register(User)
class ReMeUserAdmin(UserAdmin):
    fieldsets = (*UserAdmin.fieldsets, ("ReMe", {"fields": ("role",)}))
    add_fieldsets = (*UserAdmin.add_fieldsets, ("ReMe", {"fields": ("role",)}))
    list_display = ("username", "role", "is_staff", "is_active", "last_login")
    list_filter = ("role", "is_staff", "is_active")
