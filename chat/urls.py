from django.urls import path

from . import views

app_name = "chat"
urlpatterns = [
    path("", views.train_home_view, name="home"),
    path("start/", views.train_start_view, name="start"),
    path("session/<int:session_id>/", views.train_session_view, name="session"),
]
