from celery import shared_task
from django.conf import settings

from inference.client import LLMUnavailable

from . import fixed_lines
from .authored_store import AuthoringRun, authored_puzzles_write
from .prefill import llm_context_prefill, llm_context_prefill_recent, llm_context_purge
from .reworded_store import reworded_lines_write
from .selectors import authoring_wanted

FIRST_LINES = [fixed_lines.GREETING.key]  # the line every session opens with
FIRST_CANDIDATES = 3  # candidates tried for a first accepted puzzle before the other fixed lines


@shared_task(
    bind=True, autoretry_for=(LLMUnavailable,), retry_backoff=5, retry_backoff_max=300, max_retries=5,
    acks_late=True,
)  # fmt: skip
def prefill(self, participant_id: int) -> str:
    """The participant's context, in the order a first session needs it: when the life log is long, first a
    short context of the most recent entries and the LLM's first work over it (the greeting's rewording, the
    first puzzles: minutes, not the whole life log's tens of minutes), then the whole life log and the rest of
    the work over it. One task, so nothing queued behind it (a login's prefill) can put the whole life log first."""
    if llm_context_prefill_recent(participant_id=participant_id) == "ready":
        author_in_order(participant_id, total=settings.LLM_WARM_CANDIDATES)  # tops up only, on a retry
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
    return author_in_order(participant_id, total=settings.LLM_AUTHORING_CANDIDATES)


def author_in_order(participant_id: int, *, total: int) -> dict:
    """The LLM's work over the participant's active prefix (the whole life log, or the short context while that
    is not held), ordered so that a first session shows LLM text as early as it can: the greeting's rewording
    (every session opens with it), then candidates until one puzzle is accepted (at most FIRST_CANDIDATES), then
    the other fixed lines, then the rest of the candidates: `total` per prefix in all. Each step skips what was
    already tried on this prefix, so a task queued again (at each login, at session start) only tops up."""
    wanted = authoring_wanted(participant_id=participant_id)  # the protocol pins the llm-authored group
    lines = reworded_lines_write(participant_id=participant_id, keys=FIRST_LINES)
    first = (authored_puzzles_write(participant_id=participant_id, limit=FIRST_CANDIDATES, enough=1,
                                    per_prefix=total) if wanted else AuthoringRun())  # fmt: skip
    more_lines = reworded_lines_write(participant_id=participant_id)  # the greeting is skipped: tried above
    rest = (authored_puzzles_write(participant_id=participant_id, limit=total, per_prefix=total)
            if wanted else AuthoringRun())  # fmt: skip
    return {"candidates": first.candidates + rest.candidates, "accepted": first.accepted + rest.accepted,
            "rejected": first.rejected + rest.rejected, "lines_accepted": lines.accepted + more_lines.accepted,
            "lines_rejected": lines.rejected + more_lines.rejected}  # fmt: skip


@shared_task(
    bind=True, autoretry_for=(LLMUnavailable,), retry_backoff=5, retry_backoff_max=300, max_retries=10,
    acks_late=True,
)  # fmt: skip
def llm_purge(self, participant_id: int) -> int | None:
    purged = llm_context_purge(participant_id=participant_id)
    if settings.LLM_PREFILL_ENABLED:  # after the purge, so the new prefix is not purged with the old
        prefill.delay(participant_id)  # skipped for a withdrawn participant
    return purged
