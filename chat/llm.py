"""Where the chat meets the LLM server: one client per process, built from settings, and the replica
that holds each participant's context. The `inference` package takes its settings from here."""

from django.conf import settings

from inference.client import ClientSettings, LLMClient
from inference.routing import llm_base_url_for

_clients: dict[ClientSettings, LLMClient] = {}


def llm_client(timeout_s: float | None = None) -> LLMClient:
    """The process's client (its circuit breaker is per process). Changed settings, as in tests, get a new one.
    `timeout_s`: for work nobody waits on (authoring ahead of time), a longer limit than a live turn's."""
    config = ClientSettings(
        base_url=settings.LLM_BASE_URL.split(",")[0].strip(),
        model=settings.LLM_MODEL,
        api_key=settings.LLM_API_KEY,
        timeout_s=timeout_s or settings.LLM_TIMEOUT_S,
        retries=settings.LLM_RETRIES,
        retry_base_s=settings.LLM_RETRY_BASE_S,
        breaker_failures=settings.LLM_BREAKER_FAILURES,
        breaker_cooldown_s=settings.LLM_BREAKER_COOLDOWN_S,
    )
    client = _clients.get(config)
    if client is None:
        client = _clients.setdefault(config, LLMClient(config))
    return client


def participant_llm_url(participant_id: int) -> str:
    """The replica that holds this participant's context (LLM_BASE_URL may list several)."""
    return llm_base_url_for(str(participant_id), settings.LLM_BASE_URL)


def llm_context_tokens(participant_id: int) -> int:
    """The context a participant's prompts may fill: LLM_CONTEXT_TOKENS, but never more than the model on
    the participant's replica holds (its /v1/models says; the client caches the answer)."""
    configured = settings.LLM_CONTEXT_TOKENS
    if not settings.LLM_BASE_URL:
        return configured
    served = llm_client().context_tokens(base_url=participant_llm_url(participant_id))
    return min(configured, served) if served else configured


def authoring_lock_key(participant_id: int) -> str:
    """Held (in the cache) while the LLM worker writes a participant's puzzles and rewordings."""
    return f"llm-authoring-lock-{participant_id}"


def llm_user(participant_id: int) -> str:
    """The `user` our requests carry for a participant: the LLM server files their cached prefixes under it,
    so a withdrawal can purge them (`chat.tasks.llm_purge`). An opaque id, no name or code."""
    return f"participant-{participant_id}"
