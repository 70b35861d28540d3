"""Django system checks of the chat's settings: a wrong value stops `manage.py check`, the server and the workers
at start, not each authoring task later."""

from django.conf import settings
from django.core.checks import Error, register


@register()
def authoring_kinds_known(app_configs, **kwargs) -> list[Error]:
    from .authoring import KINDS  # at check time: the authoring module is not needed to load the app

    unknown = sorted(set(settings.LLM_AUTHORING_KINDS) - set(KINDS))
    if not unknown:
        return []
    return [Error(f"LLM_AUTHORING_KINDS names unknown puzzle kinds {unknown}", hint=f"The kinds: {', '.join(KINDS)}",
                  id="chat.E001")]  # fmt: skip
