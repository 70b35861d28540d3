from celery import shared_task

from inference.client import LLMUnavailable

from .prefill import llm_context_prefill


@shared_task(
    bind=True, autoretry_for=(LLMUnavailable,), retry_backoff=5, retry_backoff_max=300, max_retries=5,
    acks_late=True,
)  # fmt: skip
def prefill(self, participant_id: int) -> str:
    return llm_context_prefill(participant_id=participant_id)
