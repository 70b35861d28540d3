"""When to prepare a participant's LLM context: after their life log changes, and when they log in."""

from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver

from lifelog.signals import life_log_changed
from research.models import Participant

from .prefill import llm_context_mark_stale, prefill_soon


@receiver(life_log_changed)
def life_log_changed_prefill(sender, participant_id: int, **kwargs) -> None:
    llm_context_mark_stale(participant_id=participant_id)
    prefill_soon(participant_id)


@receiver(user_logged_in)
def trainee_logged_in_prefill(sender, user, **kwargs) -> None:
    participant_id = Participant.objects.filter(user=user).values_list("pk", flat=True).first()
    if participant_id and user.is_trainee:
        prefill_soon(participant_id)
