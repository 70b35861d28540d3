"""A participant's shared LLM context: [system prompt][life log] — the prefix every turn and session reuses.

Built once per change of the life log, not per message: the built prefix is cached under a version that
`prefix_forget` replaces whenever the life log changes, so a reader racing a change can only fill a
version nobody reads again."""

import uuid

from django.conf import settings
from django.core.cache import cache

from inference.prompt import estimate_tokens, prefix_messages, serialize_life_log

from .authoring import GUIDE as AUTHORING_GUIDE

SYSTEM_PROMPT = (
    "You are ReMe, a kind companion who helps an older adult practise remembering their own life. "
    "You will be given a DRAFT message. Rewrite it in warm, plain language, in at most three short sentences. "
    "Say only what the DRAFT says: never add names, places, dates or numbers, and never give away an answer "
    "the DRAFT does not give."
)
# Authoring's rules, which every candidate request shares, sit in the shared prefix; each kind's worked examples
# travel in the request's own suffix, next to it (chat.authoring.suffix).
SYSTEM_PROMPT += "\n\n" + AUTHORING_GUIDE
PREFIX_CACHE_SECONDS = 24 * 3600


def life_log_budget_tokens(context_tokens: int | None = None) -> int:
    """What the life log may use of the model's context (`context_tokens`, else LLM_CONTEXT_TOKENS), after
    the system prompt, the turn and the reply."""
    frame = prefix_messages(SYSTEM_PROMPT, "")[0]["content"]  # the system prompt, the data notice, the markers
    reserve = estimate_tokens(frame) + settings.LLM_TURN_RESERVE_TOKENS
    return max(0, (context_tokens or settings.LLM_CONTEXT_TOKENS) - reserve)


def prefix_build(entries, context_tokens: int | None = None, life_log_tokens: int | None = None) -> list[dict]:
    """[system prompt][the most recent entries that fit]: the model's context, or `life_log_tokens` of life log
    when that is less (the short context prepared first)."""
    budget = life_log_budget_tokens(context_tokens)
    if life_log_tokens is not None:
        budget = min(budget, life_log_tokens)
    return prefix_messages(SYSTEM_PROMPT, serialize_life_log(entries, budget_tokens=budget))


def _version_key(participant_id: int) -> str:
    return f"llm-prefix-version-{participant_id}"


def prefix_cached(participant_id: int, build, context_tokens: int | None = None,
                  life_log_tokens: int | None = None) -> list[dict]:  # fmt: skip
    """The participant's prefix from the cache, or `build()` stored there. A server with another context
    length (a restart with a new LLM_SERVER_N_CTX, another model) gets a prefix built for it; the short
    context (`life_log_tokens`) is cached beside the whole one."""
    version = cache.get(_version_key(participant_id))
    if version is None:
        cache.add(_version_key(participant_id), uuid.uuid4().hex, PREFIX_CACHE_SECONDS)
        version = cache.get(_version_key(participant_id))
    key = f"llm-prefix-{participant_id}-{version}-{context_tokens or 0}-{life_log_tokens or 'all'}"
    prefix = cache.get(key)
    if prefix is None:
        prefix = build()
        cache.set(key, prefix, PREFIX_CACHE_SECONDS)
    return prefix


def prefix_forget(participant_id: int) -> None:
    """The life log changed: the next reader builds the prefix again."""
    cache.set(_version_key(participant_id), uuid.uuid4().hex, PREFIX_CACHE_SECONDS)
