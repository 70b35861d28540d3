from django.urls import path

from . import views

app_name = "lifelog"
urlpatterns = [
    path("", views.my_entries_view, name="my_entries"),
    path("entries/<int:entry_id>/exclude/", views.entry_exclude_view, name="entry_exclude"),
    path("entries/<int:entry_id>/photo/", views.entry_photo_view, name="entry_photo"),
]
