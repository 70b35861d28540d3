"""Notifications for the apps above this one, so that lifelog never imports them.

- `life_log_changed` (sender=LifeLogEntry, participant_id, withdrawn): after an import committed or an entry
  was withdrawn or restored (the chat's LLM context is rebuilt); `withdrawn` when an entry was withdrawn (what
  held it is purged, e.g. the LLM server's cached prefixes).
- `life_log_erasing` (sender=LifeLogEntry, participant_id): inside a transaction, just before every entry
  of a participant is deleted; whatever refers to those entries must be gone when the receivers return.
"""

from django.dispatch import Signal

life_log_changed = Signal()
life_log_erasing = Signal()
