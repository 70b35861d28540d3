"""How accounts react to logins and logouts."""

from django.contrib.auth.signals import user_logged_out
from django.dispatch import receiver

from .services import api_tokens_revoke


@receiver(user_logged_out)
def revoke_api_tokens_on_logout(sender, user, **kwargs) -> None:
    if user is not None:
        api_tokens_revoke(user=user)
