from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from accounts.views import home, preferences_view

urlpatterns = [
    path("", home, name="home"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("account/preferences/", preferences_view, name="preferences"),
    path("admin/", admin.site.urls),
    path("train/", include("chat.urls")),
    path("research/", include("research.urls")),
    path("lifelog/", include("lifelog.urls")),
    path("api/", include("research.api_urls")),
    path("api/", include("lifelog.api_urls")),
]
# Uploaded files and photos are never served from MEDIA_URL, in development neither: photos go through
# lifelog's authorized views, import files stay with the server.
