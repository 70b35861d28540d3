from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    """A login. The role decides which side of the platform the person sees."""

    class Role(models.TextChoices):
        TRAINEE = "trainee", "Trainee"
        RESEARCHER = "researcher", "Researcher"

    role = models.CharField(max_length=16, choices=Role.choices, default=Role.TRAINEE)
    # Display preferences follow the person to any device they log in from.
    font_scale = models.PositiveSmallIntegerField(default=100, help_text="Text size in percent (100-200).")
    high_contrast = models.BooleanField(default=False)
    read_aloud = models.BooleanField(default=False, help_text="Read each new chat message aloud (in the browser).")

    @property
    def is_researcher(self) -> bool:
        return self.role == self.Role.RESEARCHER

    @property
    def is_trainee(self) -> bool:
        return self.role == self.Role.TRAINEE
