from django.urls import path

from lifelog.consumers import ImportJobProgressConsumer

websocket_urlpatterns = [
    path("ws/imports/<int:job_id>/", ImportJobProgressConsumer.as_asgi()),
]
