from django.apps import AppConfig


class LifelogConfig(AppConfig):
    name = "lifelog"
