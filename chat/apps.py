from django.apps import AppConfig


class ChatConfig(AppConfig):
    name = "chat"

    def ready(self) -> None:
        from . import checks, receivers  # noqa: F401 - registers the checks, connects the receivers
