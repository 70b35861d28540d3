"""Notifications for the apps above this one, so that studies never imports them.

- `participant_withdrawn` (sender=Participant, participant_id, erase): sent inside the withdrawal's
  transaction. Every app stops its work for the participant, and with `erase` deletes what it holds of
  them; a failing receiver rolls the whole withdrawal back.
- `protocol_pins_check` (sender=ProtocolVersion, pins): receivers return the pins (`{"key", "version"}`)
  that name no puzzle group they know, so a protocol can never pin a group that does not exist.
"""

from django.dispatch import Signal

participant_withdrawn = Signal()
protocol_pins_check = Signal()
