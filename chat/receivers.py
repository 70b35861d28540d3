"""How the chat reacts to the layers below it: life-log changes, withdrawals, protocol pins and logins."""

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.db.models.signals import post_delete
from django.dispatch import receiver

from lifelog.signals import life_log_changed, life_log_erasing
from studies.models import Participant
from studies.signals import participant_withdrawn, protocol_pins_check

from .authored_store import authored_puzzles_forget_withdrawn
from .consumers import auth_session_group
from .prefill import llm_context_mark_stale, prefill_soon, purge_soon
from .selectors import puzzle_pins_unknown, trainee_participant_id
from .services import participant_chat_end, participant_chat_erase, puzzles_close_withdrawn


@receiver(life_log_changed)
def life_log_changed_prefill(sender, participant_id: int, withdrawn: bool = False, **kwargs) -> None:
    puzzles_close_withdrawn(participant_id=participant_id)
    llm_context_mark_stale(participant_id=participant_id)
    authored_puzzles_forget_withdrawn(participant_id=participant_id)
    if withdrawn:  # the server forgets the prefixes that held the entry, then the new one is prefilled
        purge_soon(participant_id)
    else:
        prefill_soon(participant_id)


@receiver(user_logged_in)
def trainee_logged_in_prefill(sender, user, **kwargs) -> None:
    participant_id = trainee_participant_id(user=user)
    if participant_id:
        prefill_soon(participant_id)


@receiver(participant_withdrawn)
def end_sessions_on_withdrawal(sender, participant_id: int, erase: bool, now, **kwargs) -> None:
    participant_chat_end(participant_id=participant_id, now=now)
    purge_soon(participant_id)
    if erase:
        participant_chat_erase(participant_id=participant_id)


@receiver(post_delete, sender=Participant)
def purge_on_participant_deletion(sender, instance: Participant, **kwargs) -> None:
    """A participant deleted outside a withdrawal (the admin, a script, a cascade from above): the LLM server
    forgets their cached prefixes in every tier, as on withdrawal, once the deletion commits."""
    purge_soon(instance.pk)


@receiver(life_log_erasing)
def erase_sessions_with_the_life_log(sender, participant_id: int, **kwargs) -> None:
    participant_chat_erase(participant_id=participant_id)  # puzzles and trial records refer to the entries


@receiver(protocol_pins_check)
def unknown_puzzle_groups(sender, pins: list[dict], **kwargs) -> list[dict]:
    return puzzle_pins_unknown(pins=pins)


@receiver(user_logged_out)
def close_sockets_on_logout(sender, request, user, **kwargs) -> None:
    """Chat sockets opened by this login session are closed: a logged-out browser cannot act through them."""
    session_key = getattr(getattr(request, "session", None), "session_key", None)
    if session_key:
        async_to_sync(get_channel_layer().group_send)(auth_session_group(session_key), {"type": "session.ended"})
