from django.urls import path

from . import views

app_name = "research"
urlpatterns = [
    path("", views.study_list_view, name="study_list"),
    path("studies/<slug:slug>/", views.study_detail_view, name="study_detail"),
    path("studies/<slug:slug>/arms/new/", views.arm_create_view, name="arm_create"),
    path("studies/<slug:slug>/consent/new/", views.consent_version_create_view, name="consent_version_create"),
    path("studies/<slug:slug>/overview.csv", views.study_overview_csv_view, name="study_overview_csv"),
    path("studies/<slug:slug>/audit/", views.study_audit_view, name="study_audit"),
    path("arms/<int:arm_id>/protocol/new/", views.protocol_version_new_view, name="protocol_version_new"),
    path("participants/<str:public_code>/", views.participant_detail_view, name="participant_detail"),
    path(
        "participants/<str:public_code>/password/",
        views.participant_password_reset_view,
        name="participant_password_reset",
    ),
    path("participants/<str:public_code>/withdraw/", views.participant_withdraw_view, name="participant_withdraw"),
    path(
        "participants/<str:public_code>/stats/<slug:name>.csv",
        views.participant_stats_csv_view,
        name="participant_stats_csv",
    ),
]
