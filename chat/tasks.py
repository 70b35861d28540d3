from celery import shared_task
from django.conf import settings

from inference.client import LLMUnavailable

from .prefill import llm_context_prefill, llm_context_purge


@shared_task(
    bind=True, autoretry_for=(LLMUnavailable,), retry_backoff=5, retry_backoff_max=300, max_retries=5,
    acks_late=True,
)  # fmt: skip
def prefill(self, participant_id: int) -> str:
    return llm_context_prefill(participant_id=participant_id)


@shared_task(
    bind=True, autoretry_for=(LLMUnavailable,), retry_backoff=5, retry_backoff_max=300, max_retries=10,
    acks_late=True,
)  # fmt: skip
def llm_purge(self, participant_id: int) -> int | None:
    purged = llm_context_purge(participant_id=participant_id)
    if settings.LLM_PREFILL_ENABLED:  # after the purge, so the new prefix is not purged with the old
        prefill.delay(participant_id)  # skipped for a withdrawn participant
    return purged
