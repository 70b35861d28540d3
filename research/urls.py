from django.urls import path

from . import views

app_name = "research"
urlpatterns = [
    path("", views.study_list_view, name="study_list"),
    path("studies/<slug:slug>/", views.study_detail_view, name="study_detail"),
    path("participants/<str:public_code>/", views.participant_detail_view, name="participant_detail"),
]
