"""A participant's shared LLM context: [system prompt][life log] — the prefix every turn and session reuses."""

from django.conf import settings

from inference.prompt import estimate_tokens, prefix_messages, serialize_life_log
from inference.routing import llm_base_url_for
from lifelog.models import LifeLogEntry
from research.models import Participant

SYSTEM_PROMPT = (
    "You are ReMe, a kind companion who helps an older adult practise remembering their own life. "
    "You will be given a DRAFT message. Rewrite it in warm, plain language, in at most three short sentences. "
    "Say only what the DRAFT says: never add names, places, dates or numbers, and never give away an answer "
    "the DRAFT does not give."
)


def life_log_budget_tokens() -> int:
    """What the life log may use of the model's context, after the system prompt, the turn and the reply."""
    reserve = estimate_tokens(SYSTEM_PROMPT) + settings.LLM_TURN_RESERVE_TOKENS
    return max(0, settings.LLM_CONTEXT_TOKENS - reserve)


def participant_prefix(participant: Participant | int) -> list[dict]:
    participant_id = participant if isinstance(participant, int) else participant.pk
    entries = LifeLogEntry.objects.filter(participant_id=participant_id, excluded=False)
    return prefix_messages(SYSTEM_PROMPT, serialize_life_log(entries, budget_tokens=life_log_budget_tokens()))


def participant_llm_url(participant_id: int) -> str:
    """The replica that holds this participant's context (LLM_BASE_URL may list several)."""
    return llm_base_url_for(str(participant_id), settings.LLM_BASE_URL)


def participant_llm_model(participant_id: int) -> str:
    """The model the participant's protocol pins ("" for templates only), else the server default."""
    participant = Participant.objects.select_related("protocol_version").get(pk=participant_id)
    protocol = participant.protocol_version
    return protocol.model_name if protocol else settings.LLM_MODEL
