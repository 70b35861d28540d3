import secrets

from django.conf import settings
from django.db import models

# Unambiguous characters only: codes are read aloud and typed by people.
PUBLIC_CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"


def new_public_code() -> str:
    return "P-" + "".join(secrets.choice(PUBLIC_CODE_ALPHABET) for _ in range(8))


class Study(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(unique=True)
    description = models.TextField(blank=True)
    researchers = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="studies", blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "studies"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Participant(models.Model):
    """A trainee inside one study, known everywhere by a pseudonymous public code."""

    study = models.ForeignKey(Study, on_delete=models.PROTECT, related_name="participants")
    public_code = models.CharField(max_length=16, unique=True, default=new_public_code, editable=False)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="participant"
    )
    timezone = models.CharField(max_length=64, default="UTC", help_text="Used for dates given without a zone.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["public_code"]

    def __str__(self) -> str:
        return self.public_code


class ParticipantIdentity(models.Model):
    """Identifying details, in their own table so exports and APIs never join them by accident."""

    participant = models.OneToOneField(Participant, on_delete=models.CASCADE, related_name="identity")
    full_name = models.CharField(max_length=200, blank=True)
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=40, blank=True)
    notes = models.TextField(blank=True)

    class Meta:
        verbose_name_plural = "participant identities"

    def __str__(self) -> str:
        return f"identity of {self.participant.public_code}"
