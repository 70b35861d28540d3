"""Sent after a participant's life log changed (import committed, entry withdrawn or restored), so that
apps above this one (the chat's LLM context) can react without lifelog importing them."""

from django.dispatch import Signal

life_log_changed = Signal()  # sender=LifeLogEntry, participant_id=<int>
