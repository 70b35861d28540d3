"""Preparing a participant's LLM context ahead of a session: the prefix is sent once (one token generated) so
the server's prefix cache (vLLM's automatic prefix caching, SGLang's radix cache, our KV store) holds it.

In two stages when the life log is long: first a short context of the most recent entries (seconds to read, so
the LLM's first work can start within minutes), then the whole life log (minutes on a CPU, tens of minutes on a
busy one). No fixed deadline: a preparation waits as long as the server reports progress (`LLMClient.prefill`),
and the researcher's page shows how far it has read.

State lives in `LLMContext` (stale / preparing / ready / failed / too long, and whether the short context is
held) and is shown to trainee and researcher. Idempotent (a context already held is not sent again) and
deduplicated (one preparation per participant at a time, by a Redis lock that each progress report renews). A
prefix the model's context cannot hold is a state of its own, never retried: the same prefix would never fit.
"""

import time

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from inference.client import Completion, ContextTooLong, LLMUnavailable
from inference.prompt import estimate_tokens, prefix_entry_ids, prefix_sha256

from .context import prefix_forget
from .llm import llm_client, llm_context_tokens, llm_user, participant_llm_url
from .models import LLMContext
from .selectors import llm_prefix_get, llm_prefix_recent, participant_llm_model

# After the prefix, so the server saves its state where the prefix ends: what every later request shares.
PING = {"role": "user", "content": "Reply with OK."}
PROGRESS_WRITE_S = 5.0  # the researcher's page hears the progress at most this often (one UPDATE each)


def lock_key(participant_id: int) -> str:
    return f"llm-prefill-lock-{participant_id}"


def _lock_seconds() -> float:
    """A preparation holds its lock while the server reports progress; a worker that died frees it after this."""
    return settings.LLM_PREFILL_STALL_S + 60


def llm_context_mark_stale(*, participant_id: int) -> None:
    prefix_forget(participant_id)
    LLMContext.objects.update_or_create(participant_id=participant_id, defaults={"state": LLMContext.State.STALE})


def llm_context_prefill_recent(*, participant_id: int) -> str:
    """The short context first, while the whole life log is not held yet. Returns skipped (no LLM, no short
    context, or the whole one is held already), busy, ready or too_long (then the whole one says so); raises
    LLMUnavailable (the task retries)."""
    model = participant_llm_model(participant_id) if settings.LLM_BASE_URL else ""
    recent = llm_prefix_recent(participant_id) if model else None
    if recent is None:
        return "skipped"
    whole_digest, digest = prefix_sha256(llm_prefix_get(participant_id)), prefix_sha256(recent)
    context, _ = LLMContext.objects.get_or_create(participant_id=participant_id)
    if context.state == LLMContext.State.READY and context.prefix_sha256 == whole_digest:
        return "skipped"
    if context.recent_sha256 == digest:
        return "ready"
    if not cache.add(lock_key(participant_id), 1, _lock_seconds()):
        return "busy"
    try:
        _begin(context, whole_digest, llm_prefix_get(participant_id), participant_id)
        try:
            reply = _send(participant_id, model, recent, on_progress=_renew_lock(participant_id))
        except ContextTooLong:
            return "too_long"  # the whole life log cannot fit either: its own preparation records the numbers
        except LLMUnavailable as error:
            _set(context, LLMContext.State.FAILED, whole_digest, error=str(error))
            raise
        LLMContext.objects.filter(pk=context.pk).update(
            recent_sha256=digest, recent_tokens=reply.prompt_tokens, recent_entries=len(prefix_entry_ids(recent))
        )  # fmt: skip
        return "ready"
    finally:
        cache.delete(lock_key(participant_id))


def llm_context_prefill(*, participant_id: int) -> str:
    """Send the whole prefix if it is not held yet. Returns what happened: skipped, busy, ready, too_long; raises
    LLMUnavailable (the task retries) for anything else, e.g. no progress for LLM_PREFILL_STALL_S."""
    if not settings.LLM_BASE_URL:
        return "skipped"
    model = participant_llm_model(participant_id)
    if not model:  # the participant's protocol uses templates only
        return "skipped"
    if not cache.add(lock_key(participant_id), 1, _lock_seconds()):
        return "busy"
    try:
        messages = llm_prefix_get(participant_id)
        digest = prefix_sha256(messages)
        context, _ = LLMContext.objects.get_or_create(participant_id=participant_id)
        if context.state == LLMContext.State.READY and context.prefix_sha256 == digest:
            return "ready"
        if context.state == LLMContext.State.TOO_LONG and context.prefix_sha256 == digest:
            return "too_long"
        _begin(context, digest, messages, participant_id)
        try:
            reply = _send(participant_id, model, messages, on_progress=_progress_recorder(context, participant_id))
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
        context.prefix_tokens = reply.prompt_tokens or context.prefix_tokens
        context.context_tokens, context.read_tokens = llm_context_tokens(participant_id), context.prefix_tokens
        _set(context, LLMContext.State.READY, digest)
        return "ready"
    finally:
        cache.delete(lock_key(participant_id))


def _begin(context: LLMContext, digest: str, messages: list[dict], participant_id: int) -> None:
    """Being prepared, from now (each stage: the page's pace is the whole life log's own). Until the server counts
    them: the platform's estimate of the whole prefix, so the researcher's page can say how much is being read."""
    context.prefix_tokens = sum(estimate_tokens(message["content"]) for message in messages)
    context.context_tokens, context.read_tokens = llm_context_tokens(participant_id), 0
    _set(context, LLMContext.State.PREPARING, digest)


def _send(participant_id: int, model: str, messages: list[dict], on_progress) -> Completion:
    return llm_client().prefill(
        [*messages, PING], stall_s=settings.LLM_PREFILL_STALL_S, base_url=participant_llm_url(participant_id),
        model=model, user=llm_user(participant_id), on_progress=on_progress,
    )  # fmt: skip


def _renew_lock(participant_id: int):
    def heard(read: int, total: int) -> None:
        cache.touch(lock_key(participant_id), _lock_seconds())

    return heard


def _progress_recorder(context: LLMContext, participant_id: int):
    """Each progress report renews the lock; every PROGRESS_WRITE_S, and at the end, the page hears how many
    tokens the server has read of how many (its own count replaces the estimate)."""
    renew, last = _renew_lock(participant_id), [0.0]

    def heard(read: int, total: int) -> None:
        renew(read, total)
        context.read_tokens, context.prefix_tokens = read, total  # the server's count, if its reply has no usage
        now = time.monotonic()
        if now - last[0] >= PROGRESS_WRITE_S or read >= total:
            last[0] = now
            LLMContext.objects.filter(pk=context.pk).update(read_tokens=read, prefix_tokens=total)  # keeps `since`

    return heard


def _set(context: LLMContext, state: str, digest: str, error: str = "") -> None:
    context.state, context.prefix_sha256, context.error = state, digest, error[:2000]
    context.updated_at = timezone.now()
    context.save(update_fields=["state", "prefix_sha256", "error", "prefix_tokens", "context_tokens", "read_tokens",
                                "updated_at"])  # fmt: skip


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
