from celery import shared_task
from django.conf import settings

from inference.client import LLMUnavailable

from .authored_store import AuthoringRun, authored_puzzles_write
from .prefill import llm_context_prefill, llm_context_purge
from .reworded_store import reworded_lines_write
from .selectors import authoring_wanted


@shared_task(
    bind=True, autoretry_for=(LLMUnavailable,), retry_backoff=5, retry_backoff_max=300, max_retries=5,
    acks_late=True,
)  # fmt: skip
def prefill(self, participant_id: int) -> str:
    outcome = llm_context_prefill(participant_id=participant_id)
    if outcome == "ready":  # the protocol names a model: its fixed lines, and its puzzles if it pins them
        author_puzzles.delay(participant_id)  # over the prefix just cached: the server serves it from its KV cache
    return outcome


@shared_task(
    bind=True, autoretry_for=(LLMUnavailable,), retry_backoff=30, retry_backoff_max=600, max_retries=3,
    acks_late=True,
)  # fmt: skip
def author_puzzles(self, participant_id: int) -> dict:
    """The rewordings of the chat's fixed lines for one participant and, when their protocol pins it, the
    `llm-authored` group's puzzles, written ahead of any session and verified. Runs on whatever queue the settings route
    `chat.tasks.author_puzzles` to (the LLM queue, not imports')."""
    lines = reworded_lines_write(participant_id=participant_id)  # first: a handful of short replies
    wanted = authoring_wanted(participant_id=participant_id)  # the protocol pins the llm-authored group
    run = authored_puzzles_write(participant_id=participant_id) if wanted else AuthoringRun()
    return {"candidates": run.candidates, "accepted": run.accepted, "rejected": run.rejected,
            "lines_accepted": lines.accepted, "lines_rejected": lines.rejected}  # fmt: skip


@shared_task(
    bind=True, autoretry_for=(LLMUnavailable,), retry_backoff=5, retry_backoff_max=300, max_retries=10,
    acks_late=True,
)  # fmt: skip
def llm_purge(self, participant_id: int) -> int | None:
    purged = llm_context_purge(participant_id=participant_id)
    if settings.LLM_PREFILL_ENABLED:  # after the purge, so the new prefix is not purged with the old
        prefill.delay(participant_id)  # skipped for a withdrawn participant
    return purged
