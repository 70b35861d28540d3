"""How the life log reacts to the studies layer below it."""

from django.db import transaction
from django.dispatch import receiver

from studies.signals import participant_withdrawn

from .models import ImportJob, LifeLogEntry
from .services import participant_imports_stop
from .signals import life_log_erasing


@receiver(participant_withdrawn)
def erase_life_log_on_withdrawal(sender, participant_id: int, erase: bool, **kwargs) -> None:
    if not erase:
        participant_imports_stop(participant_id=participant_id)
        return
    life_log_erasing.send(sender=LifeLogEntry, participant_id=participant_id)
    entries = LifeLogEntry.objects.filter(participant_id=participant_id)
    jobs = ImportJob.objects.filter(participant_id=participant_id)
    files = [job.file for job in jobs] + [entry.photo for entry in entries.exclude(photo="")]
    entries.delete()
    jobs.delete()
    transaction.on_commit(lambda: [stored.delete(save=False) for stored in files])
