from django.urls import path

from chat.consumers import TrainingChatConsumer
from lifelog.consumers import ImportJobProgressConsumer

websocket_urlpatterns = [
    path("ws/imports/<int:job_id>/", ImportJobProgressConsumer.as_asgi()),
    path("ws/chat/<int:session_id>/", TrainingChatConsumer.as_asgi()),
]
