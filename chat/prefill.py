"""Preparing a participant's LLM context ahead of a session: the prefix is sent once (max_tokens=1) so the
server's prefix cache (vLLM's automatic prefix caching, SGLang's radix cache, our KV store) holds it.

State lives in `LLMContext` (stale / preparing / ready / failed / too long) and is shown to trainee and
researcher. Idempotent (a ready context with the same prefix hash is not sent again) and deduplicated (one
prefill per participant at a time, by a Redis lock). A prefix the model's context cannot hold is a state of
its own, never retried: the same prefix would never fit.
"""

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from inference.client import ContextTooLong, LLMUnavailable
from inference.prompt import estimate_tokens, prefix_sha256

from .context import prefix_forget
from .llm import llm_client, llm_context_tokens, llm_user, participant_llm_url
from .models import LLMContext
from .selectors import llm_prefix_get, participant_llm_model

PING = {"role": "user", "content": "Reply with OK."}


def lock_key(participant_id: int) -> str:
    return f"llm-prefill-lock-{participant_id}"


def llm_context_mark_stale(*, participant_id: int) -> None:
    prefix_forget(participant_id)
    LLMContext.objects.update_or_create(participant_id=participant_id, defaults={"state": LLMContext.State.STALE})


def llm_context_prefill(*, participant_id: int) -> str:
    """Send the prefix if it is not ready yet. Returns what happened: skipped, busy, ready, too_long; raises
    LLMUnavailable (the task retries) for anything else."""
    if not settings.LLM_BASE_URL:
        return "skipped"
    model = participant_llm_model(participant_id)
    if not model:  # the participant's protocol uses templates only
        return "skipped"
    if not cache.add(lock_key(participant_id), 1, settings.LLM_PREFILL_TIMEOUT_S + 60):
        return "busy"
    try:
        messages = llm_prefix_get(participant_id)
        digest = prefix_sha256(messages)
        context, _ = LLMContext.objects.get_or_create(participant_id=participant_id)
        if context.state == LLMContext.State.READY and context.prefix_sha256 == digest:
            return "ready"
        if context.state == LLMContext.State.TOO_LONG and context.prefix_sha256 == digest:
            return "too_long"
        # Until the server counts them: the platform's estimate, so the dashboard can say how much is being read.
        context.prefix_tokens = sum(estimate_tokens(message["content"]) for message in messages)
        context.context_tokens = llm_context_tokens(participant_id)
        _set(context, LLMContext.State.PREPARING, digest)
        try:
            reply = llm_client().completion(
                [*messages, PING],
                max_tokens=1,
                base_url=participant_llm_url(participant_id),
                model=model,
                timeout_s=settings.LLM_PREFILL_TIMEOUT_S,
                user=llm_user(participant_id),
            )
        except ContextTooLong as error:
            context.prefix_tokens = error.prompt_tokens
            context.context_tokens = error.context_tokens or llm_context_tokens(participant_id)
            message = "too long for the model's context" + (
                f": {context.prefix_tokens:,} of {context.context_tokens:,} tokens" if context.prefix_tokens else ""
            )
            _set(context, LLMContext.State.TOO_LONG, digest, error=message)
            return "too_long"
        except LLMUnavailable as error:
            _set(context, LLMContext.State.FAILED, digest, error=str(error))
            raise
        context.prefix_tokens, context.context_tokens = reply.prompt_tokens, llm_context_tokens(participant_id)
        _set(context, LLMContext.State.READY, digest)
        return "ready"
    finally:
        cache.delete(lock_key(participant_id))


def _set(context: LLMContext, state: str, digest: str, error: str = "") -> None:
    context.state, context.prefix_sha256, context.error = state, digest, error[:2000]
    context.updated_at = timezone.now()
    context.save(update_fields=["state", "prefix_sha256", "error", "prefix_tokens", "context_tokens", "updated_at"])


def prefill_soon(participant_id: int) -> None:
    """Queue a prefill once the current transaction commits (no-op without an LLM server)."""
    if settings.LLM_BASE_URL and settings.LLM_PREFILL_ENABLED:
        from .tasks import prefill

        transaction.on_commit(lambda: prefill.delay(participant_id))


def llm_context_purge(*, participant_id: int) -> int | None:
    """Make the LLM server forget the participant's cached prefixes (every tier, disk included): after they
    withdrew an entry or themselves. Raises LLMUnavailable (the task retries)."""
    if not settings.LLM_BASE_URL:
        return None
    return llm_client().purge(llm_user(participant_id), base_url=participant_llm_url(participant_id))


def purge_soon(participant_id: int) -> None:
    """Queue the purge once the current transaction commits (no-op without an LLM server)."""
    if settings.LLM_BASE_URL:
        from .tasks import llm_purge

        transaction.on_commit(lambda: llm_purge.delay(participant_id))
