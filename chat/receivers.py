"""How the chat reacts to the layers below it: life-log changes, withdrawals, protocol pins and logins."""

from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver

from lifelog.signals import life_log_changed, life_log_erasing
from studies.signals import participant_withdrawn, protocol_pins_check

from .authored_store import authored_puzzles_forget_withdrawn
from .prefill import llm_context_mark_stale, prefill_soon
from .selectors import puzzle_pins_unknown, trainee_participant_id
from .services import participant_chat_end, participant_chat_erase


@receiver(life_log_changed)
def life_log_changed_prefill(sender, participant_id: int, **kwargs) -> None:
    llm_context_mark_stale(participant_id=participant_id)
    authored_puzzles_forget_withdrawn(participant_id=participant_id)
    prefill_soon(participant_id)


@receiver(user_logged_in)
def trainee_logged_in_prefill(sender, user, **kwargs) -> None:
    participant_id = trainee_participant_id(user=user)
    if participant_id:
        prefill_soon(participant_id)


@receiver(participant_withdrawn)
def end_sessions_on_withdrawal(sender, participant_id: int, erase: bool, now, **kwargs) -> None:
    participant_chat_end(participant_id=participant_id, now=now)
    if erase:
        participant_chat_erase(participant_id=participant_id)


@receiver(life_log_erasing)
def erase_sessions_with_the_life_log(sender, participant_id: int, **kwargs) -> None:
    participant_chat_erase(participant_id=participant_id)  # puzzles and trial records refer to the entries


@receiver(protocol_pins_check)
def unknown_puzzle_groups(sender, pins: list[dict], **kwargs) -> list[dict]:
    return puzzle_pins_unknown(pins=pins)
