from django.apps import AppConfig


class LifelogConfig(AppConfig):
    name = "lifelog"

    def ready(self) -> None:
        from . import receivers  # noqa: F401 - connects the receivers
