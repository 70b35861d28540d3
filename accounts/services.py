from django.conf import settings
from django.db import transaction
from django.utils import timezone
from rest_framework.authtoken.models import Token

from .models import User


@transaction.atomic
def user_create(*, username: str, password: str, role: str, email: str = "") -> User:
    user = User(username=username, email=email, role=role)
    user.set_password(password)
    user.full_clean()
    user.save()
    return user


FONT_SCALES = (100, 125, 150, 175, 200)


@transaction.atomic
def user_set_preferences(
    *, user: User, font_step: str | None = None, high_contrast: str | None = None, read_aloud: str | None = None
) -> User:
    """font_step "+1"/"-1" moves along FONT_SCALES; high_contrast and read_aloud "1"/"0" set them. Two quick taps
    arrive as two requests at once: each locks and re-reads the row, so neither writes back the other's old value."""
    user = User.objects.select_for_update().get(pk=user.pk)
    if font_step in {"+1", "-1"}:
        position = min(range(len(FONT_SCALES)), key=lambda i: abs(FONT_SCALES[i] - user.font_scale))
        position = max(0, min(len(FONT_SCALES) - 1, position + int(font_step)))
        user.font_scale = FONT_SCALES[position]
    if high_contrast in {"0", "1"}:
        user.high_contrast = high_contrast == "1"
    if read_aloud in {"0", "1"}:
        user.read_aloud = read_aloud == "1"
    user.save(update_fields=["font_scale", "high_contrast", "read_aloud"])
    return user


def token_expired(token: Token) -> bool:
    return token.created < timezone.now() - settings.API_TOKEN_TTL


@transaction.atomic
def api_token_issue(*, user: User) -> Token:
    """The user's API token; an expired one is replaced by a new key."""
    token, created = Token.objects.get_or_create(user=user)
    if not created and token_expired(token):
        token.delete()
        token = Token.objects.create(user=user)
    return token


def api_tokens_revoke(*, user: User) -> None:
    """Logging out ends the user's API access too."""
    Token.objects.filter(user=user).delete()
